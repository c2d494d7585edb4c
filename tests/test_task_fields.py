"""Kernel task fields and kernel memory reads (issue 14): `(task-field ppid)` and friends,
`get-current-task`, `probe-read-kernel-u32/u64`; offsets from the kernel's BTF at load."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tatara_build.lower import dsl_tables as T
from tatara_build.runtime import kbtf, objglobals
from tests.bpfman_util import bpfman_env  # noqa: F401 (fixture)
from tests.conftest import build_cli, run_cli
from tests.kernel_util import require_kernel
from tests.test_bpf_fn import lower, lower_error

FIXTURE = Path(__file__).parent / "fixtures" / "task_fields.tlisp"
VMLINUX = Path("/sys/kernel/btf/vmlinux")


def test_ppid_reads_real_parent_then_tgid_at_load_time_offsets(spec):
    out = lower(spec, "(return (task-field ppid))", ":tracepoint")
    assert "static TATARA_KOFF_P__TASK_STRUCT__REAL_PARENT: u32 = crate::rt::KOFF_UNSET;" in out
    assert "static TATARA_KOFF_P__TASK_STRUCT__TGID: u32 = crate::rt::KOFF_UNSET;" in out
    assert out.count("#[unsafe(no_mangle)]") == 2
    assert "let t1 = unsafe { aya_ebpf::helpers::generated::bpf_get_current_task() };" in out
    assert "let t2 = crate::rt::kfield_u64(t1, &TATARA_KOFF_P__TASK_STRUCT__REAL_PARENT);" in out
    assert "let t3 = crate::rt::kfield_u32(t2, &TATARA_KOFF_P__TASK_STRUCT__TGID);" in out


def test_fields_of_a_given_task_and_one_static_per_field(spec):
    out = lower(spec, "(return (+ (task-field tgid (task-field real-parent)) (task-field tgid)))",
                ":tracepoint")
    assert out.count("static TATARA_KOFF_P__TASK_STRUCT__TGID") == 1
    assert out.count("bpf_get_current_task()") == 2
    out = lower(spec, "(return (call probe-read-kernel-u64 (+ (call get-current-task) 8)))",
                ":tracepoint")
    assert "crate::rt::kread_u64(t2)" in out


def test_rt_unset_marker_is_the_one_the_lowering_and_tests_use():
    rt = (Path(__file__).parents[1] / "templates/crate/rt.rs").read_text()
    assert f"pub const KOFF_UNSET: u32 = {T.KOFF_UNSET:#_x};" in rt


@pytest.mark.parametrize("body, col, message", [
    ("(return (task-field ppid))", 11, "`task-field` is not allowed in `:xdp` programs"),
    ("(return (call get-current-task))", 17, "helper `get-current-task` is not allowed in `:xdp`"),
    ("(return (call probe-read-kernel-u32 0))", 17,
     "helper `probe-read-kernel-u32` is not allowed in `:xdp`"),
])
def test_packet_kinds_are_refused_at_the_form(spec, body, col, message):
    d = lower_error(spec, body)
    assert d.message.startswith(message) and (d.span.line, d.span.col) == (8, col)
    if "task-field" in body:
        assert d.help == "allowed in :kprobe, :tracepoint, :perf-event"


@pytest.mark.parametrize("body, col, message, help_has", [
    ("(return (task-field ppidd))", 23, "unknown task field `ppidd`", "did you mean `ppid`?"),
    ("(return (task-field))", 11, "`(task-field NAME [task])` takes a field name", "(task-field ppid)"),
    ("(return (task-field ppid 1 2))", 11, "`(task-field NAME [task])`", "real-parent"),
    ('(return (task-field "ppid"))', 11, "`(task-field NAME [task])`", ""),
    ("(return (call probe-read-kernel-u64))", 11,
     "helper `probe-read-kernel-u64` takes 1 argument(s)", ""),
    ("(return (task-field pid (call get-current-comm)))", 27, "this is a bytes:16", ""),
])
def test_wrong_arguments_are_located_errors(spec, body, col, message, help_has):
    d = lower_error(spec, body, ":tracepoint")
    assert message in d.message and (d.span.line, d.span.col) == (8, col), d
    assert help_has in (d.help or "")


def test_check_prints_file_line_col_and_exits_1(spec):
    from tests.test_bpf_fn import ATTACH, HEAD

    d = spec({"a.tlisp": HEAD.format(kind=":xdp", attach=ATTACH[":xdp"])
              + "(bpf-fn f (ctx)\n  (return (task-field ppid)))\n"})
    r = run_cli("check", str(d / "a.tlisp"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "a.tlisp:8:11" in r.stderr and "`task-field` is not allowed in `:xdp`" in r.stderr


def test_offset_symbols_name_their_struct_and_field():
    assert kbtf.symbol_field("TATARA_KOFF_ON_EXEC__TASK_STRUCT__REAL_PARENT") == (
        "task_struct", "real_parent")
    assert kbtf.symbol_field("TATARA_KOFF_A__B") is None
    assert kbtf.symbol_field("target_port") is None


def _bpftool_members(struct: str) -> dict[str, int]:
    """Byte offsets of a struct's direct members as `bpftool btf dump … format raw` prints them."""
    text = subprocess.run(["bpftool", "btf", "dump", "file", str(VMLINUX), "format", "raw"],
                          capture_output=True, text=True, check=True).stdout
    block = text.split(f"STRUCT '{struct}' size=", 1)[1].split("\n[", 1)[0]
    return {m[0]: int(m[1]) // 8 for m in re.findall(r"'(\w+)' type_id=\d+ bits_offset=(\d+)", block)}


def test_offsets_match_bpftool_for_every_task_field():
    if not VMLINUX.exists() or not shutil.which("bpftool"):
        pytest.skip("needs /sys/kernel/btf/vmlinux and bpftool")
    theirs = _bpftool_members("task_struct")
    ours = kbtf.field_offsets(set(T.KERNEL_FIELDS))
    assert ours == {k: theirs[k[1]] for k in T.KERNEL_FIELDS}
    assert len(set(ours.values())) == len(ours)  # six different fields, six offsets


def test_a_field_of_another_size_or_missing_is_refused(monkeypatch):
    if not VMLINUX.exists():
        pytest.skip("needs /sys/kernel/btf/vmlinux")
    from tatara_build.errors import RuntimeFailure

    btf = kbtf.read_kernel_btf()
    monkeypatch.setitem(kbtf.KERNEL_FIELDS, ("task_struct", "pid"), 8)
    with pytest.raises(RuntimeFailure, match=r"`task_struct.pid` is 4 bytes; tatara-build reads it as 8"):
        kbtf.field_offsets({("task_struct", "pid")}, btf)
    with pytest.raises(RuntimeFailure, match="has no field `task_struct.nope`"):
        kbtf.field_offsets({("task_struct", "nope")}, btf)


def test_no_btf_is_exit_5_and_objects_without_task_fields_never_read_it(monkeypatch, tmp_path):
    from tatara_build.errors import EnvironmentProblem

    monkeypatch.setenv("TATARA_KERNEL_BTF", str(tmp_path / "none"))
    with pytest.raises(EnvironmentProblem) as exc:
        kbtf.read_kernel_btf()
    assert exc.value.exit_code == 5 and "nothing was loaded" in str(exc.value)
    (tmp_path / "bad").write_bytes(b"\0" * 64)
    monkeypatch.setenv("TATARA_KERNEL_BTF", str(tmp_path / "bad"))
    with pytest.raises(EnvironmentProblem, match="bad magic"):
        kbtf.read_kernel_btf()
    assert kbtf.offsets_for(b"not an ELF object") == {}  # no offset symbol: BTF never read
    assert kbtf.offsets_for(b"TATARA_KOFF_ in a file that is not ELF") == {}


def test_simulated_runtime_needs_no_kernel_btf(monkeypatch, tmp_path):
    monkeypatch.setenv("TATARA_KERNEL_BTF", str(tmp_path / "none"))
    for verb in ("plan", "apply"):
        r = run_cli(verb, "task_fields", str(FIXTURE), "--runtime", "simulated",
                    "--artifacts", str(tmp_path / "none"))
        assert r.returncode == 0, r.stderr
        assert "load  on_exec_task" in r.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    require_kernel()
    out = tmp_path_factory.mktemp("task") / "out"
    r = build_cli([FIXTURE], out)
    assert r.returncode == 0, r.stderr[-3000:]
    return out / "artifacts"


def _common(built: Path, root: Path) -> list[str]:
    return [str(FIXTURE), "--artifacts", str(built), "--pin-root", str(root)]


@pytest.mark.kernel
@pytest.mark.compile
def test_an_exec_records_its_parent_and_grandparent_pid(built):
    """bootstrap.bpf.c's ppid: a child this process spawns has ppid == our pid."""
    obj = built / "task_fields" / "task_fields.bpf.o"
    before = obj.read_bytes()
    assert set(objglobals.slots(before)) >= {
        "TATARA_KOFF_ON_EXEC_TASK__TASK_STRUCT__REAL_PARENT",
        "TATARA_KOFF_ON_EXEC_TASK__TASK_STRUCT__TGID"}
    root = Path(f"/sys/fs/bpf/tt-task-{os.getpid()}")
    common = _common(built, root)
    try:
        r = run_cli("apply", "task_fields", *common)
        assert r.returncode == 0, r.stderr
        child = subprocess.Popen(["/bin/true"])
        child.wait()
        r = run_cli("map", "get", "task_fields", "by_pid", str(FIXTURE), "--pin-root", str(root),
                    "--key", str(child.pid), "--json")
        assert r.returncode == 0, r.stderr
        [entry] = json.loads(r.stdout)["entries"]
        v = entry["value"]
        assert (v["ppid"], v["gppid"]) == (os.getpid(), os.getppid())
        assert (v["pid"], v["tgid"], v["same_pid"], v["same_tgid"]) == (child.pid, child.pid, 1, 1)
        assert v["start_time"] > 0 and v["exit_code"] == 0 and v["null_read"] == 0
        r = run_cli("status", "task_fields", *common)  # patched .rodata is not drift
        assert r.returncode == 0 and "in sync" in r.stdout, r.stdout + r.stderr
    finally:
        run_cli("detach", "task_fields", *common)
        shutil.rmtree(root, ignore_errors=True)
    assert obj.read_bytes() == before  # offsets went into the copy loaded, not the artifact
    assert objglobals.read(before, "TATARA_KOFF_ON_EXEC_TASK__TASK_STRUCT__TGID") == T.KOFF_UNSET


@pytest.mark.kernel
@pytest.mark.compile
def test_apply_without_kernel_btf_exits_5_and_loads_nothing(built, tmp_path):
    root = Path(f"/sys/fs/bpf/tt-task-nobtf-{os.getpid()}")
    env = {**os.environ, "TATARA_KERNEL_BTF": str(tmp_path / "none")}
    try:
        r = subprocess.run([sys.executable, "-m", "tatara_build", "apply", "task_fields",
                            *_common(built, root)], capture_output=True, text=True, env=env)
        assert r.returncode == 5, r.stdout + r.stderr
        assert "cannot read the kernel's BTF" in r.stderr and "Traceback" not in r.stderr
        assert not (root / "task_fields").exists() or not any((root / "task_fields").rglob("*"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.kernel
@pytest.mark.compile
def test_bpfman_runtime_gets_the_offsets_as_globals(bpfman_env, built, tmp_path):  # noqa: F811
    """Through bpfman the offsets go in as `--global NAME=HEX` (aya writes .rodata)."""
    from tests.bpfman_util import unload_app

    env = bpfman_env
    root = Path(f"/sys/fs/bpf/tt-task-bpfman-{os.getpid()}")
    args = ["task_fields", str(FIXTURE), "--artifacts", str(built), "--pin-root", str(root)]
    try:
        r = subprocess.run([sys.executable, "-m", "tatara_build", "apply", *args, "--runtime",
                            "bpfman"], capture_output=True, text=True, env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        child = subprocess.Popen(["/bin/true"])
        child.wait()
        r = subprocess.run([sys.executable, "-m", "tatara_build", "map", "get", "task_fields",
                            "by_pid", *args[1:], "--key", str(child.pid), "--json"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        v = json.loads(r.stdout)["entries"][0]["value"]
        assert (v["ppid"], v["gppid"], v["pid"]) == (os.getpid(), os.getppid(), child.pid)
    finally:
        subprocess.run([sys.executable, "-m", "tatara_build", "detach", *args],
                       capture_output=True, env=env, cwd=tmp_path)
        unload_app(env["TATARA_BPFMAN"], env, "tatara-task_fields")
        shutil.rmtree(root, ignore_errors=True)


def _blob(types: list[bytes], strings: bytes) -> bytes:
    body = b"".join(types)
    return struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(body), len(body), len(strings)) \
        + body + strings


def test_btf_parser_looks_through_anonymous_members_and_typedefs():
    """A hand-made BTF blob: `struct outer { int a; struct { int pad; int b; }; pid_t c;
    int *p; int arr[3]; }` plus a bitfield struct, the shapes vmlinux uses."""
    strings = b"\0int\0outer\0a\0b\0pid_t\0c\0p\0arr\0bits\0f\0pad\0"
    off = {n: strings.index(b"\0" + n.encode() + b"\0") + 1 for n in
           ("int", "outer", "a", "b", "pid_t", "c", "p", "arr", "bits", "f", "pad")}

    def rec(name, kind, vlen, ref, kflag=0):
        return struct.pack("<III", off.get(name, 0), (kflag << 31) | (kind << 24) | vlen, ref)

    def m(name, tid, bits):
        return struct.pack("<III", off[name], tid, bits)

    types = [
        rec("int", 1, 0, 4) + struct.pack("<I", 32),  # [1] int
        rec("", 4, 2, 8) + m("pad", 1, 0) + m("b", 1, 32),  # [2] anonymous struct
        rec("pid_t", 8, 0, 1),  # [3] typedef int pid_t
        rec("", 2, 0, 1),  # [4] int *
        rec("", 3, 0, 0) + struct.pack("<III", 1, 1, 3),  # [5] int[3]
        rec("outer", 4, 5, 40) + m("a", 1, 0) + struct.pack("<III", 0, 2, 32)
        + m("c", 3, 96) + m("p", 4, 128) + m("arr", 5, 192),  # [6]
        rec("bits", 4, 1, 4, kflag=1) + m("f", 1, (3 << 24) | 0),  # [7] int f:3
    ]
    btf = kbtf.Btf(_blob(types, strings))
    outer = btf.find_struct("outer")
    assert outer == 6 and btf.find_struct("nope") is None
    assert btf.member(outer, "a") == (0, 4)
    assert btf.member(outer, "b") == (8, 4)  # 4 (the anonymous struct) + 4 inside it
    assert btf.member(outer, "c") == (12, 4)  # through the typedef
    assert btf.member(outer, "p") == (16, 8) and btf.member(outer, "arr") == (24, 12)
    assert btf.member(btf.find_struct("bits"), "f") is None  # a bitfield has no byte offset
    with pytest.raises(ValueError, match="bad magic"):
        kbtf.Btf(b"\0" * 32)


@pytest.mark.kernel
@pytest.mark.compile
def test_bootstrap_port_reports_exec_and_exit_with_ppid_and_exit_code(tmp_path):
    """tests/fixtures/bootstrap.tlisp (libbpf-bootstrap's bootstrap.bpf.c): a child that
    runs `exit 3` gives an exec event and an exit event naming us as its parent."""
    import queue
    import threading
    import time

    require_kernel()
    spec = Path(__file__).parent / "fixtures" / "bootstrap.tlisp"
    r = build_cli([spec], tmp_path / "out")
    assert r.returncode == 0, r.stderr[-3000:]
    root = Path(f"/sys/fs/bpf/tt-task-boot-{os.getpid()}")
    common = [str(spec), "--artifacts", str(tmp_path / "out/artifacts"), "--pin-root", str(root)]
    reader = None
    try:
        r = run_cli("apply", "bootstrap", *common)
        assert r.returncode == 0, r.stderr
        reader = subprocess.Popen([sys.executable, "-m", "tatara_build", "events", "bootstrap",
                                   "rb", str(spec), "--pin-root", str(root), "--json",
                                   "--timeout", "30"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in reader.stdout], daemon=True).start()  # type: ignore[union-attr]
        time.sleep(1.0)  # the reader is attached before the child runs
        child = subprocess.Popen(["/bin/sh", "-c", "sleep 0.2; exit 3"])
        child.wait()
        mine, deadline = {}, time.monotonic() + 20
        while len(mine) < 2 and time.monotonic() < deadline:
            try:
                rec = json.loads(lines.get(timeout=1))
            except queue.Empty:
                continue
            if rec["pid"] == child.pid:
                mine[rec["exit_event"]] = rec
        assert set(mine) == {0, 1}, mine
        assert mine[0]["ppid"] == mine[1]["ppid"] == os.getpid()
        assert mine[0]["comm"] == mine[1]["comm"] == "sh"
        assert mine[1]["exit_code"] == 3 and mine[1]["duration_ns"] >= 150_000_000
    finally:
        if reader is not None:
            reader.kill()
            reader.wait()
        run_cli("detach", "bootstrap", *common)
        shutil.rmtree(root, ignore_errors=True)
