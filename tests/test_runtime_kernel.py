"""The bpftool runtime and the policy lifecycle in the real kernel.

Everything runs against targets the tests create and remove themselves: a netns
with a veth whose inner end is `eth0`, a cgroup under /sys/fs/cgroup/unified, and
a pin root of their own under /sys/fs/bpf. Cleanup runs even when a test fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tatara_build.cli.common import load_project
from tatara_build.runtime import lifecycle
from tatara_build.runtime.attach import attach
from tatara_build.runtime.base import AttachFailed, Io, LoadedProgram, MapError, Unsupported, VerifierRejected
from tatara_build.runtime.kernel import Kernel, no_journal, tc_pref
from tatara_build.runtime.observe import drift
from tatara_build.runtime.simulated import SimulatedRuntime
from tatara_build.runtime.state import Journal
from tatara_build.runtime.target import load_target
from tests.conftest import EXAMPLES, ROOT, run_cli
from tests.kernel_util import require_kernel

pytestmark = [pytest.mark.kernel, pytest.mark.compile]
SPEC = ROOT / "tests" / "fixtures" / "runtime.tlisp"
CGROUP = Path("/sys/fs/cgroup/unified/tatara-rt-test")


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(list(argv), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"{argv}: {r.stderr}")
    return r


class Lab:
    def __init__(self, tmp: Path):
        tag = f"{os.getpid() % 100000}"
        self.netns, self.host_if = f"tbt{tag}", f"tbh{tag}"
        self.root = Path(f"/sys/fs/bpf/tatara-test-{tag}")
        self.state = tmp / "state"
        self.mounted_tracefs = False

    def up(self) -> None:
        sh("ip", "netns", "add", self.netns)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", "eth0", "netns",
           self.netns)
        sh("ip", "link", "set", self.host_if, "up")
        sh("ip", "addr", "add", "10.231.0.1/24", "dev", self.host_if)
        sh("ip", "-n", self.netns, "link", "set", "eth0", "up")
        sh("ip", "-n", self.netns, "addr", "add", "10.231.0.2/24", "dev", "eth0")
        CGROUP.mkdir(exist_ok=True)
        if not Path("/sys/kernel/tracing/events").is_dir():
            sh("mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing")
            self.mounted_tracefs = True
        os.environ["TATARA_STATE_DIR"] = str(self.state)

    def down(self) -> None:
        sh("ip", "netns", "del", self.netns, check=False)
        sh("ip", "link", "del", self.host_if, check=False)
        for prog in json.loads(sh("bpftool", "-j", "cgroup", "show", str(CGROUP),
                                  check=False).stdout.strip() or "[]"):
            sh("bpftool", "cgroup", "detach", str(CGROUP), prog["attach_type"], "id",
               str(prog["id"]), check=False)
        sh("rm", "-rf", str(self.root), check=False)
        if CGROUP.exists():
            CGROUP.rmdir()
        if self.mounted_tracefs:
            sh("umount", "/sys/kernel/tracing", check=False)
        os.environ.pop("TATARA_STATE_DIR", None)

    # --- what the kernel holds ---------------------------------------------------------
    def xdp_id(self):
        out = sh("ip", "-n", self.netns, "-j", "link", "show", "dev", "eth0").stdout
        return json.loads(out)[0].get("xdp", {}).get("prog", {}).get("id")

    def tc_filters(self) -> str:
        return sh("ip", "netns", "exec", self.netns, "tc", "filter", "show", "dev", "eth0",
                  "ingress").stdout

    def has_clsact(self) -> bool:
        return "clsact" in sh("ip", "netns", "exec", self.netns, "tc", "qdisc", "show", "dev",
                              "eth0").stdout

    def cgroup_progs(self) -> list:
        return json.loads(sh("bpftool", "-j", "cgroup", "show", str(CGROUP)).stdout.strip() or "[]")

    def unchanged(self) -> None:
        """Nothing of the policy left: pins, xdp, tc filter and qdisc, cgroup, links."""
        leftovers = [str(p) for p in self.root.rglob("*")] if self.root.exists() else []
        assert leftovers == [], leftovers
        assert self.xdp_id() is None
        assert self.tc_filters().strip() == "" and not self.has_clsact()
        assert self.cgroup_progs() == []


@pytest.fixture
def lab(tmp_path):
    require_kernel()
    lab = Lab(tmp_path)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def target(built_runtime: Path, lab: Lab, spec: Path = SPEC, policy: str = "rt_all"):
    project = load_project([spec]).project
    return load_target(project, policy, built_runtime / "artifacts", lab.root)


def read_counter(pin: Path, index: int) -> int:
    key = [f"{b:02x}" for b in index.to_bytes(4, "little")]
    data = json.loads(sh("bpftool", "-j", "map", "lookup", "pinned", str(pin), "key", "hex",
                         *key).stdout)
    vals = data.get("values") or [{"value": data["value"]}]
    return sum(int.from_bytes(bytes(int(b, 16) for b in v["value"]), "little") for v in vals)


def test_apply_every_kind_then_detach(built_runtime, lab):
    t = target(built_runtime, lab)
    actions = lifecycle.apply(t, Kernel(lab.netns))
    assert [a.kind for a in actions].count("attach") == 5
    xdp_pin = t.layout.progs / "rt_xdp"
    info = Kernel().prog_info(xdp_pin)
    assert lab.xdp_id() == info["id"]
    assert f"pref {tc_pref('rt_tc')}" in lab.tc_filters()
    assert [p["name"] for p in lab.cgroup_progs()] == ["rt_cg"]
    assert (t.layout.links / "rt_tp").exists() and list(t.layout.links.glob("rt_perf_cpu*"))
    events = t.layout.maps / "rt_events"
    before = read_counter(events, 0)
    for _ in range(20):
        open("/etc/hostname").close()
    assert read_counter(events, 0) > before  # the tracepoint program runs
    time.sleep(0.3)
    assert read_counter(events, 1) > 0  # the perf-event program samples
    # traffic from the host into the namespace goes through the XDP program
    pkts = t.layout.maps / "rt_pkts"
    sent = read_counter(pkts, 0)
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(5):
            s.sendto(b"x", ("10.231.0.2", 9))
    time.sleep(0.2)
    assert read_counter(pkts, 0) >= sent + 5
    report = drift(t, Kernel())
    assert report["state"] == "in sync", report
    lifecycle.detach(t, Kernel(lab.netns))
    lab.unchanged()


def test_reapply_unchanged_makes_no_kernel_change(built_runtime, lab):
    t = target(built_runtime, lab)
    lifecycle.apply(t, Kernel(lab.netns))
    k = Kernel(lab.netns)
    actions = lifecycle.apply(t, k)
    assert [a.kind for a in actions] == ["nothing"]
    assert k.calls <= 3
    lifecycle.detach(t, Kernel(lab.netns))
    lab.unchanged()


def test_fault_at_every_step_leaves_the_kernel_as_before(built_runtime, lab):
    t = target(built_runtime, lab)
    steps = 1 + 1 + 5  # the maps (one batch), one object, five attaches
    for i in range(steps):
        with pytest.raises(lifecycle.Fault):
            lifecycle.apply(t, Kernel(lab.netns), fault_at=i)
        lab.unchanged()
        assert Journal(t.policy).status == "absent"
    lifecycle.apply(t, Kernel(lab.netns))  # and then it still applies
    lifecycle.detach(t, Kernel(lab.netns))
    lab.unchanged()


def test_drift_is_reported(built_runtime, lab):
    t = target(built_runtime, lab)
    lifecycle.apply(t, Kernel(lab.netns))
    sh("ip", "netns", "exec", lab.netns, "bpftool", "net", "detach", "xdp", "dev", "eth0")
    (t.layout.maps / "rt_flows").unlink()
    r = run_cli("status", "rt_all", str(SPEC), "--artifacts", str(built_runtime / "artifacts"),
                "--pin-root", str(lab.root), "--json")
    assert r.returncode == 6, r.stderr  # drift has its own exit code
    found = {(d["what"], d["kind"], d["name"]) for d in json.loads(r.stdout)["drift"]}
    assert ("missing", "attach", "rt_xdp") in found and ("missing", "map", "rt_flows") in found
    lifecycle.detach(t, Kernel(lab.netns))
    lab.unchanged()


def test_kill_9_mid_apply_is_repaired_by_the_next_apply(built_runtime, lab):
    t = target(built_runtime, lab)
    argv = [sys.executable, "-m", "tatara_build", "apply", "rt_all", str(SPEC), "--artifacts",
            str(built_runtime / "artifacts"), "--pin-root", str(lab.root), "--netns", lab.netns]
    env = {**os.environ, "TATARA_PAUSE_AFTER_STEP": "4"}
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert "paused after 4 steps" in p.stdout.readline()
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert Journal(t.policy).interrupted
    assert lab.xdp_id() is not None  # half applied: xdp and tc are attached
    r = subprocess.run(argv, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "repair" in r.stdout
    assert drift(t, Kernel())["state"] == "in sync"
    lifecycle.detach(t, Kernel(lab.netns))
    lab.unchanged()


def test_two_applies_at_once_are_refused(built_runtime, lab):
    from tatara_build.runtime.state import policy_lock
    with policy_lock("rt_all"):
        r = run_cli("apply", "rt_all", str(SPEC), "--artifacts", str(built_runtime / "artifacts"),
                    "--pin-root", str(lab.root), "--netns", lab.netns)
    assert r.returncode == 4 and "another apply of policy `rt_all` is running" in r.stderr
    lab.unchanged()


def test_map_create_reuse_and_mismatch(built_runtime, lab):
    t = target(built_runtime, lab)
    k = Kernel()
    m = t.maps[1]  # rt_flows: hash, key 4, value 8, 64 entries
    pin = lab.root / "m" / "flows"
    assert k.ensure_maps([(m, pin)]) == [pin]
    assert k.ensure_maps([(m, pin)]) == []  # reused
    with pytest.raises(MapError) as exc:
        k.ensure_maps([(replace(m, **{"value_size": 4}), pin)])
    assert "bytes_value 8 (spec 4)" in str(exc.value)
    # a batch that fails half way removes what it created
    bad = replace(m, **{"name": "bad", "key_size": 0})
    with pytest.raises(MapError):
        k.ensure_maps([(m, lab.root / "m" / "a"), (bad, lab.root / "m" / "b")])
    assert not (lab.root / "m" / "a").exists() and not (lab.root / "m" / "b").exists()


def test_verifier_rejection_carries_the_log(lab, tmp_path):
    obj = tmp_path / "bad.o"
    sh("clang", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c",
       str(ROOT / "tests" / "fixtures" / "bad_xdp.c"), "-o", str(obj))
    with pytest.raises(VerifierRejected) as exc:
        Kernel().load_object(obj, lab.root / "bad", {})
    assert exc.value.program == "bad_xdp"
    assert "invalid access to packet" in exc.value.log
    assert str(exc.value).startswith("kernel rejected program at load: program `bad_xdp`")
    assert not (lab.root / "bad").exists()


def test_unsupported_kind_is_reported_and_undone(built, lab):
    project = load_project([EXAMPLES]).project
    t = load_target(project, "observability", built / "artifacts", lab.root)
    with pytest.raises(Unsupported) as exc:
        lifecycle.apply(t, Kernel(lab.netns))
    assert "kprobe" in str(exc.value)
    assert not any(lab.root.rglob("*")) if lab.root.exists() else True


# --- twins: each rule the simulation models, once against the real kernel ----------------
def test_twin_pins_are_unique(built_runtime, lab):
    t = target(built_runtime, lab)
    obj = t.object_path("rt_all.bpf.o")
    k = Kernel()
    k.load_object(obj, lab.root / "p", {})
    with pytest.raises(Io):
        k.load_object(obj, lab.root / "p", {})  # kernel: the pins exist already
    sim = SimulatedRuntime(strict=True)
    sim.load_program(t.programs[0])
    with pytest.raises(Io):
        sim.load_program(t.programs[0])


def test_twin_attach_needs_a_load(built_runtime, lab):
    t = target(built_runtime, lab)
    with pytest.raises(AttachFailed):
        attach(Kernel(lab.netns), t.programs[0], lab.root / "not-loaded", lab.root / "links",
               no_journal)
    with pytest.raises(AttachFailed):
        SimulatedRuntime(strict=True).attach_program(LoadedProgram("rt_xdp", 1))


def test_twin_detach_of_unknown_fails(built_runtime, lab):
    t = target(built_runtime, lab)
    k = Kernel()
    pins = k.load_object(t.object_path("rt_all.bpf.o"), lab.root / "p", {})
    r = sh("bpftool", "cgroup", "detach", str(CGROUP), "egress", "pinned", str(pins["rt_cg"]),
           check=False)
    assert r.returncode != 0  # the kernel refuses to detach what is not attached
    with pytest.raises(AttachFailed):
        SimulatedRuntime(strict=True).detach_program(LoadedProgram("rt_cg", 1))


def test_simulated_runtime_records_like_the_seed(built_runtime, lab):
    t = target(built_runtime, lab)
    sim = SimulatedRuntime(strict=True)
    sim.apply(t)
    assert [p.name for p in sim.loaded_programs] == [p.name for p in t.programs]
    assert sim.attached_programs == [p.name for p in t.programs] and sim.next_token == 5
    with pytest.raises(MapError):
        sim.create_map(replace(t.maps[0], **{"value_size": 4}))


def test_refuses_without_bpffs(monkeypatch):
    from tatara_build.cli import runtime_verbs
    from tatara_build.errors import EnvironmentProblem
    monkeypatch.setattr(runtime_verbs, "bpffs_mounted", lambda: False)
    with pytest.raises(EnvironmentProblem) as exc:
        runtime_verbs.preflight("bpftool")
    assert "mount -t bpf bpf /sys/fs/bpf" in str(exc.value) and exc.value.exit_code == 5


def test_changed_policy_is_replaced_in_place(built_runtime, lab, tmp_path):
    t = target(built_runtime, lab)
    lifecycle.apply(t, Kernel(lab.netns))
    old_xdp = lab.xdp_id()
    old_cg = [p["id"] for p in lab.cgroup_progs()]
    key = ["01", "00", "00", "00"]
    sh("bpftool", "map", "update", "pinned", str(t.layout.maps / "rt_pkts"), "key", "hex", *key,
       "value", "hex", "2a", "00", "00", "00", "00", "00", "00", "00")
    changed = tmp_path / "runtime.tlisp"
    changed.write_text(SPEC.read_text().replace("(= (l4-dport ctx) 9)", "(= (l4-dport ctx) 10)"))
    out = tmp_path / "out2"
    from tests.conftest import build_cli
    r = build_cli([changed], out)
    assert r.returncode == 0, r.stderr[-2000:]
    t2 = load_target(load_project([changed]).project, "rt_all", out / "artifacts", lab.root)
    actions = lifecycle.apply(t2, Kernel(lab.netns))
    assert {a.kind for a in actions} == {"replace"}
    new_xdp = lab.xdp_id()
    assert new_xdp not in (None, old_xdp)
    assert Kernel().prog_info(t2.layout.progs / "rt_xdp")["id"] == new_xdp
    cg = [p["id"] for p in lab.cgroup_progs()]
    assert len(cg) == 1 and cg != old_cg  # the old cgroup program detached, the new one in
    assert cg[0] == Kernel().prog_info(t2.layout.progs / "rt_cg")["id"]
    assert read_counter(t2.layout.maps / "rt_pkts", 1) >= 42  # maps and contents kept
    assert drift(t2, Kernel())["state"] == "in sync"
    lifecycle.detach(t2, Kernel(lab.netns))
    lab.unchanged()


def test_map_verbs_read_and_write_by_spec_sizes(built_runtime, lab):
    t = target(built_runtime, lab)
    lifecycle.apply(t, Kernel(lab.netns))
    common = [str(SPEC), "--pin-root", str(lab.root)]
    r = run_cli("map", "set", "rt_all", "rt_flows", *common, "--key", "0x0a000001", "--value", "300")
    assert r.returncode == 0, r.stderr
    r = run_cli("map", "get", "rt_all", "rt_flows", *common, "--key", "167772161", "--json")
    assert json.loads(r.stdout)["entries"] == [{"key": 167772161, "value": 300}]
    r = run_cli("map", "set", "rt_all", "rt_flows", *common, "--key", "hex:0102", "--value", "1")
    assert r.returncode == 1 and "key has 2 bytes; the map's key size is 4" in r.stderr
    r = run_cli("map", "set", "rt_all", "rt_flows", *common, "--key", "1", "--value", "-1")
    assert r.returncode == 1 and "does not fit in 8 bytes" in r.stderr
    dump = json.loads(run_cli("map", "dump", "rt_all", "rt_pkts", *common, "--json").stdout)
    assert [e["key"] for e in dump["entries"]] == [0, 1, 2, 3]  # per-CPU array: every slot
    lifecycle.detach(t, Kernel(lab.netns))
    lab.unchanged()


def test_bpftool_runtime_seed_operations(built_runtime, lab):
    from tatara_build.runtime.bpftool_runtime import BpftoolRuntime
    t = target(built_runtime, lab)
    rt = BpftoolRuntime(t, Kernel(lab.netns))
    for m in t.maps:
        rt.create_map(m)
        rt.create_map(m)  # idempotent
    xdp = next(p for p in t.programs if p.name == "rt_xdp")
    loaded = rt.load_program(xdp)
    assert loaded.name == "rt_xdp" and loaded.token > 0
    with pytest.raises(Io):
        rt.load_program(xdp)  # the pin is taken
    rt.attach_program(loaded)
    rt.attach_program(loaded)  # idempotent
    assert lab.xdp_id() == loaded.token
    rt.detach_program(loaded)
    assert lab.xdp_id() is None
    with pytest.raises(AttachFailed):
        rt.detach_program(loaded)
    with pytest.raises(MapError):
        rt.create_map(replace(t.maps[0], **{"value_size": 16}))
