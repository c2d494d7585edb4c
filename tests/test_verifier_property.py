"""Verifier-proof lowering (issue 15 item 4): the shapes the verifier once refused, and
random well-typed bodies (tests/dsl_gen.py) built and loaded through the real verifier."""

from __future__ import annotations

import json
import os
import time

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
    assert (data["passed"], data["failed"]) == (11, 0)


def _write(tmp_path, gen) -> None:
    for name, text in gen.files.items():
        (tmp_path / name).write_text(text)


def test_generated_bodies_pass_check_and_use_every_form(tmp_path):
    """The generator writes only bodies `check` accepts, and every row of its table is
    used: a form added to tests/dsl_gen.py is exercised, a broken row is seen here."""
    from tests import dsl_gen

    gen = dsl_gen.project_files(seed=7, count=240, per_policy=120)
    _write(tmp_path, gen)
    r = run_cli("check", str(tmp_path))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    unused = [f.name for f in dsl_gen.FORMS if not gen.used.get(f.name)]
    unused += [n for n in dsl_gen.EXTRA_COVERAGE if not gen.used.get(n)]
    assert not unused, f"forms never generated: {unused}"
    assert set(gen.programs.values()) == set(dsl_gen.KINDS)


def test_lowering_shapes_the_verifier_needs(spec):
    """What the kernel tests above depend on, visible in the generated Rust."""
    from tatara_build.lower.bpf_fn import cast
    from tests.test_bpf_fn import lower

    out = lower(spec, "(return (+ (load-u8 ctx (ip-ttl ctx)) (load-u16 ctx 12)))")
    assert "pkt.load_u8_var(t1)?" in out and "pkt.load_u16(12_u64)?" in out
    out = lower(spec, "(return (load-u32 ctx 65528))")
    assert "pkt.load_u32_var(65528_u64)?" in out  # past the verifier's fixed-offset bound
    out = lower(spec, "(if (map-has h 7) (return :xdp-drop) (return :xdp-pass))")
    assert "crate::rt::has(crate::maps::h.get_ptr(7_u32))" in out
    assert cast("4294967296_u64", "u64", "u32") == "4294967296_u64 as u32"
    assert cast("4294967295_u64", "u64", "u32") == "4294967295_u32"
    assert cast("2147483648_u64", "u64", "i32") == "2147483648_u64 as i32"
    out = lower(spec, '(do (call trace-printk "hi") (let ((x 1)) (set x x)) (return :xdp-pass))')
    assert 'bpf_printk!(c"hi",)' in out and "x = x;" not in out


BODIES = int(os.environ.get("TATARA_VERIFIER_BODIES", "600"))
SEED = int(os.environ.get("TATARA_VERIFIER_SEED", "20261122"))


@pytest.mark.kernel
@pytest.mark.compile
def test_random_well_typed_bodies_all_pass_the_verifier(tmp_path, capsys):
    """BODIES random bodies over every kind the kernel here loads (TATARA_VERIFIER_BODIES
    for a bigger run, TATARA_VERIFIER_SEED for another draw), 150 to a crate, each object
    loaded through the real verifier; the acceptance rate is printed and must be 100%."""
    from tests import dsl_gen
    from tests.conftest import build_cli
    from tests.kernel_util import require_kernel
    from tests.libbpf_load import load_all

    require_kernel()
    gen = dsl_gen.project_files(seed=SEED, count=BODIES, per_policy=150)
    src = tmp_path / "spec"
    src.mkdir()
    _write(src, gen)
    t0 = time.monotonic()
    r = build_cli([src], tmp_path / "out")
    t1 = time.monotonic()
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    accepted, refused = 0, {}
    for pol in gen.policies:
        ok, bad = load_all(tmp_path / "out" / "artifacts" / pol / f"{pol}.bpf.o")
        accepted += len(ok)
        refused.update(bad)
    t2 = time.monotonic()
    with capsys.disabled():
        print(f"\nverifier acceptance: {accepted}/{len(gen.programs)} = "
              f"{accepted / len(gen.programs):.2%} (seed {SEED}, {len(gen.policies)} crates, "
              f"build {t1 - t0:.1f}s, load {t2 - t1:.1f}s)")
    assert accepted + len(refused) == len(gen.programs)
    shown = [f"{name} ({gen.programs[name]}), body f{name[1:]} in {src}:\n"
             + "\n".join(log.splitlines()[-4:]) for name, log in list(refused.items())[:5]]
    assert not refused, "\n\n".join(shown)
