"""`--runtime bpfman`: bpfman 0.6 (built by scripts/setup-bpfman.sh) drives the kernel.

Plan-time refusals need no bpfman; the kernel tests need root, the bpfman binary and the
scaffolding in tests/bpfman_util.py (memlock shim, unsigned-image config, tracefs)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tatara_build.runtime.bpfman_runtime import table
from tests.bpfman_util import bpfman_env, unload_app  # noqa: F401 (fixture)
from tests.conftest import ROOT, build_cli, run_cli
from tests.registry_util import registry  # noqa: F401 (fixture)

pytestmark = [pytest.mark.compile]
COUNTER = ROOT / "examples" / "tracepoint-counter.tlisp"
APP = "tatara-openat_counter"


def cli(env, cwd, *args):
    return subprocess.run([sys.executable, "-m", "tatara_build", *args], capture_output=True,
                          text=True, env=env, cwd=cwd)


def test_table_reader_uses_header_columns():
    text = (" Program ID  Application            Type        Function Name    Links \n"
            " 7123        tatara-openat_counter  tracepoint  count_openat     (1) 41 \n"
            " 7124                               xdp         pass             \n")
    rows = table(text)
    assert rows[0] == {"Program ID": "7123", "Application": "tatara-openat_counter",
                       "Type": "tracepoint", "Function Name": "count_openat", "Links": "(1) 41"}
    assert rows[1]["Application"] == "" and rows[1]["Type"] == "xdp"


def test_plan_refuses_kinds_bpfman_cannot_load(built, tmp_path):
    env = {**os.environ, "TATARA_STATE_DIR": str(tmp_path / "state")}
    r = cli(env, tmp_path, "plan", "observability", "--artifacts", str(built / "artifacts"),
            "--runtime", "bpfman")
    assert r.returncode == 1, r.stderr
    assert "bpfman 0.6.0 cannot load `sock_len_hist` (:socket-filter)" in r.stderr
    assert "`sample_cpu` (:perf-event)" in r.stderr and "`count_ingress` (:cgroup-skb)" in r.stderr
    assert "use --runtime bpftool" in r.stderr and "Traceback" not in r.stderr
    r = cli(env, tmp_path, "plan", "file_audit", "--artifacts", str(built / "artifacts"),
            "--runtime", "bpfman")
    assert r.returncode == 1 and "`audit_file_open` (:lsm)" in r.stderr


def test_plan_through_bpfman_from_artifacts_alone(built, tmp_path):
    env = {**os.environ, "TATARA_STATE_DIR": str(tmp_path / "state")}
    r = cli(env, tmp_path, "plan", "openat_counter", "--artifacts", str(built / "artifacts"),
            "--runtime", "bpfman")
    assert r.returncode == 0, r.stderr
    assert "attach  count_openat  tracepoint syscalls/sys_enter_openat" in r.stdout
    assert "load  openat_counter.bpf.o  bpfman load file (1 programs)" in r.stdout


# --- kernel ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def counter_arts(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bpfman-build") / "out"
    assert build_cli([COUNTER], out).returncode == 0
    return out / "artifacts"


def bpfman_list(env, what: str = "programs") -> list[dict]:
    out = subprocess.run([env["TATARA_BPFMAN"], "list", what, "--application", APP], env=env,
                         capture_output=True, text=True, check=True).stdout
    return table(out)


@pytest.mark.kernel
def test_tracepoint_policy_through_bpfman(bpfman_env, counter_arts, tmp_path):  # noqa: F811
    env = bpfman_env
    root = Path(f"/sys/fs/bpf/tatara-bpfman-{os.getpid()}")
    host = tmp_path / "host"
    host.mkdir()
    args = ["openat_counter", "--artifacts", str(counter_arts), "--pin-root", str(root)]
    try:
        r = cli(env, host, "apply", *args, "--runtime", "bpfman")
        assert r.returncode == 0, r.stderr
        progs = bpfman_list(env)
        assert [p["Type"] for p in progs] == ["tracepoint"]
        assert len(bpfman_list(env, "links")) == 1
        os.open("/etc/hostname", os.O_RDONLY)
        r = cli(env, host, "map", "dump", *args[:1], "open_count", *args[1:], "--json")
        assert r.returncode == 0, r.stderr
        assert sum(json.loads(r.stdout)["entries"][0]["value"]) > 0
        r = cli(env, host, "status", *args, "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["state"] == "in sync", r.stdout
        r = cli(env, host, "apply", *args, "--runtime", "bpfman")
        assert r.returncode == 0 and "applied: 0 changes" in r.stdout, r.stdout
        r = cli(env, host, "detach", *args)
        assert r.returncode == 0, r.stderr
        assert bpfman_list(env) == [] and not root.joinpath("openat_counter").exists()
        r = cli(env, host, "status", *args, "--json")
        assert json.loads(r.stdout)["state"] == "absent"
    finally:
        unload_app(env["TATARA_BPFMAN"], env, APP)
        subprocess.run(["rm", "-rf", str(root)])


@pytest.mark.kernel
def test_seed_operations_through_bpfman(bpfman_env, counter_arts):  # noqa: F811
    from tatara_build.cli.common import load_project
    from tatara_build.runtime.base import AttachFailed
    from tatara_build.runtime.bpfman_runtime import Bpfman, BpfmanRuntime
    from tatara_build.runtime.target import load_target

    env = bpfman_env
    t = load_target(load_project([COUNTER]).project, "openat_counter", counter_arts,
                    Path(f"/sys/fs/bpf/tatara-bpfman-seed-{os.getpid()}"))
    rt = BpfmanRuntime(t, Bpfman(env=env))
    try:
        prog = rt.load_program(t.programs[0])
        assert prog.name == "count_openat" and prog.token > 0
        assert [int(p["Program ID"]) for p in bpfman_list(env)] == [prog.token]
        rt.attach_program(prog)
        rt.attach_program(prog)  # idempotent
        assert len(bpfman_list(env, "links")) == 1
        rt.detach_program(prog)
        assert bpfman_list(env, "links") == []
        with pytest.raises(AttachFailed, match="is not attached"):
            rt.detach_program(prog)
        rt.unload_program(prog)
        assert bpfman_list(env) == []
    finally:
        unload_app(env["TATARA_BPFMAN"], env, APP)


@pytest.mark.kernel
def test_bpfman_loads_our_image_from_the_registry(bpfman_env, counter_arts, registry, tmp_path):  # noqa: F811
    from tatara_build.model.ir import AttachPoint, ProgramSpec
    from tatara_build.runtime.bpfman_runtime import Bpfman

    r = run_cli("image", "build", "openat_counter", "--artifacts", str(counter_arts), "-o",
                str(tmp_path / "img"))
    assert r.returncode == 0, r.stderr
    ref = f"{registry.host}/policies/openat-bpfman:v1"
    assert run_cli("image", "push", str(tmp_path / "img"), ref).returncode == 0
    env = {**bpfman_env, "SSL_CERT_FILE": str(registry.bundle)}
    b = Bpfman(env=env)
    try:
        ids = b.load(f"image:{ref}", [("tracepoint", "count_openat")], APP)
        spec = ProgramSpec(name="count_openat", kind=":tracepoint", source="x",
                           attach=AttachPoint(target="syscalls/sys_enter_openat"))
        link = b.attach(ids["count_openat"], spec)
        assert [p["Program ID"] for p in bpfman_list(env)] == [str(ids["count_openat"])]
        b.detach(link)
        b.unload(ids["count_openat"])
        assert bpfman_list(env) == []
    finally:
        unload_app(env["TATARA_BPFMAN"], env, APP)


NET_SPEC = '''
(defbpf-map :name "bm_pkts" :kind :array :key-size 4 :value-size 8 :max-entries 1)
(defbpf-program :name "bm_tc" :kind :tc :attach (:target "eth0" :direction "ingress")
  :source "net.tlisp:bm-tc" :uses-maps ("bm_pkts"))
(defbpf-program :name "bm_xdp" :kind :xdp :attach (:target "eth0")
  :source "net.tlisp:bm-xdp" :uses-maps ("bm_pkts"))
(defbpf-policy :name "bm_tcx" :description "tc through bpfman" :programs ("bm_tc") :maps ("bm_pkts"))
(defbpf-policy :name "bm_xdp" :description "xdp through bpfman" :programs ("bm_xdp") :maps ("bm_pkts"))
(bpf-fn bm-tc (ctx) (map-incr bm_pkts 0) (return :tc-act-ok))
(bpf-fn bm-xdp (ctx) (map-incr bm_pkts 0) (return :xdp-pass))
'''


@pytest.fixture
def netlab(tmp_path):
    """A netns with a veth whose inner end is eth0 (names unique to this process)."""
    tag = f"{os.getpid() % 100000}"
    ns, host_if = f"tbm{tag}", f"tbmh{tag}"
    sh = lambda *a: subprocess.run(list(a), capture_output=True, text=True)  # noqa: E731
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "addr", "add", "10.232.0.1/24", "dev", host_if)
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "addr", "add", "10.232.0.2/24", "dev", "eth0")
        yield ns
    finally:
        sh("ip", "netns", "del", ns)
        sh("ip", "link", "del", host_if)


@pytest.fixture(scope="module")
def net_arts(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bpfman-net")
    (d / "net.tlisp").write_text(NET_SPEC)
    assert build_cli([d / "net.tlisp"], d / "out").returncode == 0
    return d / "out" / "artifacts"


def tcx_links() -> set[int]:
    links = json.loads(subprocess.run(["bpftool", "-j", "link", "show"], capture_output=True,
                                      text=True).stdout or "[]")
    return {ln["id"] for ln in links if ln.get("type") in ("tcx", 11)}


@pytest.mark.kernel
def test_tc_through_bpfman_attaches_with_tcx(bpfman_env, net_arts, netlab, tmp_path):  # noqa: F811
    env = bpfman_env
    root = Path(f"/sys/fs/bpf/tatara-bpfman-tcx-{os.getpid()}")
    args = ["bm_tcx", "--artifacts", str(net_arts), "--pin-root", str(root)]
    try:
        r = cli(env, tmp_path, "apply", *args, "--runtime", "bpfman", "--netns", netlab)
        assert r.returncode == 0, r.stderr
        tcx = tcx_links()  # bpftool 7.1 prints BPF_LINK_TYPE_TCX as its number, 11
        assert tcx, "no tcx link after apply"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(3):  # into eth0 of the netns (after an ARP): its tcx ingress counts
                sock.sendto(b"x", ("10.232.0.2", 9))
                time.sleep(0.1)
        r = cli(env, tmp_path, "map", "dump", "bm_tcx", "bm_pkts", *args[1:], "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["entries"][0]["value"] >= 3
        r = cli(env, tmp_path, "status", *args)
        assert r.returncode == 0, r.stdout + r.stderr
        r = cli(env, tmp_path, "detach", *args)
        assert r.returncode == 0, r.stderr
        assert not tcx & tcx_links()
    finally:
        unload_app(env["TATARA_BPFMAN"], env, "tatara-bm_tcx")
        subprocess.run(["rm", "-rf", str(root)])


@pytest.mark.kernel
def test_xdp_through_bpfman_is_refused_clearly_and_undone(bpfman_env, net_arts, netlab, tmp_path):  # noqa: F811
    env = bpfman_env
    root = Path(f"/sys/fs/bpf/tatara-bpfman-xdp-{os.getpid()}")
    args = ["bm_xdp", "--artifacts", str(net_arts), "--pin-root", str(root)]
    try:
        r = cli(env, tmp_path, "apply", *args, "--runtime", "bpfman", "--netns", netlab)
        if r.returncode == 0:  # a kernel with trampolines: then it must really be attached
            cli(env, tmp_path, "detach", *args)
            pytest.skip("this kernel runs bpfman's xdp dispatcher (freplace works here)")
        assert r.returncode == 4, r.stderr
        assert "freplace" in r.stderr and "use --runtime bpftool for xdp" in r.stderr
        assert "Operation not permitted" in r.stderr and "backtrace" not in r.stderr
        assert "Traceback" not in r.stderr
        out = subprocess.run([env["TATARA_BPFMAN"], "list", "programs", "--application",
                              "tatara-bm_xdp"], env=env, capture_output=True, text=True).stdout
        assert table(out) == []
        assert not root.joinpath("bm_xdp", "maps", "bm_pkts").exists()
    finally:
        unload_app(env["TATARA_BPFMAN"], env, "tatara-bm_xdp")
        subprocess.run(["rm", "-rf", str(root)])
