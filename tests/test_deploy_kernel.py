"""Deploying in the real kernel: a policy applied from its artifacts alone (no spec file
reachable), and re-apply converging — a `--netns` change leaves nothing of ours in the
old namespace, a renamed tc program leaves no old filter (runtime/retire.py).

Everything runs on names made unique per process: two netns each holding a veth end
`eth0`, a pin root under /sys/fs/bpf, a state folder under tmp; cleanup runs always.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tatara_build.cli.common import load_project
from tatara_build.runtime import lifecycle
from tatara_build.runtime.kernel import Kernel, tc_pref
from tatara_build.runtime.target import load_target
from tests.bpfman_util import bpfman_env, unload_app  # noqa: F401 (fixture)
from tests.conftest import EXAMPLES, ROOT, build_cli, run_cli
from tests.kernel_util import require_kernel

pytestmark = [pytest.mark.kernel, pytest.mark.compile]
V1, V2 = ROOT / "tests" / "fixtures" / "deploy-v1.tlisp", ROOT / "tests" / "fixtures" / "deploy-v2.tlisp"


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(list(argv), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"{argv}: {r.stderr}")
    return r


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for key, spec in (("exec", EXAMPLES / "exec-events.tlisp"), ("v1", V1), ("v2", V2),
                      ("stats", EXAMPLES / "xdp-stats.tlisp")):
        dest = tmp_path_factory.mktemp(f"deploy-{key}") / "out"
        r = build_cli([spec], dest)
        assert r.returncode == 0, r.stderr[-4000:]
        out[key] = dest / "artifacts"
    return out


class Lab:
    def __init__(self, tmp: Path):
        tag = f"{os.getpid() % 100000}"
        self.ns = {"a": f"tbda{tag}", "b": f"tbdb{tag}"}
        self.host = {"a": f"tbxa{tag}", "b": f"tbxb{tag}"}
        self.root = Path(f"/sys/fs/bpf/tatara-deploy-{tag}")
        self.state = tmp / "state"
        self.mounted_tracefs = False

    def up(self) -> None:
        for side, ns in self.ns.items():
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", self.host[side], "type", "veth", "peer", "name", "eth0",
               "netns", ns)
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
        if not Path("/sys/kernel/tracing/events").is_dir():
            sh("mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing")
            self.mounted_tracefs = True
        os.environ["TATARA_STATE_DIR"] = str(self.state)

    def down(self) -> None:
        for side, ns in self.ns.items():
            sh("ip", "netns", "del", ns, check=False)
            sh("ip", "link", "del", self.host[side], check=False)
        sh("rm", "-rf", str(self.root), check=False)
        if self.mounted_tracefs:
            sh("umount", "/sys/kernel/tracing", check=False)
        os.environ.pop("TATARA_STATE_DIR", None)

    def xdp_id(self, side: str):
        out = sh("ip", "-n", self.ns[side], "-j", "link", "show", "dev", "eth0").stdout
        return json.loads(out)[0].get("xdp", {}).get("prog", {}).get("id")

    def tc_prefs(self, side: str) -> set[int]:
        out = sh("ip", "netns", "exec", self.ns[side], "tc", "-j", "filter", "show", "dev",
                 "eth0", "ingress").stdout
        return {f["pref"] for f in json.loads(out or "[]")}

    def clsact(self, side: str) -> bool:
        return "clsact" in sh("ip", "netns", "exec", self.ns[side], "tc", "qdisc", "show", "dev",
                              "eth0").stdout

    def bare(self, side: str) -> bool:
        return self.xdp_id(side) is None and not self.tc_prefs(side) and not self.clsact(side)


@pytest.fixture
def lab(tmp_path):
    require_kernel()
    lab = Lab(tmp_path)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def cli(*args: str, cwd: Path | None = None):
    return run_cli(*args, cwd=cwd)


def test_exec_events_applies_from_artifacts_alone(builds, lab, tmp_path):
    host = tmp_path / "host"  # a folder with no spec file: only the copied artifacts
    shutil.copytree(builds["exec"] / "exec_events", host / "arts" / "exec_events")
    common = ["--artifacts", "arts", "--pin-root", str(lab.root)]
    r = cli("plan", "exec_events", *common, cwd=host)
    assert r.returncode == 0, r.stderr  # "carried spec does not match" before
    r = cli("apply", "exec_events", *common, "--json", cwd=host)
    assert r.returncode == 0, r.stderr
    kinds = [a["kind"] for a in json.loads(r.stdout)["actions"]]
    assert kinds == ["create-map", "load", "attach"]
    assert (lab.root / "exec_events" / "maps" / "exec_ring").exists()
    r = cli("status", "exec_events", *common, "--json", cwd=host)
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "in sync", r.stdout + r.stderr
    r = cli("detach", "exec_events", *common, cwd=host)
    assert r.returncode == 0, r.stderr
    assert not (lab.root / "exec_events").exists()
    assert [p for p in host.rglob("*") if p.suffix in (".tlisp", ".toml")] == []


def test_xdp_stats_record_map_read_from_artifacts_alone(builds, lab, tmp_path):
    """A record-valued map: `map dump` decodes it with the record the manifest carries."""
    host = tmp_path / "host"
    shutil.copytree(builds["stats"] / "xdp_stats_policy", host / "arts" / "xdp_stats_policy")
    common = ["--artifacts", "arts", "--pin-root", str(lab.root)]
    r = cli("apply", "xdp_stats_policy", *common, "--netns", lab.ns["a"], cwd=host)
    assert r.returncode == 0, r.stderr
    tag = os.getpid() % 250 + 1
    sh("ip", "addr", "add", f"10.234.{tag}.1/24", "dev", lab.host["a"])
    sh("ip", "link", "set", lab.host["a"], "up")
    sh("ip", "-n", lab.ns["a"], "addr", "add", f"10.234.{tag}.2/24", "dev", "eth0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # ARP + UDP: passed
        for _ in range(3):
            sock.sendto(b"x" * 32, (f"10.234.{tag}.2", 9))
            time.sleep(0.2)
    r = cli("map", "dump", "xdp_stats_policy", "xdp_stats_map", *common, "--json", cwd=host)
    assert r.returncode == 0, r.stderr
    rows = {e["key"]: e["value"] for e in json.loads(r.stdout)["entries"]}
    assert sum(cpu["rx_packets"] for cpu in rows[2]) >= 1  # XDP_PASS, by field name
    r = cli("detach", "xdp_stats_policy", *common, cwd=host)
    assert r.returncode == 0, r.stderr
    assert lab.bare("a") and not (lab.root / "xdp_stats_policy").exists()


def _apply(arts: Path, lab: Lab, side: str):
    r = cli("apply", "dp_net", "--artifacts", str(arts), "--pin-root", str(lab.root),
            "--netns", lab.ns[side])
    assert r.returncode == 0, r.stderr
    return r


def _detach(arts: Path, lab: Lab):
    r = cli("detach", "dp_net", "--artifacts", str(arts), "--pin-root", str(lab.root))
    assert r.returncode == 0, r.stderr


def test_netns_change_leaves_nothing_in_the_old_namespace(builds, lab):
    _apply(builds["v1"], lab, "a")
    assert lab.xdp_id("a") and lab.tc_prefs("a") == {tc_pref("dp_tc_old")} and lab.clsact("a")
    _apply(builds["v1"], lab, "b")
    assert lab.bare("a"), "the first apply's xdp, tc filter or clsact is left in netns A"
    assert lab.xdp_id("b") and lab.tc_prefs("b") == {tc_pref("dp_tc_old")}
    r = cli("status", "dp_net", "--artifacts", str(builds["v1"]), "--pin-root", str(lab.root))
    assert r.returncode == 0, r.stdout + r.stderr
    _detach(builds["v1"], lab)
    assert lab.bare("a") and lab.bare("b") and not (lab.root / "dp_net").exists()


def test_renamed_tc_program_leaves_no_old_filter(builds, lab):
    _apply(builds["v1"], lab, "a")
    old_pin = lab.root / "dp_net" / "progs" / "dp_tc_old"
    assert old_pin.exists()
    _apply(builds["v2"], lab, "a")
    assert lab.tc_prefs("a") == {tc_pref("dp-tc-new")}, "the old program's filter is left"
    assert lab.xdp_id("a") and not old_pin.exists()
    r = cli("status", "dp_net", "--artifacts", str(builds["v2"]), "--pin-root", str(lab.root),
            "--json")
    assert json.loads(r.stdout)["state"] == "in sync", r.stdout
    _detach(builds["v2"], lab)
    assert lab.bare("a") and not (lab.root / "dp_net").exists()


def test_detach_with_the_renamed_spec_removes_the_old_filter(builds, lab):
    _apply(builds["v1"], lab, "a")
    _detach(builds["v2"], lab)  # the spec was edited and rebuilt, then detached
    assert lab.bare("a"), "the filter of `dp_tc_old` (not in the new spec) is left"
    assert not (lab.root / "dp_net").exists()


def _target(arts: Path, spec: Path, lab: Lab):
    return load_target(load_project([spec]).project, "dp_net", arts, lab.root)


def test_a_fault_before_retiring_keeps_the_old_apply_and_the_next_converges(builds, lab):
    t1, t2 = _target(builds["v1"], V1, lab), _target(builds["v2"], V2, lab)
    lifecycle.apply(t1, Kernel(lab.ns["a"]))
    steps = 0
    while True:  # the last step of the re-apply is the retire step
        try:
            lifecycle.apply(t2, Kernel(lab.ns["b"]), fault_at=steps)
            break
        except lifecycle.Fault:
            assert lab.tc_prefs("a") == {tc_pref("dp_tc_old")} and lab.bare("b")
            steps += 1
    assert steps >= 4
    assert lab.bare("a") and lab.tc_prefs("b") == {tc_pref("dp-tc-new")}
    lifecycle.detach(t2, Kernel())
    assert lab.bare("a") and lab.bare("b") and not (lab.root / "dp_net").exists()


def test_kill_9_while_retiring_is_finished_by_the_next_apply(builds, lab):
    common = ["--artifacts", str(builds["v1"]), "--pin-root", str(lab.root)]
    _apply(builds["v1"], lab, "a")
    steps = _count_steps(builds, lab)
    env = {**os.environ, "TATARA_PAUSE_AFTER_STEP": str(steps - 1)}
    proc = subprocess.Popen(
        ["python3", "-m", "tatara_build", "apply", "dp_net", *common, "--netns", lab.ns["b"]],
        env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert "paused after" in proc.stdout.readline()  # at the retire step, not yet done
        proc.kill()
        proc.wait()
        assert not lab.bare("a") and lab.xdp_id("b")  # killed between attach and retire
        _apply(builds["v1"], lab, "b")
        assert lab.bare("a") and lab.xdp_id("b") and lab.tc_prefs("b") == {tc_pref("dp_tc_old")}
    finally:
        if proc.poll() is None:
            proc.kill()
    _detach(builds["v1"], lab)
    assert lab.bare("a") and lab.bare("b")


def _count_steps(builds, lab) -> int:
    """How many ticks a re-apply into netns B takes (dry: a fault at each until it passes)."""
    t = _target(builds["v1"], V1, lab)
    n = 0
    while True:
        try:
            lifecycle.apply(t, Kernel(lab.ns["b"]), fault_at=n)
        except lifecycle.Fault:  # rolled back: B as before (no filter "restored" into B)
            assert lab.bare("b") and lab.tc_prefs("a") == {tc_pref("dp_tc_old")}
            n += 1
            continue
        break
    lifecycle.apply(t, Kernel(lab.ns["a"]))  # back to A: the test starts from there
    return n


TCX_SPEC = """
(defbpf-map :name "dx_pkts" :kind :array :key-size 4 :value-size 8 :max-entries 1)
(defbpf-program :name "dx_tc" :kind :tc :attach (:target "eth0" :direction "ingress")
  :source "dx.tlisp:dx-tc" :uses-maps ("dx_pkts"))
(defbpf-policy :name "dx_tcx" :description "tc through bpfman" :programs ("dx_tc")
  :maps ("dx_pkts"))
(bpf-fn dx-tc (ctx) (map-incr dx_pkts 0) (return :tc-act-ok))
"""


def _tcx_links() -> dict[int, int]:
    """tcx link id -> ifindex (bpftool 7.1 prints BPF_LINK_TYPE_TCX as its number, 11)."""
    shown = json.loads(sh("bpftool", "-j", "link", "show").stdout or "[]")
    return {ln["id"]: ln.get("ifindex", 0) for ln in shown if ln.get("type") in ("tcx", 11)}


def test_bpfman_netns_change_leaves_nothing_in_the_old_namespace(bpfman_env, lab, tmp_path):  # noqa: F811
    env = {**bpfman_env, "TATARA_STATE_DIR": str(lab.state)}
    (tmp_path / "dx.tlisp").write_text(TCX_SPEC)
    assert build_cli([tmp_path / "dx.tlisp"], tmp_path / "out").returncode == 0
    args = ["dx_tcx", "--artifacts", str(tmp_path / "out" / "artifacts"), "--pin-root",
            str(lab.root), "--runtime", "bpfman"]
    run = lambda *a: subprocess.run([sys.executable, "-m", "tatara_build", *a],  # noqa: E731
                                    capture_output=True, text=True, env=env)
    before = set(_tcx_links())
    try:
        r = run("apply", *args, "--netns", lab.ns["a"])
        assert r.returncode == 0, r.stderr
        first = set(_tcx_links()) - before
        assert len(first) == 1
        r = run("apply", *args, "--netns", lab.ns["b"])  # was "nothing": stayed in A
        assert r.returncode == 0, r.stderr
        assert "detach" in r.stdout
        now = set(_tcx_links()) - before
        assert len(now) == 1 and not now & first, "the link in netns A is left"
        r = run("detach", *args[:-2])
        assert r.returncode == 0, r.stderr
        assert not set(_tcx_links()) - before
    finally:
        unload_app(env["TATARA_BPFMAN"], env, "tatara-dx_tcx")
