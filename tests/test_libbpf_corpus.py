"""Real C objects, carried: a corpus the tests compile themselves (clang -target bpf, the
libbpf headers of libbpf-dev), shaped like xdp-tutorial, libbpf-bootstrap and cilium/ebpf
programs (tests/corpus/*.bpf.c). Each is checked, built (carried), inspected and loaded
through our runtime under a pin root and netns of this process; nothing may appear in
/sys/fs/bpf outside the pin root, and detach leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tatara_build.backends.inspect import object_info
from tatara_build.cli.common import load_project
from tatara_build.model.kinds import PROGRAM_KINDS
from tatara_build.runtime import lifecycle, objprep
from tatara_build.runtime.kernel import Kernel
from tatara_build.runtime.target import load_target
from tatara_build.runtime.verify import unsupported_kinds
from tests.conftest import ROOT, run_cli
from tests.kernel_util import require_kernel

CORPUS = ROOT / "tests" / "corpus"
BPFFS = Path("/sys/fs/bpf")


@dataclass
class Case:
    obj: str  # tests/corpus/<obj>.bpf.c
    programs: dict[str, tuple[str, str, str]]  # name -> (kind, section, attach target)
    maps: dict[str, tuple[str, int, int, int]] = field(default_factory=dict)  # declared
    apply: bool = False  # attach for real (netns eth0, own cgroup, tracepoints)
    direction: str = ""
    legacy: bool = False  # section names resolved by the spec's kind
    fires: str = ""  # a declared u64 array whose slot 0 counts up once attached


CASES = [
    Case("tp_minimal", {"handle_tp": (":tracepoint", "tp/syscalls/sys_enter_getpid",
                                      "syscalls/sys_enter_getpid")}, apply=True),
    Case("bootstrap", {"handle_exec": (":tracepoint", "tracepoint/sched/sched_process_exec",
                                       "sched/sched_process_exec"),
                       "handle_exit": (":tracepoint", "tp/sched/sched_process_exit",
                                       "sched/sched_process_exit")},
         {"exec_start": (":hash", 4, 8, 8192)}, apply=True),
    Case("raw_tp", {"count_switch": (":tracepoint", "raw_tp/sched_switch", "sched/sched_switch")},
         {"switches": (":array", 4, 8, 1)}, apply=True, fires="switches"),
    Case("probes", {"unlink_entry": (":kprobe", "kprobe/do_unlinkat", "do_unlinkat"),
                    "unlink_exit": (":kprobe", "kretprobe/do_unlinkat", "do_unlinkat"),
                    "malloc_entry": (":kprobe", "uprobe/libc.so.6:malloc", "malloc")},
         {"stacks": (":stack-trace", 4, 1016, 1024)}),
    Case("fentry", {"unlink_fentry": (":kprobe", "fentry/do_unlinkat", "do_unlinkat"),
                    "unlink_fexit": (":kprobe", "fexit/do_unlinkat", "do_unlinkat")}),
    Case("lsm", {"allow_open": (":lsm", "lsm/file_open", "file_open")}),
    Case("xdp_stats", {"xdp_stats_func": (":xdp", "xdp", "eth0")},
         {"xdp_stats_map": (":per-cpu-array", 4, 16, 5)}, apply=True),
    Case("xdp_legacy", {"xdp_patch_ports_func": (":xdp", "xdp_patch_ports", "eth0"),
                        "xdp_pass_func": (":xdp", "xdp_pass", "lo")},
         {"patched": (":array", 4, 8, 1)}, apply=True, legacy=True),
    Case("xdp_redirect", {"xdp_redirect_map_func": (":xdp", "xdp", "eth0"),
                          "xdp_spread_func": (":xdp", "xdp.frags", "lo")},
         {"tx_port": (":devmap", 4, 4, 256), "tx_by_ifindex": (":devmap-hash", 4, 8, 64),
          "cpus": (":cpumap", 4, 8, 4), "xsks": (":xskmap", 4, 4, 4)}, apply=True),
    Case("xdp_redirect_legacy", {"xdp_redirect_func": (":xdp", "xdp_redirect", "eth0"),
                                 "xdp_redirect_map_1": (":xdp", "redirect_map_1", "lo")},
         {"out_port": (":devmap", 4, 4, 8)}, apply=True, legacy=True),
    Case("xdp_tailcall", {"xdp_dispatch": (":xdp", "xdp", "eth0")},
         {"stages": (":prog-array", 4, 4, 8), "tables": (":array-of-maps", 4, 4, 2),
          "tables_by_id": (":hash-of-maps", 4, 4, 16)}, apply=True),
    Case("tc", {"tc_ingress": (":tc", "tc", "eth0"), "tc_classify": (":tc", "classifier", "eth0"),
                "tcx_ingress": (":tc", "tcx/ingress", "eth0")},
         {"tc_seen": (":array", 4, 8, 3)}, apply=True, direction="ingress"),
    Case("sockfilter", {"socket_handler": (":socket-filter", "socket", "")},
         {"sock_events": (":ring-buf", 0, 0, 262144), "socks": (":sockmap", 4, 8, 16)},
         apply=True),
    Case("cgroup_skb", {"count_ingress": (":cgroup-skb", "cgroup_skb/ingress", "CGROUP"),
                        "count_egress": (":cgroup-skb", "cgroup_skb/egress", "CGROUP")},
         {"pkt_count": (":array", 4, 8, 2)}, apply=True),
    Case("perf_event", {"profile": (":perf-event", "perf_event", "software/cpu-clock@99hz")},
         {"profile_stacks": (":stack-trace", 4, 256, 256)}, apply=True),
]
IDS = [c.obj for c in CASES]
MAP_ONLY = {":sockmap"}  # declared by the corpus but used by no program


@pytest.fixture(scope="module")
def objects(tmp_path_factory) -> Path:
    """Every corpus source compiled once by clang, as a user would."""
    clang = shutil.which("clang")
    if clang is None or not Path("/usr/include/bpf/bpf_helpers.h").exists():
        pytest.fail("clang and libbpf-dev (bpf/bpf_helpers.h) are needed: scripts/setup.sh")
    out = tmp_path_factory.mktemp("corpus")
    for src in sorted(CORPUS.glob("*.bpf.c")):
        subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu",
                        "-c", str(src), "-o", str(out / src.name.replace(".c", ".o"))], check=True)
    return out


def spec_toml(case: Case, cgroup: str = "/sys/fs/cgroup/unified", policy: str = "") -> str:
    lines = []
    for name, (kind, key, value, entries) in case.maps.items():
        lines += ["[[maps]]", f'name = "{name}"', f'kind = "{kind}"', f"key_size = {key}",
                  f"value_size = {value}", f"max_entries = {entries}", ""]
    for name, (kind, _section, target) in case.programs.items():
        lines += ["[[programs]]", f'name = "{name}"', f'kind = "{kind}"',
                  f'source = "objs/{case.obj}.bpf.o"', f"uses_maps = {json.dumps(list(case.maps))}"]
        if target:
            lines += ["[programs.attach]", f'target = "{target.replace("CGROUP", cgroup)}"']
            if kind in (":tc", ":cgroup-skb"):
                lines.append(f'direction = "{case.direction or _direction(name)}"')
        lines.append("")
    lines += ["[[policies]]", f'name = "{policy or case.obj}"', f'description = "{case.obj}"',
              f"programs = {json.dumps(list(case.programs))}", f"maps = {json.dumps(list(case.maps))}"]
    return "\n".join(lines) + "\n"


def _direction(name: str) -> str:
    return "egress" if "egress" in name else "ingress"


def write_spec(case: Case, objects: Path, where: Path, **kw) -> Path:
    (where / "objs").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(objects / f"{case.obj}.bpf.o", where / "objs" / f"{case.obj}.bpf.o")
    spec = where / f"{case.obj}.toml"
    spec.write_text(spec_toml(case, **kw))
    return spec


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_inspection_finds_every_program_by_section(case, objects):
    info = object_info(objects / f"{case.obj}.bpf.o")
    found = {p["name"]: (p["kind"], p["section"]) for p in info["programs"]}
    want = {n: (None if case.legacy else kind, section)
            for n, (kind, section, _t) in case.programs.items()}
    assert found == want
    maps = {m["name"]: m["type"] for m in info["maps"]}
    for name, (kind, *_sizes) in case.maps.items():
        assert maps[name] == kind.strip(":").replace("-", "_").replace("per_cpu", "percpu") \
            .replace("ring_buf", "ringbuf").replace("sockmap", "sockmap"), name


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_check_and_build_carry_one_object(case, objects, tmp_path):
    spec = write_spec(case, objects, tmp_path)
    r = run_cli("build", str(spec), "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stdout + r.stderr
    art = tmp_path / "out" / "artifacts" / case.obj
    assert len(list(art.glob("*.bpf.o"))) == 1  # one copy, however many programs it serves
    (obj,) = json.loads((art / "tatara.manifest.json").read_text())["objects"]
    assert obj["source"] == f"objs/{case.obj}.bpf.o"
    assert sorted(p["name"] for p in obj["programs"]) == sorted(case.programs)
    assert all(p["kind"] == case.programs[p["name"]][0] for p in obj["programs"])
    needs_type = case.legacy or any(s.startswith("tcx/") for _k, s, _t in case.programs.values())
    assert ("load_type" in obj) == needs_type


def test_missing_program_names_the_users_file(objects, tmp_path):
    case = Case("tp_minimal", {"handle_tp": (":tracepoint", "", "syscalls/sys_enter_getpid"),
                               "nope": (":tracepoint", "", "syscalls/sys_enter_getpid")})
    spec = write_spec(case, objects, tmp_path)
    r = run_cli("build", str(spec), "-o", str(tmp_path / "out"))
    assert r.returncode == 3  # the object does not match its spec (a build failure)
    assert "object objs/tp_minimal.bpf.o has no program `nope` (found: handle_tp)" in r.stderr
    assert "nope.bpf.o" not in r.stderr and "handle_tp.bpf.o" not in r.stderr


def test_undeclared_pin_by_name_map_is_refused(objects, tmp_path):
    case = Case("xdp_stats", {"xdp_stats_func": (":xdp", "xdp", "eth0")})
    r = run_cli("build", str(write_spec(case, objects, tmp_path)), "-o", str(tmp_path / "out"))
    assert r.returncode == 3
    assert "map `xdp_stats_map` in objs/xdp_stats.bpf.o is pinned by name" in r.stderr
    assert "xdp_stats.toml:" in r.stderr  # located at the program's source


def test_legacy_section_without_a_spec_program_is_refused(objects, tmp_path):
    case = Case("xdp_legacy", {"xdp_patch_ports_func": (":xdp", "", "eth0")},
                {"patched": (":array", 4, 8, 1)})
    r = run_cli("build", str(write_spec(case, objects, tmp_path)), "-o", str(tmp_path / "out"))
    assert r.returncode == 3
    assert "program `xdp_pass_func` in objs/xdp_legacy.bpf.o has section `xdp_pass`" in r.stderr


def test_map_in_map_cannot_be_rendered_into_a_crate(tmp_path):
    (tmp_path / "p.rs").write_text("pub fn run(_ctx: &aya_ebpf::programs::XdpContext) -> u32 { 2 }\n")
    (tmp_path / "s.toml").write_text(
        '[[maps]]\nname = "tables"\nkind = ":array-of-maps"\nkey_size = 4\nvalue_size = 4\n'
        'max_entries = 2\n\n[[maps]]\nname = "devs"\nkind = ":devmap"\nkey_size = 4\n'
        'value_size = 4\nmax_entries = 2\n\n[[programs]]\nname = "p"\nkind = ":xdp"\n'
        'source = "p.rs"\n[programs.attach]\ntarget = "eth0"\n\n[[policies]]\nname = "q"\n'
        'description = "d"\nprograms = ["p"]\nmaps = ["tables", "devs"]\n')
    r = run_cli("check", str(tmp_path / "s.toml"))
    assert r.returncode == 1
    assert "map `tables`: `:array-of-maps` cannot be rendered into an aya crate" in r.stderr
    assert "map `devs`: aya-ebpf 0.2.1's DevMap has a 8-byte value, got value_size 4" in r.stderr
    assert "s.toml:3:" in r.stderr


@pytest.mark.parametrize("kind,key,value,bad", [
    (":devmap", 4, 12, "value_size must be 4 or 8"), (":cpumap", 8, 8, "key_size must be 4"),
    (":prog-array", 4, 8, "value_size must be 4 for `:prog-array`"),
    (":xskmap", 4, 8, "value_size must be 4 for `:xskmap`"),
    (":sockmap", 4, 16, "value_size must be 4 or 8"),
    (":hash-of-maps", 0, 4, "key_size must be 1..="),
])
def test_new_map_kind_rules_are_located(kind, key, value, bad, tmp_path):
    (tmp_path / "s.toml").write_text(f'[[maps]]\nname = "m"\nkind = "{kind}"\nkey_size = {key}\n'
                                     f'value_size = {value}\nmax_entries = 4\n')
    r = run_cli("check", str(tmp_path / "s.toml"))
    assert r.returncode == 1 and bad in r.stderr and "s.toml:" in r.stderr, r.stderr


class Lab:
    """A netns with eth0 (veth peer), a cgroup v2 child and a pin root, all named per
    process and removed in `down`."""

    def __init__(self):
        tag = f"{os.getpid() % 100000}"
        self.netns, self.host_if = f"tlc{tag}", f"tlh{tag}"
        self.root = BPFFS / f"tatara-lc{tag}"
        self.cgroup = Path(f"/sys/fs/cgroup/unified/tatara-lc{tag}")

    def up(self) -> None:
        sh("ip", "netns", "add", self.netns)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", "eth0", "netns",
           self.netns)
        sh("ip", "-n", self.netns, "link", "set", "eth0", "up")
        sh("ip", "-n", self.netns, "link", "set", "lo", "up")
        self.cgroup.mkdir(exist_ok=True)

    def down(self) -> None:
        sh("ip", "netns", "del", self.netns, check=False)
        sh("ip", "link", "del", self.host_if, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        if self.cgroup.exists():
            self.cgroup.rmdir()

    def xdp_ids(self) -> list:
        out = sh("ip", "-n", self.netns, "-j", "link", "show").stdout
        return [d["xdp"]["prog"]["id"] for d in json.loads(out) if d.get("xdp")]


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check)


def bpffs_top() -> set[str]:
    return {p.name for p in BPFFS.iterdir()}


def strays(before: set[str], objects: Path, case: Case) -> set[str]:
    """New entries at the top of /sys/fs/bpf that are ours: libbpf's pin-by-name pins are
    named after the object's maps (other processes on this machine pin there too)."""
    names = {m["name"] for m in object_info(objects / f"{case.obj}.bpf.o")["maps"]}
    return {n for n in bpffs_top() - before if n in names or n.startswith("tatara-verify-")}


@pytest.fixture
def lab():
    require_kernel()
    lab = Lab()
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def prog_maps(pin: Path) -> set[int]:
    shown = json.loads(sh("bpftool", "-j", "prog", "show", "pinned", str(pin)).stdout)
    return set(shown.get("map_ids", []))


def map_id(pin: Path) -> int:
    return json.loads(sh("bpftool", "-j", "map", "show", "pinned", str(pin)).stdout)["id"]


def built_target(case: Case, objects: Path, tmp_path: Path, lab: Lab):
    spec = write_spec(case, objects, tmp_path, cgroup=str(lab.cgroup))
    r = run_cli("build", str(spec), "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    project = load_project([spec]).project
    return load_target(project, case.obj, tmp_path / "out" / "artifacts", lab.root)


@pytest.mark.kernel
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_load_through_the_runtime(case, objects, tmp_path, lab):
    """ensure_maps + load_object (the apply path): every program pinned, declared maps
    created under the pin root and used by the programs, nothing outside the root."""
    lacking = unsupported_kinds(object_info(objects / f"{case.obj}.bpf.o")["programs"])
    if lacking:  # here: fentry/fexit (no trampolines) and lsm
        pytest.skip(f"this kernel cannot load {', '.join(lacking)} (bpftool feature probe)")
    t = built_target(case, objects, tmp_path, lab)
    before = bpffs_top()
    k = Kernel(lab.netns)
    k.ensure_maps([(m, t.map_pin(m)) for m in t.maps])
    (file,) = t.objects
    pins = k.load_object(t.object_path(file), t.layout.staging / "obj",
                         {m.name: t.map_pin(m) for m in t.maps})
    assert sorted(pins) == sorted(case.programs)
    assert strays(before, objects, case) == set()  # no /sys/fs/bpf/xdp_stats_map & co
    for m in t.maps:
        pin = t.map_pin(m)
        assert pin.is_relative_to(lab.root) and pin.exists(), m.name
        users = [p for p in pins.values() if map_id(pin) in prog_maps(p)]
        assert users or m.kind in MAP_ONLY, f"no program uses our map {m.name}"
    assert not list(t.layout.staging.glob("*_maps"))  # adoption folder removed


@pytest.mark.kernel
@pytest.mark.parametrize("case", [c for c in CASES if c.apply], ids=[c.obj for c in CASES
                                                                       if c.apply])
def test_apply_then_detach_leaves_nothing(case, objects, tmp_path, lab, monkeypatch):
    monkeypatch.setenv("TATARA_STATE_DIR", str(tmp_path / "state"))  # our own journals
    t = built_target(case, objects, tmp_path, lab)
    before = bpffs_top()
    try:
        _apply_and_look(case, t, lab, before, monkeypatch, objects)
    finally:
        lifecycle.detach(t, Kernel(lab.netns))
    assert lab.xdp_ids() == []
    assert not (lab.root / case.obj).exists()
    assert strays(before, objects, case) == set()
    assert json.loads(sh("bpftool", "-j", "cgroup", "show", str(lab.cgroup)).stdout.strip()
                      or "[]") == []


def _apply_and_look(case: Case, t, lab: Lab, before: set[str], monkeypatch, objects: Path
                    ) -> None:
    loads = []
    real = objprep.loadall
    monkeypatch.setattr(objprep, "loadall",
                        lambda *a, **kw: loads.append(a[0]) or real(*a, **kw))
    lifecycle.apply(t, Kernel(lab.netns))
    assert len(loads) == 1  # one object, loaded once, however many programs it serves
    for p in t.programs:
        assert t.prog_pin(p).exists(), p.name
    if case.fires:  # attached for real: the hook runs (context switches happen all the time)
        pin = next(t.map_pin(m) for m in t.maps if m.name == case.fires)
        time.sleep(0.2)
        dump = json.loads(sh("bpftool", "-j", "map", "dump", "pinned", str(pin)).stdout)
        assert int.from_bytes(bytes(int(b, 16) for b in dump[0]["value"]), "little") > 0
    xdp = {p.attach.target for p in t.programs if PROGRAM_KINDS[p.kind].attach == "netlink-xdp"}
    assert len(lab.xdp_ids()) == len(xdp)  # one XDP program per interface (eth0, lo)
    for m in t.maps:  # the programs use our pinned maps (rebound or adopted), not copies
        used = [p.name for p in t.programs if map_id(t.map_pin(m)) in prog_maps(t.prog_pin(p))]
        assert used or m.kind in MAP_ONLY, m.name
    assert strays(before, objects, case) == set()


@pytest.mark.kernel
@pytest.mark.parametrize("obj", ["xdp_stats", "xdp_legacy", "tc", "fentry"])
def test_build_verify_loads_the_prepared_object(obj, objects, tmp_path):
    """`build --verify` loads through the same preparation: pin-by-name maps stay under its
    scratch pins, legacy and tcx/ sections load by kind, missing kernel types are skipped."""
    require_kernel()
    case = next(c for c in CASES if c.obj == obj)
    before = bpffs_top()
    r = run_cli("build", "--verify", str(write_spec(case, objects, tmp_path)), "-o",
                str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert strays(before, objects, case) == set()  # no /sys/fs/bpf/xdp_stats_map left behind
    assert ("cannot load" in r.stdout + r.stderr) == (obj == "fentry")


@pytest.mark.kernel
def test_verifier_rejection_names_the_users_file(tmp_path):
    """The carried copy is named after the program (`bad_xdp.bpf.o`); the user wrote
    `objs/edge_filter.bpf.o`, and that is what the rejection names."""
    require_kernel()
    (tmp_path / "objs").mkdir()
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu",
                    "-c", str(ROOT / "tests/fixtures/bad_xdp.c"), "-o",
                    str(tmp_path / "objs" / "edge_filter.bpf.o")], check=True)
    case = Case("edge_filter", {"bad_xdp": (":xdp", "xdp", "eth0")})
    spec = tmp_path / "s.toml"
    spec.write_text(spec_toml(case))
    r = run_cli("build", "--verify", str(spec), "-o", str(tmp_path / "out"))
    assert r.returncode == 3, r.stderr
    assert "program `bad_xdp` in edge_filter.bpf.o" in r.stderr
    assert "bad_xdp.bpf.o" not in r.stderr
