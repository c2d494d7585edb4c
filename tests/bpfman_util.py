"""Scaffolding for the bpfman kernel tests (test-only; nothing here ships).

bpfman 0.6 on this kind of machine needs three things the tests provide and undo:
an LD_PRELOAD shim for its RLIMIT_MEMLOCK raise (tests/fixtures/memlock_shim.c), a
/etc/bpfman/bpfman.toml that turns sigstore verification off (no network to fetch
its TUF root; our images are unsigned), and tracefs mounted for tracepoints.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tatara_build.errors import EnvironmentProblem
from tests.conftest import ROOT
from tests.kernel_util import require_kernel

CONFIG = Path("/etc/bpfman/bpfman.toml")
RUNDIR = Path("/run/bpfman")
SIGNING = "[signing]\nallow_unsigned = true\nverify_enabled = false\n"


def bpfman_binary() -> str:
    from tatara_build.runtime.bpfman_runtime import bpfman_path

    try:
        return bpfman_path()
    except EnvironmentProblem as exc:
        pytest.skip(exc.message)


def unload_app(binary: str, env: dict, app: str) -> None:
    """Unload whatever a test left under its bpfman application tag."""
    from tatara_build.runtime.bpfman_runtime import table

    out = subprocess.run([binary, "list", "programs", "--application", app], env=env,
                         capture_output=True, text=True).stdout
    for row in table(out):
        if row.get("Program ID", "").isdigit():
            subprocess.run([binary, "unload", row["Program ID"]], env=env, capture_output=True)


@pytest.fixture(scope="module")
def bpfman_env(tmp_path_factory):
    require_kernel()
    binary = bpfman_binary()
    tmp = tmp_path_factory.mktemp("bpfman")
    shim = tmp / "memlock_shim.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(shim),
                    str(ROOT / "tests" / "fixtures" / "memlock_shim.c"), "-ldl"], check=True)
    made_dir = not CONFIG.parent.exists()
    made_run = not RUNDIR.exists()  # bpfman's state (and a bpffs it mounts) in /run/bpfman
    old = CONFIG.read_text() if CONFIG.exists() else None
    mounted = False
    try:
        CONFIG.parent.mkdir(parents=True, exist_ok=True)
        CONFIG.write_text((old or "") + ("\n" + SIGNING if "verify_enabled" not in (old or "") else ""))
        if not Path("/sys/kernel/tracing/events").is_dir():
            subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"], check=True)
            mounted = True
        env = {**os.environ, "LD_PRELOAD": str(shim), "TATARA_BPFMAN": binary,
               "TATARA_STATE_DIR": str(tmp / "state")}
        yield env
    finally:
        if old is None:
            CONFIG.unlink(missing_ok=True)
            if made_dir:
                shutil.rmtree(CONFIG.parent, ignore_errors=True)
        else:
            CONFIG.write_text(old)
        if mounted:
            subprocess.run(["umount", "/sys/kernel/tracing"])
        if made_run:
            subprocess.run(["umount", str(RUNDIR / "fs")], capture_output=True)
            shutil.rmtree(RUNDIR, ignore_errors=True)
