"""defbpf-test packet layers (802.1Q/802.1ad tags, ARP, ICMP, ICMPv6), `:packet-out`
checked against BPF_PROG_TEST_RUN's data_out, and whole test names in the results table."""

from __future__ import annotations

import json
import shutil
import struct

import pytest

from tatara_build.model.testspec import Packet
from tatara_build.testing.compare import diff
from tatara_build.testing.packets import build, csum
from tests.conftest import BUILD_TARGET, ROOT, diagnostics_of, messages, run_cli
from tests.kernel_util import require_kernel

FIXTURE = ROOT / "tests" / "fixtures" / "packets"


def test_vlan_tags_sit_between_the_macs_and_the_ethertype():
    one = build(Packet(vlan={"id": 42, "pcp": 5, "dei": 1}, ipv4={}, udp={}))
    assert one[12:18] == struct.pack("!HHH", 0x8100, 5 << 13 | 1 << 12 | 42, 0x0800)
    assert one[18] == 0x45
    qinq = build(Packet(vlan=[{"id": 7}, {"id": 9}], ipv6={}, tcp={}))
    assert qinq[12:22] == struct.pack("!HHHHH", 0x88A8, 7, 0x8100, 9, 0x86DD)
    custom = build(Packet(vlan=[{"id": 1, "tpid": 0x9100}, {"id": 2}], arp={}))
    assert custom[12:22] == struct.pack("!HHHHH", 0x9100, 1, 0x8100, 2, 0x0806)


def test_arp_message_layout():
    pkt = build(Packet(arp={"op": ":reply", "sha": "02:AA:bb:cc:dd:ee", "spa": "10.1.1.1",
                            "tpa": "10.2.2.2"}))
    assert pkt[12:14] == b"\x08\x06" and len(pkt) == 14 + 28
    assert pkt[14:22] == struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2)
    assert pkt[22:28] == bytes.fromhex("02aabbccddee")
    assert pkt[28:32] == bytes([10, 1, 1, 1]) and pkt[38:42] == bytes([10, 2, 2, 2])
    assert build(Packet(arp={"op": 9}))[20:22] == b"\x00\x09"


def _sums_to_zero(data: bytes) -> bool:
    return csum(data) == 0


def test_l4_checksums_verify_with_their_pseudo_headers():
    v4 = build(Packet(ipv4={"src": "10.0.0.1", "dst": "10.0.0.2"}, icmp={"id": 5, "seq": 2},
                      payload="ping"))
    assert v4[23] == 1 and v4[34:36] == b"\x08\x00" and v4[38:42] == b"\x00\x05\x00\x02"
    assert _sums_to_zero(v4[34:])  # ICMPv4: its own bytes only
    for layer, proto in (("tcp", 6), ("udp", 17)):
        pkt = build(Packet(ipv4={"src": "192.0.2.1", "dst": "198.51.100.2"},
                           **{layer: {"dport": 7}}, payload="abc"))
        l4 = pkt[34:]
        assert _sums_to_zero(pkt[26:34] + struct.pack("!xBH", proto, len(l4)) + l4)
    v6 = build(Packet(ipv6={"src": "fd00::1", "dst": "fd00::2"}, icmpv6={"id": 513}))
    assert v6[20] == 58 and v6[54] == 128
    l4 = v6[54:]
    assert _sums_to_zero(v6[22:54] + struct.pack("!IxxxB", len(l4), 58) + l4)
    assert build(Packet(ipv6={}, icmpv6={"type": 129}))[54] == 129


def test_packet_out_diff_names_the_field():
    want = Packet(vlan={"id": 3}, ipv4={"ttl": 9}, udp={"dport": 53})
    assert diff(want, build(want)) is None
    got = bytearray(build(want))
    got[18 + 8] = 8  # ttl after one tag
    assert "at byte 26 (ipv4.ttl)" in diff(want, bytes(got))
    got = bytearray(build(want))
    got[18 + 20 + 2] ^= 1
    assert "(udp.dport)" in diff(want, bytes(got))
    got = bytearray(build(want))
    got[15] ^= 1
    assert "(vlan[0].tci)" in diff(want, bytes(got))
    assert "is 60 bytes, expected 46" in diff(want, build(want) + b"\0" * 14)
    # a kind without an Ethernet header gets 14 zero bytes back in its place
    assert diff(want, b"\0" * 14 + build(want)[14:], ethernet=False) is None


BASE = ('(defbpf-program :name "p" :kind :xdp :attach (:target "e") :source "a.tlisp:f")\n'
        '(defbpf-policy :name "pol" :description "d" :programs ("p"))\n'
        '(bpf-fn f (ctx) (return :xdp-pass))\n')


@pytest.mark.parametrize("packet, expect, line_col", [
    ('(:vlan (:id 1 :prio 3) :ipv4 ())',
     "compile error in :packet.vlan.0.prio: unknown field (allowed: :dei, :id, :pcp, :tpid)",
     "a.tlisp:4:77"),
    ('(:vlan ((:id 1) (:id 5000)))', "compile error in :packet.vlan.1.id", "a.tlisp:4:80"),
    ('(:ipv4 () :icmp (:kind 8))', "compile error in :packet.icmp.kind: unknown field "
     "(allowed: :code, :id, :seq, :type)", "a.tlisp:4:80"),
    ('(:arp (:op :nak))', "unknown ARP op `:nak` (request, reply or a number)", "a.tlisp:4:70"),
    ('(:arp (:sha "zz"))', "`zz` is not a MAC address", "a.tlisp:4:70"),
    ('(:ipv4 () :wlan ())', "unknown field (allowed: :arp, :eth, :hex, :icmp, :icmpv6, :ipv4, "
     ":ipv6, :payload, :tcp, :udp, :vlan)", "a.tlisp:4:73"),
    ('(:icmp ())', ":icmp needs an :ipv4 layer under it", "a.tlisp:4:63"),
    ('(:ipv4 () :icmpv6 ())', ":icmpv6 needs an :ipv6 layer under it", "a.tlisp:4:63"),
    ('(:arp () :ipv4 ())', "a packet has one of :arp, :ipv4, :ipv6, not :arp and :ipv4",
     "a.tlisp:4:63"),
    ('(:ipv4 () :udp () :icmp ())', "not :udp and :icmp", "a.tlisp:4:63"),
    ('(:arp () :udp ())', "an :arp packet carries no :udp", "a.tlisp:4:63"),
])
def test_bad_layers_are_located_errors(spec, packet, expect, line_col):
    d = spec({"a.tlisp": BASE + f'(defbpf-test :name "t" :program "p" :expect :xdp-pass :packet {packet})\n'})
    hits = [x for x in diagnostics_of(d) if expect in x.message]
    assert hits, messages(d)
    span = hits[0].span
    assert f"{span.file.rsplit('/', 1)[-1]}:{span.line}:{span.col}" == line_col


def test_packet_out_is_checked_like_the_packet(spec):
    d = spec({"a.tlisp": BASE + '(defbpf-test :name "t" :program "p" :expect :xdp-pass\n'
                                '  :packet-out (:hex "00" :ipv4 ()))\n'})
    assert any(":packet-out :hex gives the whole packet" in m for m in messages(d))
    d = spec({"a.tlisp": BASE + '(defbpf-test :name "t" :program "p" :expect :xdp-pass\n'
                                '  :packet-out (:hex "0g"))\n'})
    assert any("`0g` is not hex" in m for m in messages(d))


def test_toml_and_json_twins(spec):
    toml = ('[[tests]]\nname = "t"\nprogram = "p"\nexpect = ":xdp-pass"\n'
            'packet = { vlan = [{ id = 7 }, { id = 9, pcp = 2 }], ipv4 = {}, icmp = { seq = 3 } }\n'
            'packet_out = { vlan = [{ id = 7 }, { id = 9, pcp = 2 }], ipv4 = {}, icmp = { seq = 3 } }\n'
            '[[tests]]\nname = "a"\nprogram = "p"\nexpect = ":xdp-pass"\n'
            'packet = { arp = { op = "reply", tpa = "10.9.9.9" } }\n')
    assert messages(spec({"a.tlisp": BASE, "t.toml": toml})) == []
    bad = json.dumps({"tests": [{"name": "j", "program": "p", "expect": ":xdp-pass",
                                 "packet": {"ipv6": {}, "icmpv6": {"tipe": 1}}}]})
    found = messages(spec({"a.tlisp": BASE, "t.json": bad}))
    assert any("tests[0] (`j`): field `packet.icmpv6.tipe`: unknown field `tipe` (allowed: "
               "code, id, seq, type)" in m for m in found), found


def _run(path, tmp_path, *extra):
    return run_cli("test", str(path), "-o", str(tmp_path / "out"), "--target-dir",
                   str(BUILD_TARGET), *extra)


@pytest.mark.kernel
@pytest.mark.compile
def test_layers_and_packet_out_in_the_kernel(tmp_path):
    """VLAN/QinQ, ARP, ICMP, ICMPv6 read at their wire offsets by real programs, and an ICMP
    echo responder's rewritten packet compared with data_out."""
    require_kernel()
    r = _run(FIXTURE, tmp_path, "--json")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    data = json.loads(r.stdout)
    assert (data["passed"], data["failed"]) == (10, 0), data


@pytest.mark.kernel
@pytest.mark.compile
def test_a_wrong_packet_out_fails_naming_the_field(tmp_path):
    require_kernel()
    d = tmp_path / "spec"
    shutil.copytree(FIXTURE, d)
    text = (d / "packets.tlisp").read_text()
    text = text.replace(":icmp (:type 0 :id 5 :seq 1)", ":icmp (:type 8 :id 5 :seq 1)")
    text = text.replace(":packet-out (:ipv4 (:ttl 9)", ":packet-out (:ipv4 (:ttl 8)")
    (d / "packets.tlisp").write_text(text)
    r = _run(d, tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert ("FAILED untagged-passes-unchanged: packet-out differs at byte 22 (ipv4.ttl): "
            "got 09") in r.stdout
    assert ("FAILED echo-request-becomes-a-reply: packet-out differs at byte 34 (icmp.type): "
            "got 00") in r.stdout
    # whole names in the table, even piped into a narrow log
    assert "│ qinq-outer-802.1ad-then-inner-802.1q │" in r.stdout
    assert "…" not in r.stdout
    assert "8 passed, 2 failed" in r.stdout
