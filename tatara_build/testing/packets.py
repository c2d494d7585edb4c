"""Packets from readable layers (pure): Ethernet, 802.1Q/802.1ad tags, ARP or IPv4 (with
options)/IPv6, TCP/UDP/ICMP/ICMPv6, payload; or raw hex. Checksums (IPv4 header, TCP, UDP,
ICMP, ICMPv6 with their pseudo-headers) are computed, lengths filled in."""

from __future__ import annotations

import ipaddress
import struct

from tatara_build.model.testspec import TCP_FLAGS, Packet

ETH_P_IP, ETH_P_IPV6, ETH_P_ARP = 0x0800, 0x86DD, 0x0806
ETH_P_8021Q, ETH_P_8021AD = 0x8100, 0x88A8
IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6 = 1, 6, 17, 58


def csum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _l4(p: Packet) -> tuple[int | None, bytes, int | None]:
    """(IP protocol, L4 bytes with a zero checksum, the checksum's offset in them)."""
    payload = p.payload.encode()
    if p.tcp:
        flags = sum(TCP_FLAGS[c] for c in p.tcp.flags)
        return IPPROTO_TCP, struct.pack("!HHIIBBHHH", p.tcp.sport, p.tcp.dport, 0, 0, 5 << 4,
                                        flags, 65535, 0, 0) + payload, 16
    if p.udp:
        return IPPROTO_UDP, struct.pack("!HHHH", p.udp.sport, p.udp.dport, 8 + len(payload),
                                        0) + payload, 6
    for icmp, proto, echo in ((p.icmp, IPPROTO_ICMP, 8), (p.icmpv6, IPPROTO_ICMPV6, 128)):
        if icmp:
            kind = icmp.type if icmp.type is not None else echo
            return proto, struct.pack("!BBHHH", kind, icmp.code, 0, icmp.id, icmp.seq) + payload, 2
    return None, payload, None


def _with_csum(l4: bytes, at: int | None, pseudo: bytes, proto: int | None) -> bytes:
    if at is None:
        return l4
    if proto == IPPROTO_ICMP:
        pseudo = b""  # ICMPv4 sums its own bytes only
    c = csum(pseudo + l4)
    if proto == IPPROTO_UDP and c == 0:
        c = 0xFFFF  # RFC 768: a computed zero is sent as all ones
    return l4[:at] + struct.pack("!H", c) + l4[at + 2:]


def _l3(p: Packet) -> tuple[int | None, bytes]:
    proto, l4, at = _l4(p)
    if p.arp:
        a = p.arp
        mac = [bytes.fromhex(m.replace(":", "")) for m in (a.sha, a.tha)]
        return ETH_P_ARP, struct.pack("!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, a.opcode, mac[0],
                                      ipaddress.IPv4Address(a.spa).packed, mac[1],
                                      ipaddress.IPv4Address(a.tpa).packed) + l4
    if p.ipv4:
        return ETH_P_IP, _ipv4(p, proto, l4, at)
    if p.ipv6:
        ip = p.ipv6
        nxt = ip.next if ip.next is not None else (proto or 59)
        src, dst = (ipaddress.IPv6Address(a).packed for a in (ip.src, ip.dst))
        pseudo = src + dst + struct.pack("!IxxxB", len(l4), proto or 0)
        l4 = _with_csum(l4, at, pseudo, proto)
        return ETH_P_IPV6, struct.pack("!IHBB16s16s", 6 << 28, len(l4), nxt, ip.hop_limit,
                                       src, dst) + l4
    return None, l4


def _ipv4(p: Packet, proto: int | None, l4: bytes, at: int | None) -> bytes:
    ip = p.ipv4
    assert ip is not None
    opts = bytes.fromhex(ip.options)
    ihl = 5 + len(opts) // 4
    src, dst = (ipaddress.IPv4Address(a).packed for a in (ip.src, ip.dst))
    l4 = _with_csum(l4, at, src + dst + struct.pack("!xBH", proto or 0, len(l4)), proto)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(l4), 0, 0, ip.ttl,
                      ip.proto if ip.proto is not None else (proto or 0), 0, src, dst) + opts
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + l4


def _tags(p: Packet) -> bytes:
    """The VLAN tags, outer first: TPID then PCP/DEI/VID (the next TPID is the inner's)."""
    out = b""
    for i, tag in enumerate(p.vlan):
        inner = i == len(p.vlan) - 1
        tpid = tag.tpid if tag.tpid is not None else (ETH_P_8021Q if inner else ETH_P_8021AD)
        out += struct.pack("!HH", tpid, tag.pcp << 13 | tag.dei << 12 | tag.id)
    return out


def build(p: Packet, ethernet: bool = True) -> bytes:
    """The packet's bytes. BPF_PROG_TEST_RUN always takes an Ethernet frame; kinds that
    see packets from the IP header (cgroup-skb, socket filters) get it pulled off."""
    if p.hex is not None:
        return bytes.fromhex(p.hex)
    ethertype, l3 = _l3(p)
    if not ethernet:
        return l3
    eth = p.eth
    src = bytes.fromhex((eth.src if eth else "02:00:00:00:00:01").replace(":", ""))
    dst = bytes.fromhex((eth.dst if eth else "02:00:00:00:00:02").replace(":", ""))
    proto = eth.proto if eth and eth.proto is not None else (ethertype or 0x88B5)
    tags = _tags(p)
    if tags:  # the frame's EtherType field holds the outer TPID; the payload type follows
        return dst + src + tags + struct.pack("!H", proto) + l3
    return dst + src + struct.pack("!H", proto) + l3
