"""Packet writes (lower/bpf_fn/stores.py, Pkt's setters in templates/crate/rt.rs): what they
lower to, every misuse refused by `check` at its file:line:col, and in the kernel: stores,
port/address rewrites over TCP and UDP (xdp and tc) with every checksum recomputed in
Python on the packet the program left."""

from __future__ import annotations

import json
import random
import socket
import struct
from dataclasses import replace
from pathlib import Path

import pytest

from tatara_build.model.testspec import Packet
from tatara_build.testing.packets import build
from tests.conftest import BUILD_TARGET, ROOT, run_cli
from tests.kernel_util import require_kernel
from tests.test_bpf_fn import lower, lower_error
from tests.test_bpf_fn_check import _spec

FIXTURE = ROOT / "tests" / "fixtures" / "packet_writes" / "writes.tlisp"


def test_stores_and_setters_lower_to_checked_pkt_calls(spec):
    body = lower(spec, "(store-u16 ctx 12 2048) (set-l4-dport ctx 5353) (swap-macs ctx) "
                       "(return :xdp-tx)")
    assert "pkt.store_u16(12_u64, 2048_u64)?;" in body
    var = lower(spec, "(store-u8 ctx (packet-len ctx) 1) (return :xdp-tx)")
    assert "pkt.store_u8(t" in var  # literal or computed: one asm check-and-store (rt.rs)
    assert "pw.set_l4_dport(5353_u64)?;" in body and "pw.swap_macs()?;" in body
    assert "let pkt = crate::rt::Pkt::new(" in body
    tc = lower(spec, "(set-ipv4-src ctx (+ (ipv4-src ctx) 1)) (return :tc-act-ok)", ":tc")
    assert "pw.set_ipv4_src(t" in tc  # tc keeps the skb for its checksum state
    assert "let pw = crate::rt::PktW::new_skb(&pkt, &hdr, ctx.skb.skb);" in tc
    assert "let hdr = pkt.parse::<3>();" in tc  # setters take the headers from it


@pytest.mark.parametrize("body, kind, message, col", [
    ("(store-u8 ctx 0 1)", ":cgroup-skb",
     "`(store-u8 …)` writes the packet; `:cgroup-skb` programs cannot (the kernel gives them "
     "read-only packet access)", 3),
    ("(set-ip-ttl ctx 1)", ":socket-filter",
     "`(set-ip-ttl …)` writes the packet; `:socket-filter` programs cannot (the kernel gives "
     "them read-only packet access)", 3),
    ("(swap-macs ctx)", ":tracepoint",
     "`(swap-macs …)` writes the packet; `:tracepoint` programs cannot (they have no packet)", 3),
    ("(store-u16 ctx 12)", ":xdp", "`(store-u16 …)` takes the context `ctx` offset value", 3),
    ("(store-u32 1 2 3)", ":xdp", "`(store-u32 …)` takes the context `ctx` offset value", 3),
    ("(set-l4-dport ctx)", ":xdp", "`(set-l4-dport …)` takes the context `ctx` value", 3),
    ("(swap-ipv4 ctx 1)", ":xdp", "`(swap-ipv4 …)` takes the context `ctx`", 3),
    ("(store-u8 ctx 0 256)", ":xdp",
     "`store-u8` writes 1 byte(s): the value is 8 bits wide; 256 does not fit", 19),
    ("(set-l4-sport ctx 65536)", ":tc",
     "the field `set-l4-sport` writes is 16 bits wide; 65536 does not fit", 21),
    ("(set-icmp-type ctx (map-set cnt 0 1))", ":xdp",
     "this form has no value here (it returns or is a statement)", 22),
    ("(return (+ (swap-macs ctx) 1))", ":xdp",
     "this form has no value here (it returns or is a statement)", 14),
])
def test_misused_writes_are_located_errors(spec, body, kind, message, col):
    d = lower_error(spec, body, kind)
    assert d.message == message
    assert d.span.file.endswith("a.tlisp") and (d.span.line, d.span.col) == (8, col)


def test_check_refuses_a_store_in_cgroup_skb_at_its_location(spec):
    d = _spec(spec, "(set-l4-dport ctx 53)", ":cgroup-skb")
    r = run_cli("check", str(d / "a.tlisp"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "a.tlisp:8:3" in r.stderr and "packet writes work in :xdp and :tc programs" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_setter_value_is_any_expression_and_the_form_is_a_statement(spec):
    body = lower(spec, "(when (= (ip-ttl ctx) 1) (set-ip-ttl ctx 64)) (return :xdp-pass)")
    assert "pw.set_ip_ttl(64_u64)?;" in body


# --- checksums, by the RFC 1071 sum, on what the kernel hands back --------------------------

def _fold(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def checksums_ok(pkt: bytes) -> dict[str, bool]:
    """Each checksum of an Ethernet/IPv4 packet verified from scratch (sum folds to 0xffff)."""
    ihl = (pkt[14] & 15) * 4
    ip, l4 = pkt[14:14 + ihl], pkt[14 + ihl:]
    out = {"ipv4": _fold(ip) == 0xFFFF}
    pseudo = ip[12:20] + bytes([0, ip[9]]) + struct.pack("!H", len(l4))
    if ip[9] == 17 and l4[6:8] == b"\0\0":
        out["udp"] = True  # no checksum: stays none
    elif ip[9] in (6, 17):
        out["l4"] = _fold(pseudo + l4) == 0xFFFF
    elif ip[9] == 1:
        out["icmp"] = _fold(l4) == 0xFFFF
    return out


def _objects(tmp_path: Path) -> Path:
    r = run_cli("build", str(FIXTURE), "-o", str(tmp_path / "out"), "--target-dir",
                str(BUILD_TARGET))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    [obj] = (tmp_path / "out" / "artifacts").glob("*/*.bpf.o")
    return obj


@pytest.mark.kernel
@pytest.mark.compile
def test_rewrites_keep_every_checksum_valid_on_random_packets(tmp_path):
    """Random addresses, ports, TTLs, payloads and IP options through the xdp and tc
    rewrites: every output checksum verifies, and a UDP packet without a checksum keeps 0."""
    require_kernel()
    from tatara_build.runtime import bpftool
    from tatara_build.runtime.probe import scratch_pins
    from tatara_build.testing.runner import _prog_run
    obj, rng, checked = _objects(tmp_path), random.Random(1624), 0
    with scratch_pins("tatara-write-") as scratch:
        assert bpftool.loadall(obj, scratch / "progs", scratch / "maps").ok
        for i in range(60):
            l4 = {"tcp": {"sport": rng.randrange(65536), "dport": 53, "flags": "PA"}} \
                if i % 2 else {"udp": {"sport": rng.randrange(65536), "dport": 53}}
            src = socket.inet_ntoa(rng.randbytes(4))
            opts = "" if i % 3 else "01010100"
            pkt = build(Packet(ipv4={"src": src, "dst": "10.0.0.2", "ttl": rng.randrange(1, 256),
                                     "options": opts},
                               payload=rng.randbytes(rng.randrange(0, 40)).hex(), **l4))
            if i % 5 == 0 and "udp" in l4:
                at = 14 + (pkt[14] & 15) * 4 + 6
                pkt = pkt[:at] + b"\0\0" + pkt[at + 2:]  # UDP without a checksum
            prog = "dns_nat" if i % 4 < 2 else "dns_nat_tc"
            run, out = _prog_run(scratch / "progs" / prog, pkt)
            assert run.ok, run.stderr
            ihl = (out[14] & 15) * 4
            assert out[30:34] == socket.inet_aton("10.0.0.53"), out.hex()
            assert struct.unpack("!HH", out[14 + ihl:18 + ihl]) == (2000, 5353)
            assert out[22] == (pkt[22] - 1) & 255
            ok = checksums_ok(out)
            assert all(ok.values()), (i, ok, pkt.hex(), out.hex())
            if i % 5 == 0 and "udp" in l4:
                assert out[14 + ihl + 6:14 + ihl + 8] == b"\0\0"
            checked += 1
    assert checked == 60


def test_checksums_ok_catches_a_wrong_checksum():
    pkt = bytearray(build(Packet(ipv4={}, udp={"dport": 53}, payload="6869")))
    assert all(checksums_ok(bytes(pkt)).values())
    pkt[-1] ^= 1
    assert checksums_ok(bytes(pkt)) == {"ipv4": True, "l4": False}


@pytest.mark.kernel
@pytest.mark.compile
def test_the_fixture_defbpf_tests_pass_in_the_kernel(tmp_path):
    """The fixture's `:packet-out` tests: builder-made expected packets (checksums computed
    from scratch) equal the rewritten ones byte for byte, in xdp and tc."""
    require_kernel()
    r = run_cli("test", str(FIXTURE), "-o", str(tmp_path / "out"), "--target-dir",
                str(BUILD_TARGET), "--json")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    data = json.loads(r.stdout)
    assert (data["passed"], data["failed"]) == (11, 0)


def _ip_checksum(pkt: bytearray) -> None:
    ihl = (pkt[14] & 15) * 4
    pkt[24:26] = b"\0\0"
    pkt[24:26] = struct.pack("!H", 0xFFFF ^ _fold(bytes(pkt[14:14 + ihl])))


@pytest.mark.kernel
@pytest.mark.compile
def test_fragments_and_cut_short_headers(tmp_path):
    """A non-first IPv4 fragment has no L4 header: the address and TTL change (header
    checksum fixed), the bytes where ports would be do not. A TCP header cut short before
    its checksum: the default verdict, and not one byte written."""
    require_kernel()
    from tatara_build.runtime import bpftool
    from tatara_build.runtime.probe import scratch_pins
    from tatara_build.testing.runner import _prog_run
    obj = _objects(tmp_path)
    frag = bytearray(build(Packet(ipv4={"dst": "10.0.0.2"}, udp={"sport": 9, "dport": 53},
                                  payload="tail")))
    frag[20:22] = struct.pack("!H", 1)  # fragment offset 8 bytes
    _ip_checksum(frag)
    short = build(Packet(ipv4={"dst": "10.0.0.2"}, tcp={"sport": 9, "dport": 53}))[:14 + 20 + 10]
    with scratch_pins("tatara-write-") as scratch:
        assert bpftool.loadall(obj, scratch / "progs", scratch / "maps").ok
        for prog, default in (("dns_nat", 2), ("dns_nat_tc", 0)):  # XDP_PASS, TC_ACT_OK
            run, out = _prog_run(scratch / "progs" / prog, bytes(frag))
            assert run.ok, run.stderr
            assert out[30:34] == socket.inet_aton("10.0.0.53") and out[22] == 63
            assert checksums_ok(out)["ipv4"]
            assert out[34:] == frag[34:]  # ports, UDP checksum and payload untouched
            run, out = _prog_run(scratch / "progs" / prog, short)
            assert run.ok and json.loads(run.stdout)["retval"] == default, run.stdout
            assert out == short


# Sends `n` ICMP echo requests from a raw socket and counts the replies whose IPv4 and ICMP
# checksums verify (run inside the pinging netns).
PING = r'''
import socket, struct, sys, time
def csum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return 0xffff ^ s
dst, n, got = sys.argv[1], int(sys.argv[2]), 0
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(2)
for seq in range(1, n + 1):
    body = struct.pack("!BBHHH", 8, 0, 0, 4242, seq) + b"tatara-ping!"
    s.sendto(body[:2] + struct.pack("!H", csum(body)) + body[4:], (dst, 0))
    end = time.time() + 2
    while time.time() < end:
        try:
            pkt, addr = s.recvfrom(2048)
        except socket.timeout:
            break
        ihl = (pkt[0] & 15) * 4
        icmp = pkt[ihl:]
        if addr[0] == dst and icmp[0] == 0 and struct.unpack("!HH", icmp[4:8]) == (4242, seq):
            got += csum(icmp) == 0 and csum(pkt[:ihl]) == 0
            break
print(got)
'''


def _sh(*argv: str):
    import subprocess
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def _two_netns(a: str, b: str) -> None:
    """`eth0` in netns `a` (10.77.0.1) wired to `eth0` in netns `b` (10.77.0.2), whose
    kernel ignores echo requests."""
    for cmd in (("ip", "netns", "add", a), ("ip", "netns", "add", b),
                ("ip", "-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
                 "netns", b),
                ("ip", "-n", a, "addr", "add", "10.77.0.1/24", "dev", "eth0"),
                ("ip", "-n", b, "addr", "add", "10.77.0.2/24", "dev", "eth0"),
                ("ip", "-n", a, "link", "set", "eth0", "up"),
                ("ip", "-n", b, "link", "set", "eth0", "up"),
                ("ip", "netns", "exec", b, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1")):
        assert _sh(*cmd).returncode == 0, cmd


@pytest.mark.kernel
@pytest.mark.compile
def test_icmp_echo_example_answers_a_real_ping(tmp_path, monkeypatch):
    """examples/icmp-echo.tlisp applied on `eth0` of one netns answers pings from another
    (its kernel ignores echo requests, so every reply is the program's XDP_TX) with valid
    checksums; after `detach` nothing answers. The pinging side runs the same policy too:
    a veth delivers XDP_TX frames only to a peer with XDP (or GRO) enabled."""
    require_kernel()
    import os
    example, out = ROOT / "examples" / "icmp-echo.tlisp", tmp_path / "out"
    r = run_cli("build", str(example), "-o", str(out), "--target-dir", str(BUILD_TARGET))
    assert r.returncode == 0, r.stderr[-2000:]
    tag = os.getpid() % 100000
    a, b = f"twa{tag}", f"twb{tag}"

    def tool(verb: str, ns: str):
        monkeypatch.setenv("TATARA_STATE_DIR", str(tmp_path / f"state-{ns}"))
        return run_cli(verb, "icmp-echo", str(example), "--artifacts", str(out / "artifacts"),
                       "--pin-root", f"/sys/fs/bpf/{ns}", "--netns", ns)

    try:
        _two_netns(a, b)
        for ns in (b, a):
            r = tool("apply", ns)
            assert r.returncode == 0, r.stdout + r.stderr
        ping = _sh("ip", "netns", "exec", a, "python3", "-c", PING, "10.77.0.2", "3")
        assert ping.stdout.strip() == "3", ping.stdout + ping.stderr
        got = _sh("bpftool", "-j", "map", "lookup", "pinned",
                  f"/sys/fs/bpf/{b}/icmp_echo/maps/echo_counts", "key", "0", "0", "0", "0")
        value = bytes(int(x, 16) for x in json.loads(got.stdout)["value"])
        assert int.from_bytes(value, "little") == 3, got.stdout
        assert tool("detach", b).returncode == 0
        ping = _sh("ip", "netns", "exec", a, "python3", "-c", PING, "10.77.0.2", "1")
        assert ping.stdout.strip() == "0", ping.stdout + ping.stderr
    finally:
        for ns in (a, b):
            tool("detach", ns)
            _sh("ip", "netns", "del", ns)
            _sh("rmdir", f"/sys/fs/bpf/{ns}")


def test_setters_in_a_helper_take_its_context_parameter(spec):
    d = spec({"a.tlisp": '(defbpf-program :name "p" :kind :tc :attach (:target "e" :direction '
                         '"ingress") :source "a.tlisp:f")\n'
                         '(defbpf-policy :name "pol" :description "d" :programs ("p"))\n'
                         '(bpf-fn hop (c) (set-ip-ttl c (- (ip-ttl c) 1)))\n'
                         '(bpf-fn f (ctx) (hop ctx) (return :tc-act-ok))\n'})
    r = run_cli("check", str(d / "a.tlisp"))
    assert r.returncode == 0, r.stderr
    from tatara_build.cli.render import render_files
    body = render_files([d])[0]["pol/src/bodies.rs"].decode()
    assert "pw.set_ip_ttl(t" in body


def _udp_sum_field(pkt: bytearray) -> None:
    """Set the UDP checksum of an Ethernet/IPv4/UDP packet to the correct value."""
    ihl = (pkt[14] & 15) * 4
    at = 14 + ihl
    pkt[at + 6:at + 8] = b"\0\0"
    ip, l4 = bytes(pkt[14:at]), bytes(pkt[at:])
    pseudo = ip[12:20] + bytes([0, 17]) + struct.pack("!H", len(l4))
    pkt[at + 6:at + 8] = struct.pack("!H", 0xFFFF ^ _fold(pseudo + l4))


@pytest.mark.kernel
@pytest.mark.compile
def test_a_udp_checksum_that_computes_to_zero_is_sent_as_ffff(tmp_path):
    """Payload bytes chosen so the rewritten packet's UDP sum is 0xffff: its checksum
    computes to 0, which in UDP means "none", so the program must write 0xffff."""
    require_kernel()
    from tatara_build.runtime import bpftool
    from tatara_build.runtime.probe import scratch_pins
    from tatara_build.testing.runner import _prog_run
    obj = _objects(tmp_path)
    base = Packet(ipv4={"src": "10.0.0.1", "dst": "10.0.0.2", "ttl": 64},
                  udp={"sport": 40000, "dport": 53}, payload="abcd0000")
    after = bytearray(build(replace(base, **{
        "ipv4": replace(base.ipv4, **{"dst": "10.0.0.53", "ttl": 63}),
        "udp": replace(base.udp, **{"sport": 2000, "dport": 5353})})))
    after[-2:] = b"\0\0"
    ihl = (after[14] & 15) * 4
    l4 = bytes(after[14 + ihl:])
    l4 = l4[:6] + b"\0\0" + l4[8:]
    pseudo = bytes(after[26:34]) + bytes([0, 17]) + struct.pack("!H", len(l4))
    fill = 0xFFFF ^ _fold(pseudo + l4)  # makes the rewritten packet's sum 0xffff
    pkt = bytearray(build(base))
    pkt[-2:] = struct.pack("!H", fill)
    _udp_sum_field(pkt)
    assert pkt[14 + ihl + 6:14 + ihl + 8] != b"\0\0"
    with scratch_pins("tatara-write-") as scratch:
        assert bpftool.loadall(obj, scratch / "progs", scratch / "maps").ok
        for prog in ("dns_nat", "dns_nat_tc"):
            run, out = _prog_run(scratch / "progs" / prog, bytes(pkt))
            assert run.ok, run.stderr
            assert out[14 + ihl + 6:14 + ihl + 8] == b"\xff\xff", out.hex()
            assert all(checksums_ok(out).values())


def _tc_egress(spec, body: str):
    return spec({"a.tlisp": '(defbpf-program :name "p" :kind :tc :attach (:target "e" '
                            ':direction "egress") :source "a.tlisp:f")\n'
                            '(defbpf-policy :name "pol" :description "d" :programs ("p"))\n'
                            f'(bpf-fn f (ctx)\n  {body}\n  (return :tc-act-ok))\n'})


@pytest.mark.parametrize("form", ["(set-l4-dport ctx 53)", "(set-ipv4-src ctx 1)"])
def test_tcp_udp_checksum_setters_are_refused_on_tc_egress(spec, form):
    r = run_cli("check", str(_tc_egress(spec, form) / "a.tlisp"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "a.tlisp:4:3" in r.stderr and "on egress: locally sent TCP/UDP packets" in r.stderr
    assert "rewrite on ingress, or in xdp" in r.stderr


def test_setters_without_a_tcp_udp_checksum_work_on_tc_egress(spec):
    d = _tc_egress(spec, "(set-ip-ttl ctx 9) (swap-l4-ports ctx) (store-u8 ctx 0 1)")
    r = run_cli("check", str(d / "a.tlisp"))
    assert r.returncode == 0, r.stderr


LOOP_BODY = ("(for (i 3) (set-ip-ttl ctx (- (ip-ttl ctx) 1)) (set-l4-sport ctx (+ (l4-sport ctx) 1)))"
             " (return :xdp-tx)")


def test_a_setter_in_a_loop_reuses_the_one_pktw_built_before_it(spec):
    """Setters inside `(for …)` take their headers from the `PktW` built once at the top of
    the body from its one parse, not a walk per trip."""
    body = lower(spec, LOOP_BODY)
    init = "let pw = crate::rt::PktW::new(&pkt, &hdr);"
    assert body.count(init) == 1 and body.count("pkt.parse::<") == 1
    loop = body.index("pw.set_ip_ttl(")
    assert body.index("pkt.parse::<") < body.index(init) < loop
    assert "PktW::new" not in body[loop:] and "parse::<" not in body[loop:]


@pytest.mark.kernel
@pytest.mark.compile
def test_setters_in_a_loop_fold_each_checksum_once_and_right(tmp_path, spec):
    """Two setters per trip over three loop trips, each fixing its checksums from the
    one `PktW`: the TTL and port land and both checksums verify."""
    require_kernel()
    from tatara_build.runtime import bpftool
    from tatara_build.runtime.probe import scratch_pins
    from tatara_build.testing.runner import _prog_run
    d = spec({"l.tlisp": '(defbpf-program :name "loop_set" :kind :xdp :attach (:target "e") '
                         ':source "l.tlisp:f")\n'
                         '(defbpf-policy :name "pol" :description "d" :programs ("loop_set"))\n'
                         f'(bpf-fn f (ctx)\n  {LOOP_BODY})\n'})
    r = run_cli("build", str(d / "l.tlisp"), "-o", str(tmp_path / "out"), "--target-dir",
                str(BUILD_TARGET))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    [obj] = (tmp_path / "out" / "artifacts").glob("*/*.bpf.o")
    rng = random.Random(15)
    with scratch_pins("tatara-write-") as scratch:
        assert bpftool.loadall(obj, scratch / "progs", scratch / "maps").ok
        for _ in range(20):
            sport, ttl = rng.randrange(65536), rng.randrange(3, 256)
            pkt = build(Packet(ipv4={"src": socket.inet_ntoa(rng.randbytes(4)), "ttl": ttl},
                               udp={"sport": sport, "dport": 53},
                               payload=rng.randbytes(rng.randrange(1, 30)).hex()))
            run, out = _prog_run(scratch / "progs" / "loop_set", pkt)
            assert run.ok and json.loads(run.stdout)["retval"] == 3, run.stdout  # XDP_TX
            assert out[22] == ttl - 3 and struct.unpack("!H", out[34:36])[0] == (sport + 3) & 0xFFFF
            assert checksums_ok(out) == {"ipv4": True, "l4": True}, (pkt.hex(), out.hex())


@pytest.mark.kernel
@pytest.mark.compile
def test_tc_rewrites_keep_a_checksum_complete_skb_right(tmp_path):
    """A CHECKSUM_COMPLETE skb carries the sum of its bytes from the device; an address
    setter changes that sum through the TCP/UDP pseudo-header (its field and the IPv4
    header checksum cancel out, the L4 checksum's change does not), so tc setters add the
    change with bpf_csum_update. BPF_F_TEST_SKB_CHECKSUM_COMPLETE makes the kernel check
    the skb's csum after the run (EBADMSG when stale): before the fix every address
    rewrite failed it, over UDP and TCP, with and without VLAN tags and IP options."""
    from tests.libbpf_load import CHECKSUM_COMPLETE, test_run

    require_kernel()
    obj = _objects(tmp_path)
    rng = random.Random(7)
    for i in range(24):
        l4 = {"dport": 53, "sport": rng.randrange(1, 65536)}
        layers = {"ipv4": {"src": f"10.{rng.randrange(256)}.{rng.randrange(256)}.9",
                           "dst": "10.0.0.2", "options": "01010100" * rng.randrange(3)},
                  ("udp" if i % 2 else "tcp"): l4, "payload": "ab" * rng.randrange(1, 40)}
        if i % 3 == 0:
            layers["vlan"] = [{"id": rng.randrange(1, 4095)}]
        pkt = build(Packet(**layers))
        rc, out = test_run(obj, "dns_nat_tc", pkt, CHECKSUM_COMPLETE)
        assert rc == 0, f"packet {i} ({layers}): errno {-rc} (EBADMSG 74: stale skb csum)"
        tags = 4 * len(layers.get("vlan", []))
        plain = out[:12] + out[12 + tags:]  # checksums_ok reads an untagged frame
        assert out != pkt and all(checksums_ok(plain).values()), (i, checksums_ok(plain))
