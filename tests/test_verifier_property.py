"""Verifier-proof lowering (issue 15 item 4): the shapes the verifier once refused, and
random well-typed bodies (tests/dsl_gen.py) built and loaded through the real verifier."""

from __future__ import annotations

import json

import pytest

from tests.conftest import BUILD_TARGET, ROOT, run_cli


@pytest.mark.kernel
@pytest.mark.compile
def test_guard_and_computed_offset_shapes_load_and_read_right():
    """A packet-len guard before a read, and load-u8/16/32 at computed (even unbounded)
    offsets: accepted by the verifier, and they read the right bytes or give the
    default verdict past the end (tests/fixtures/verifier_shapes.tlisp)."""
    from tests.kernel_util import require_kernel

    require_kernel()
    r = run_cli("test", str(ROOT / "tests/fixtures/verifier_shapes.tlisp"), "--target-dir",
                str(BUILD_TARGET), "--json")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    data = json.loads(r.stdout)
    assert (data["passed"], data["failed"]) == (6, 0)
