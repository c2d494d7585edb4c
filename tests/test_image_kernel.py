"""Done-when path of issue 16 in the real kernel: spec -> build -> image -> local registry
-> pulled on a "host" with no spec sources -> applied -> status clean -> detached."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, build_cli
from tests.kernel_util import require_kernel
from tests.registry_util import registry  # noqa: F401 (fixture)

pytestmark = [pytest.mark.kernel, pytest.mark.compile]
COUNTER = ROOT / "examples" / "tracepoint-counter.tlisp"


@pytest.fixture
def host(tmp_path):
    """An empty folder with its own state dir and pin root; tracefs mounted if needed."""
    require_kernel()
    tag = f"{os.getpid()}"
    root = Path(f"/sys/fs/bpf/tatara-img-{tag}")
    mounted = False
    if not Path("/sys/kernel/tracing/events").is_dir():
        subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"], check=True)
        mounted = True
    d = tmp_path / "host"
    d.mkdir()
    env = {**os.environ, "TATARA_STATE_DIR": str(tmp_path / "state")}
    try:
        yield d, root, env
    finally:
        subprocess.run(["rm", "-rf", str(root)])
        if mounted:
            subprocess.run(["umount", "/sys/kernel/tracing"])


def cli(env, cwd, *args):
    return subprocess.run([sys.executable, "-m", "tatara_build", *args], capture_output=True,
                          text=True, env=env, cwd=cwd)


def test_build_image_registry_pull_apply_status_detach(registry, host, tmp_path):  # noqa: F811
    d, root, env = host
    ci = tmp_path / "ci"  # the build side has the sources
    assert build_cli([COUNTER], ci / "out").returncode == 0
    r = cli(env, tmp_path, "image", "build", "openat_counter", "--artifacts",
            str(ci / "out" / "artifacts"), "-o", str(ci / "image"), "--json")
    assert r.returncode == 0, r.stderr
    digest = json.loads(r.stdout)["digest"]
    ref = f"{registry.host}/policies/openat@{digest}"
    assert cli(env, tmp_path, "image", "push", str(ci / "image"),
               f"{registry.host}/policies/openat:v1").returncode == 0
    pin = ["--pin-root", str(root)]
    try:
        r = cli(env, d, "apply", "openat_counter", "--image", ref, *pin)
        assert r.returncode == 0, r.stderr
        assert "attach  count_openat  :tracepoint syscalls/sys_enter_openat" in r.stdout
        assert list(d.iterdir()) == []  # nothing of the spec (or anything) on the host side
        r = cli(env, d, "status", "openat_counter", "--image", ref, *pin)
        assert r.returncode == 0 and "in sync" in r.stdout, r.stdout + r.stderr
        os.open("/etc/hostname", os.O_RDONLY)  # one openat for the counter
        r = cli(env, d, "map", "dump", "openat_counter", "open_count", "--image", ref, *pin,
                "--json")
        assert r.returncode == 0, r.stderr
        assert sum(json.loads(r.stdout)["entries"][0]["value"]) > 0
    finally:
        r = cli(env, d, "detach", "openat_counter", "--image", ref, *pin)
    assert r.returncode == 0, r.stderr
    assert not root.joinpath("openat_counter").exists()


def test_apply_of_a_tampered_registry_image_loads_nothing(registry, host, tmp_path):  # noqa: F811
    d, root, env = host
    ci = tmp_path / "ci"
    assert build_cli([COUNTER], ci / "out").returncode == 0
    r = cli(env, tmp_path, "image", "build", "openat_counter", "--artifacts",
            str(ci / "out" / "artifacts"), "-o", str(ci / "image"), "--json")
    ref = f"{registry.host}/policies/openat-bad:v1"
    assert cli(env, tmp_path, "image", "push", str(ci / "image"), ref).returncode == 0
    image = json.loads((ci / "image/blobs/sha256" / json.loads(r.stdout)["digest"].split(":")[1]).read_text())
    blob = registry.blob_path(image["layers"][0]["digest"])
    good = blob.read_bytes()
    blob.write_bytes(good[:-8])
    try:
        r = cli(env, d, "apply", "openat_counter", "--image", ref, "--pin-root", str(root))
    finally:
        blob.write_bytes(good)
    assert r.returncode == 4, r.stderr
    assert "nothing was applied" in r.stderr
    assert not root.exists()
