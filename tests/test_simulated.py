"""The simulated runtime: the seed's SimulatedRuntime semantics, ported from its tests
(tatara-ebpf's runtime unit test "simulated runtime records lifecycle" and the
simulated-runtime part of its end-to-end authoring pipeline test), the strict mode
that models the kernel, `plan --runtime simulated` from a spec alone, and the seed's
documented map notes (ring-buf entry size and page rounding, perf-event-array key 0)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tatara_build.cli.common import load_project
from tatara_build.lower.aya import map_decl
from tatara_build.model.construct import build
from tatara_build.model.ir import MapSpec, ProgramSpec
from tatara_build.model.kinds import kernel_shape, ring_bytes
from tatara_build.runtime.base import AttachFailed, Io, LoadedProgram, MapError
from tatara_build.runtime.simulated import SimulatedRuntime
from tests.conftest import EXAMPLES, messages, run_cli


def sample_program(name: str = "drop_syn") -> ProgramSpec:
    """The seed test's sample_program(): an xdp program on eth0 from bpf/drop_syn.rs."""
    return build(ProgramSpec, {"name": name, "kind": ":xdp",
                                       "attach": {"target": "eth0"},
                                       "source": "bpf/drop_syn.rs", "license": "GPL"})


def syn_counter(**change) -> MapSpec:
    return build(MapSpec, {"name": "syn_counter", "kind": ":per-cpu-array",
                                   "key_size": 4, "value_size": 8, "max_entries": 1, **change})


# --- the seed's tests, ported ---------------------------------------------------------
def test_seed_simulated_runtime_records_lifecycle():
    """Port of the seed's runtime unit test "simulated runtime records lifecycle"."""
    rt = SimulatedRuntime()
    rt.create_map(syn_counter())
    assert len(rt.created_maps) == 1
    prog = rt.load_program(sample_program())
    assert prog.name == "drop_syn" and prog.token == 1
    assert len(rt.loaded_programs) == 1
    rt.attach_program(prog)
    assert rt.attached_programs == ["drop_syn"]
    rt.detach_program(prog)
    assert rt.attached_programs == []


SAMPLE_POLICY = """
;; The seed end-to-end test's sample policy, as written there.
(defbpf-map
  :name "syn_counter"
  :kind :per-cpu-array
  :key-size 4
  :value-size 8
  :max-entries 1
  :pin-path "/sys/fs/bpf/syn_counter")

(defbpf-program
  :name "drop_syn_flood"
  :kind :xdp
  :attach (:target "eth0")
  :source "bpf/drop_syn.rs"
  :license "GPL"
  :uses-maps ("syn_counter")
  :pin-path "/sys/fs/bpf/drop_syn_flood")

(defbpf-policy
  :name "edge_protection"
  :description "L4 SYN-flood mitigation on the WAN interface."
  :programs ("drop_syn_flood")
  :maps ("syn_counter"))
"""

DROP_SYN_RS = """use aya_ebpf::programs::XdpContext;

pub fn run(_ctx: &XdpContext) -> u32 {
    aya_ebpf::bindings::xdp_action::XDP_PASS
}
"""


def test_seed_end_to_end_pipeline_drives_the_simulated_runtime(spec):
    """Port of the simulated-runtime steps of the seed's end-to-end authoring pipeline:
    read the sample policy, create every map, load, attach, detach."""
    folder = spec({"edge.tlisp": SAMPLE_POLICY, "bpf/drop_syn.rs": DROP_SYN_RS})
    project = load_project([folder]).project
    rt = SimulatedRuntime()
    for m in project.maps:
        rt.create_map(m.spec)
    loaded = rt.load_program(project.program("drop_syn_flood").spec)
    rt.attach_program(loaded)
    assert rt.attached_programs == ["drop_syn_flood"]
    assert len(rt.created_maps) == 1
    rt.detach_program(loaded)
    assert rt.attached_programs == []


# --- what the seed's SimulatedRuntime does with repeated and unknown handles ---------
def test_second_load_records_twice_with_a_new_token():
    rt = SimulatedRuntime()
    first, second = rt.load_program(sample_program()), rt.load_program(sample_program())
    assert (first.token, second.token) == (1, 2)
    assert [p.name for p in rt.loaded_programs] == ["drop_syn", "drop_syn"]


def test_attach_of_an_unknown_program_is_recorded():
    rt = SimulatedRuntime()
    rt.attach_program(LoadedProgram("never_loaded", 7))
    rt.attach_program(LoadedProgram("never_loaded", 7))  # no dedup
    assert rt.attached_programs == ["never_loaded", "never_loaded"]
    assert rt.loaded_programs == []


def test_detach_of_an_unknown_program_is_a_no_op_and_detach_removes_every_occurrence():
    rt = SimulatedRuntime()
    rt.detach_program(LoadedProgram("ghost", 1))
    assert rt.attached_programs == []
    prog = rt.load_program(sample_program())
    rt.attach_program(prog)
    rt.attach_program(LoadedProgram("other", 9))
    rt.attach_program(prog)
    rt.detach_program(prog)
    assert rt.attached_programs == ["other"]


def test_create_map_records_every_call_without_checking_shapes():
    rt = SimulatedRuntime()
    rt.create_map(syn_counter())
    rt.create_map(syn_counter(value_size=4))
    assert [m.value_size for m in rt.created_maps] == [8, 4]


# --- strict: the kernel rules we model (twins in tests/test_runtime_kernel.py) ---------
def test_strict_mode_refuses_what_the_kernel_refuses():
    rt = SimulatedRuntime(strict=True)
    with pytest.raises(AttachFailed, match="attach failed: program `drop_syn` is not loaded"):
        rt.attach_program(LoadedProgram("drop_syn", 1))
    with pytest.raises(AttachFailed, match="is not attached"):
        rt.detach_program(LoadedProgram("drop_syn", 1))
    rt.load_program(sample_program())
    with pytest.raises(Io, match=r"io: can't pin the object \(/sys/fs/bpf/drop_syn\)"):
        rt.load_program(sample_program())
    rt.create_map(syn_counter())
    rt.create_map(syn_counter())  # the same spec again: no-op
    assert len(rt.created_maps) == 1
    with pytest.raises(MapError, match="map operation failed: map `syn_counter` exists"):
        rt.create_map(syn_counter(value_size=4))


# --- plan --runtime simulated works from the spec alone --------------------------------
def test_plan_simulated_needs_no_artifacts(tmp_path):
    examples = Path(__file__).resolve().parents[1] / "examples"
    r = run_cli("plan", "edge_protection", str(examples), "--artifacts",
                str(tmp_path / "never-built"), "--runtime", "simulated", "--json")
    assert r.returncode == 0, r.stderr
    actions = json.loads(r.stdout)["actions"]
    assert [(a["kind"], a["target"]) for a in actions] == [
        ("create-map", "syn_counter"), ("create-map", "tcp_budget"),
        ("load", "drop_syn_flood"), ("load", "rate_limit_tcp"),
        ("attach", "drop_syn_flood"), ("attach", "rate_limit_tcp")]
    assert "(not built)" in actions[2]["detail"]
    assert not (tmp_path / "never-built").exists()


CLASH = """
(defbpf-map :name "m" :kind :hash :key-size 4 :value-size 8 :max-entries 4)
(defbpf-program :name "p" :kind :xdp :attach (:target "eth0") :source "p.bpf.o"
  :uses-maps ("m") :license "GPL" :pin-path "/sys/fs/bpf/clash-{pid}/pol/maps/m")
(defbpf-policy :name "pol" :description "d" :programs ("p") :maps ("m"))
"""


def test_plan_simulated_is_strict_but_apply_simulated_records_like_the_seed(spec, tmp_path):
    """The program's pin is where the map goes: the kernel (and the strict plan) refuse;
    the seed's recording runtime does not."""
    import os

    folder = spec({"a.tlisp": CLASH.format(pid=os.getpid())})
    # check refuses a carried object that is not BPF ELF: carry a real one
    (folder / "p.bpf.o").write_bytes((EXAMPLES / "precompiled/count_udp.bpf.o").read_bytes())
    root = f"/sys/fs/bpf/clash-{os.getpid()}"
    common = ["pol", str(folder), "--artifacts", str(tmp_path / "none"), "--runtime",
              "simulated", "--pin-root", root]
    r = run_cli("plan", *common)
    assert r.returncode == 4, r.stdout + r.stderr
    assert f"can't pin the object ({root}/pol/maps/m): File exists" in r.stderr
    assert run_cli("apply", *common).returncode == 0
    assert not Path(root).exists()


def test_plan_simulated_unknown_policy_is_a_spec_error(tmp_path):
    examples = Path(__file__).resolve().parents[1] / "examples"
    r = run_cli("plan", "nope", str(examples), "--runtime", "simulated")
    assert r.returncode == 1 and "no policy `nope`" in r.stderr


# --- the seed's documented map notes ---------------------------------------------------
def mp(kind: str, key: int, value: int, entries: int) -> str:
    return (f'(defbpf-map :name "m" :kind {kind} :key-size {key} :value-size {value} '
            f':max-entries {entries})\n')


def test_ring_buf_value_size_is_its_entry_size(spec):
    assert messages(spec(a_DOT_tlisp=mp(":ring-buf", 0, 64, 4096))) == []
    assert kernel_shape(":ring-buf", 0, 64, 4096) == (0, 0, 4096)


@pytest.mark.parametrize("entries, rounded", [(1000, 4096), (5000, 8192), (12288, 16384)])
def test_ring_buf_size_is_rounded_up_to_a_page_with_a_note(spec, entries, rounded):
    folder = spec(a_DOT_tlisp=mp(":ring-buf", 0, 16, entries))
    assert messages(folder) == []
    assert messages(folder, "note") == [
        f"map `m`: max_entries {entries} of `:ring-buf` is rounded up to {rounded} bytes "
        "(a power-of-two multiple of the 4096-byte page)"]
    m = build(MapSpec, {"name": "m", "kind": ":ring-buf", "value_size": 16,
                                "max_entries": entries})
    assert f"RingBuf<[u8; 0], {rounded}>" in map_decl(m)
    assert ring_bytes(entries) == rounded


def test_ring_buf_too_large_to_round_up_is_refused(spec):
    assert messages(spec(a_DOT_tlisp=mp(":ring-buf", 0, 0, (1 << 31) + 1))) == [
        "map `m`: max_entries of `:ring-buf` is its byte size, at most 2147483648 (a power "
        "of two in a u32), got 2147483649"]
    assert messages(spec(a_DOT_tlisp=mp(":ring-buf", 0, 0, (1 << 31) + 1)), "note") == []
    assert messages(spec(a_DOT_tlisp=mp(":ring-buf", 0, 0, 1 << 31))) == []


def test_ring_buf_of_a_power_of_two_pages_has_no_note(spec):
    assert messages(spec(a_DOT_tlisp=mp(":ring-buf", 0, 0, 65536)), "note") == []


def test_perf_event_array_key_0_is_accepted(spec):
    assert messages(spec(a_DOT_tlisp=mp(":perf-event-array", 0, 4, 0))) == []
    assert kernel_shape(":perf-event-array", 0, 4, 0) == (4, 4, 0)


@pytest.mark.kernel
def test_kernel_creates_the_seed_shaped_maps_and_accepts_them_again():
    """Twin in the kernel: a ring-buf with an entry size and an unrounded size, and a
    perf-event-array with key 0, are created as the kernel needs them and re-checked."""
    from tatara_build.runtime import bpftool
    from tatara_build.runtime.kernel import Kernel
    from tatara_build.runtime.probe import scratch_pins
    from tests.kernel_util import require_kernel

    require_kernel()
    ring = build(MapSpec, {"name": "seed_ring", "kind": ":ring-buf", "value_size": 64,
                                   "max_entries": 5000})
    perf = build(MapSpec, {"name": "seed_perf", "kind": ":perf-event-array",
                                   "key_size": 0, "value_size": 4, "max_entries": 0})
    with scratch_pins("tatara-seed-") as root:
        k = Kernel()
        wanted = [(ring, root / "ring"), (perf, root / "perf")]
        assert len(k.ensure_maps(wanted)) == 2
        shown = json.loads(bpftool.call(["map", "show", "pinned", str(root / "ring")]).stdout)
        assert (shown["bytes_key"], shown["bytes_value"], shown["max_entries"]) == (0, 0, 8192)
        shown = json.loads(bpftool.call(["map", "show", "pinned", str(root / "perf")]).stdout)
        assert (shown["bytes_key"], shown["bytes_value"]) == (4, 4)
        assert k.ensure_maps(wanted) == []  # pinned already, and the shapes agree


SEED_MAPS = """
(defbpf-map :name "events" :kind :ring-buf :value-size 64 :max-entries 5000)
(defbpf-map :name "perf" :kind :perf-event-array :key-size 0 :value-size 4 :max-entries 0)
(defbpf-program :name "pass_all" :kind :xdp :attach (:target "eth0")
  :source "rb.tlisp:go" :license "GPL" :uses-maps ("events" "perf"))
(defbpf-policy :name "seed_rb" :description "d" :programs ("pass_all") :maps ("events" "perf"))
(bpf-fn go (ctx) (return :xdp-pass))
"""


@pytest.mark.kernel
@pytest.mark.compile
def test_seed_shaped_maps_build_apply_and_stay_in_sync(spec, tmp_path, monkeypatch):
    """The rounded ring-buf and the key-0 perf array go through build (the object's maps
    agree with the spec), apply, status (in sync) and detach in the kernel."""
    import os
    import subprocess

    from tests.conftest import build_cli
    from tests.kernel_util import require_kernel

    require_kernel()
    tag = os.getpid() % 100000
    ns, host, root = f"tsr{tag}", f"tsrh{tag}", f"/sys/fs/bpf/tatara-seedrb-{tag}"
    monkeypatch.setenv("TATARA_STATE_DIR", str(tmp_path / "state"))
    folder = spec({"rb.tlisp": SEED_MAPS})
    out = tmp_path / "out"
    r = build_cli([folder], out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "rounded up to 8192 bytes" in run_cli("check", str(folder)).stderr
    common = ["seed_rb", str(folder), "--artifacts", str(out / "artifacts"), "--pin-root", root]
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(["ip", "link", "add", host, "type", "veth", "peer", "name", "eth0",
                        "netns", ns], check=True)
        r = run_cli("apply", *common, "--netns", ns)
        assert r.returncode == 0, r.stderr
        r = run_cli("status", *common)
        assert r.returncode == 0 and "in sync" in r.stdout, r.stdout + r.stderr
        assert run_cli("detach", *common, "--netns", ns).returncode == 0
        assert not Path(root, "seed_rb").exists()
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", host], capture_output=True)
        subprocess.run(["rm", "-rf", root], capture_output=True)
