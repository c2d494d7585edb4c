"""Records on a ring buffer and the `events` verb, in the real kernel (issue 14):
examples/exec-events.tlisp emits one record per exec; the verb reads ours back."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tatara_build.model.records import FieldSpec, StructSpec, decode, layout
from tests.conftest import EXAMPLES, build_cli, run_cli
from tests.kernel_util import require_kernel

SPEC = EXAMPLES / "exec-events.tlisp"


def test_layout_is_c_and_decoding_names_fields():
    s = StructSpec(name="e", fields=[FieldSpec(name="a", type="u8"), FieldSpec(name="b", type="u32"),
                                     FieldSpec(name="ip", type="ipv4"), FieldSpec(name="c", type="bytes:3"),
                                     FieldSpec(name="m", type="mac"), FieldSpec(name="n", type="u64")])
    lay = layout(s)
    assert [x.offset for x in lay.slots] == [0, 4, 8, 12, 15, 24] and lay.size == 32
    raw = bytes([1, 0, 0, 0, 2, 0, 0, 0, 10, 0, 0, 1, 65, 66, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0,
                 5, 0, 0, 0, 0, 0, 0, 0])
    assert decode(s, raw) == {"a": 1, "b": 2, "ip": "10.0.0.1", "c": "AB",
                              "m": "02:00:00:00:00:01", "n": 5}


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    require_kernel()
    out = tmp_path_factory.mktemp("events") / "out"
    r = build_cli([SPEC], out)
    assert r.returncode == 0, r.stderr[-3000:]
    root = Path(f"/sys/fs/bpf/tt-events-{os.getpid()}")
    common = [str(SPEC), "--artifacts", str(out / "artifacts"), "--pin-root", str(root)]
    r = run_cli("apply", "exec_events", *common)
    try:
        assert r.returncode == 0, r.stderr
        yield root
    finally:
        run_cli("detach", "exec_events", *common)
        shutil.rmtree(root, ignore_errors=True)


def _exec_unique(tmp_path: Path, tag: str) -> tuple[str, int]:
    name = f"tt{tag}{os.getpid() % 100000}"[:15]
    exe = tmp_path / name
    shutil.copy("/bin/true", exe)
    child = subprocess.Popen([str(exe)])
    child.wait()
    return name, child.pid


@pytest.mark.kernel
@pytest.mark.compile
def test_the_events_verb_reads_our_exec_and_stops_cleanly_on_ctrl_c(applied, tmp_path):
    name, pid = _exec_unique(tmp_path, "ev")
    p = subprocess.Popen([sys.executable, "-m", "tatara_build", "events", "exec_events",
                          "exec_ring", str(SPEC), "--pin-root", str(applied), "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    found, deadline = None, time.monotonic() + 20
    try:
        while found is None and time.monotonic() < deadline:
            line = p.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            rec = json.loads(line)
            assert set(rec) == {"pid", "tgid", "uid", "comm", "ts_ns"}
            if rec["comm"] == name:
                found = rec
    finally:
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=10)
    assert found is not None, err
    assert found["pid"] == pid and found["tgid"] == pid and found["uid"] == os.getuid()
    assert found["ts_ns"] > 0
    assert p.returncode == 0 and "Traceback" not in err and "stopped" in err


@pytest.mark.kernel
@pytest.mark.compile
def test_count_stops_after_n_lines_and_text_names_fields(applied, tmp_path):
    _exec_unique(tmp_path, "n")
    _exec_unique(tmp_path, "m")
    r = run_cli("events", "exec_events", "exec_ring", str(SPEC), "--pin-root", str(applied),
                "--count", "2", "--timeout", "20")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and all(ln.startswith("pid=") and " comm=" in ln for ln in lines)


def test_events_refuses_a_map_that_is_not_an_output(spec):
    d = spec({"a.tlisp": '(defbpf-map :name "m" :kind :array :key-size 4 :value-size 8 :max-entries 1)\n'
              '(defbpf-program :name "p" :kind :xdp :attach (:target "e") :source "x.rs")\n'
              '(defbpf-policy :name "pol" :description "d" :programs ("p") :maps ("m"))\n'})
    (d / "x.rs").write_text("pub fn run(_ctx: &aya_ebpf::programs::XdpContext) -> u32 { 2 }\n")
    r = run_cli("events", "pol", "m", str(d / "a.tlisp"))
    assert r.returncode == 1 and "not an output map" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("events", "pol", "nope", str(d / "a.tlisp"))
    assert r.returncode == 1 and "policy `pol` has no map `nope`" in r.stderr


@pytest.mark.kernel
@pytest.mark.compile
def test_perf_event_array_emit_with_stack_id_and_tp_field(tmp_path):
    """tests/fixtures/dsl_trace.tlisp: get-stackid, tp-field and emit to a perf event array."""
    require_kernel()
    spec = Path(__file__).parent / "fixtures" / "dsl_trace.tlisp"
    out = tmp_path / "out"
    r = build_cli([spec], out)
    assert r.returncode == 0, r.stderr[-3000:]
    root = Path(f"/sys/fs/bpf/tt-perf-{os.getpid()}")
    common = [str(spec), "--artifacts", str(out / "artifacts"), "--pin-root", str(root)]
    try:
        r = run_cli("apply", "dsl_trace", *common)
        assert r.returncode == 0, r.stderr
        p = subprocess.Popen([sys.executable, "-m", "tatara_build", "events", "dsl_trace",
                              "pgid_events", str(spec), "--pin-root", str(root), "--json",
                              "--timeout", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        asked = 700000 + os.getpid() % 100000
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in p.stdout], daemon=True).start()  # type: ignore[union-attr]
        found, deadline = None, time.monotonic() + 20
        while found is None and time.monotonic() < deadline:
            try:
                os.getpgid(asked)  # no such process: the syscall still enters the tracepoint
            except ProcessLookupError:
                pass
            time.sleep(0.2)
            while not lines.empty():
                rec = json.loads(lines.get())
                if rec.get("asked") == asked and rec.get("tgid") == os.getpid():
                    found = rec
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=10)
        assert found is not None, err
        assert found["stack_id"] < 2**63 and found["comm"].startswith("python")
        assert p.returncode == 0 and "Traceback" not in err
    finally:
        run_cli("detach", "dsl_trace", *common)
        shutil.rmtree(root, ignore_errors=True)


def test_tp_format_prints_a_struct_whose_layout_keeps_the_kernel_offsets(tmp_path):
    from tatara_build.cli.tp_format_verb import parse_format

    text = ("\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
            "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n"
            "\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;\n"
            "\tfield:char comm[16];\toffset:12;\tsize:16;\tsigned:0;\n"
            "\tfield:u64 when;\toffset:32;\tsize:8;\tsigned:0;\n")
    s = parse_format(text, "t")
    lay = {x.name: (x.offset, x.type) for x in layout(s).slots}
    assert lay["common_pid"] == (4, "u32") and lay["filename_loc"] == (8, "u32")
    assert lay["comm"] == (12, "bytes:16") and lay["when"] == (32, "u64")
    assert lay["_pad2"] == (2, "bytes:2") and lay["_pad28"] == (28, "bytes:4")
    if Path("/sys/kernel/tracing/events/sched/sched_process_exec/format").exists():
        r = run_cli("tp-format", "sched/sched_process_exec")
        assert r.returncode == 0 and "(pid :u32)" in r.stdout
        (tmp_path / "s.tlisp").write_text(r.stdout)
        assert run_cli("check", str(tmp_path / "s.tlisp")).returncode == 0
    r = run_cli("tp-format", "nope")
    assert r.returncode == 1 and "is not CATEGORY/EVENT" in r.stderr


@pytest.mark.kernel
@pytest.mark.compile
def test_sockfilter_port_on_an_af_packet_socket_emits_so_events(tmp_path):
    """libbpf-bootstrap's sockfilter in the DSL (tests/fixtures/ports.tlisp): attached to a
    raw socket on lo, it sends one so_event per IPv4 packet; `events` decodes ours."""
    import ctypes
    import socket

    from tatara_build.runtime.events import libbpf

    require_kernel()
    spec = Path(__file__).parent / "fixtures" / "ports.tlisp"
    out = tmp_path / "out"
    r = build_cli([spec], out)
    assert r.returncode == 0, r.stderr[-3000:]
    root = Path(f"/sys/fs/bpf/tt-sock-{os.getpid()}")
    common = [str(spec), "--artifacts", str(out / "artifacts"), "--pin-root", str(root)]
    raw = None
    try:
        r = run_cli("apply", "ports_sock", *common)
        assert r.returncode == 0, r.stderr
        fd = libbpf().bpf_obj_get(str(root / "ports_sock/progs/socket_handler").encode())
        assert fd >= 0, ctypes.get_errno()
        raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
        raw.bind(("lo", 0))
        raw.setsockopt(socket.SOL_SOCKET, 50, fd)  # SO_ATTACH_BPF
        os.close(fd)
        dport = 40000 + os.getpid() % 20000
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"x", ("127.0.0.1", dport))
        r = run_cli("events", "ports_sock", "rb", str(spec), "--pin-root", str(root), "--json",
                    "--timeout", "3")
        assert r.returncode == 0, r.stderr
        events = [json.loads(ln) for ln in r.stdout.splitlines()]
        ours = [e for e in events if e["ports"] & 0xFFFF == dport and e["ip_proto"] == 17]
        assert ours, events[:5]
        assert ours[0]["src_addr"] == "127.0.0.1" and ours[0]["dst_addr"] == "127.0.0.1"
        assert ours[0]["ifindex"] == socket.if_nametoindex("lo")
    finally:
        if raw is not None:
            raw.close()
        run_cli("detach", "ports_sock", *common)
        shutil.rmtree(root, ignore_errors=True)
