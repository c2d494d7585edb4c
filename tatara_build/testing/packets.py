"""Packets from readable layers (pure): Ethernet, IPv4 (with options) or IPv6, TCP or UDP,
payload; or raw hex. Checksums are computed, lengths filled in."""

from __future__ import annotations

import ipaddress
import struct

from tatara_build.model.testspec import TCP_FLAGS, Packet

ETH_P_IP, ETH_P_IPV6 = 0x0800, 0x86DD


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _l4(p: Packet) -> tuple[int | None, bytes]:
    payload = p.payload.encode()
    if p.tcp:
        flags = sum(TCP_FLAGS[c] for c in p.tcp.flags)
        return 6, struct.pack("!HHIIBBHHH", p.tcp.sport, p.tcp.dport, 0, 0, 5 << 4, flags,
                              65535, 0, 0) + payload
    if p.udp:
        return 17, struct.pack("!HHHH", p.udp.sport, p.udp.dport, 8 + len(payload), 0) + payload
    return None, payload


def _l3(p: Packet) -> tuple[int | None, bytes]:
    proto, l4 = _l4(p)
    if p.ipv4:
        ip = p.ipv4
        opts = bytes.fromhex(ip.options)
        ihl = 5 + len(opts) // 4
        hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(l4), 0, 0, ip.ttl,
                          ip.proto if ip.proto is not None else (proto or 0), 0,
                          ipaddress.IPv4Address(ip.src).packed,
                          ipaddress.IPv4Address(ip.dst).packed) + opts
        hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
        return ETH_P_IP, hdr + l4
    if p.ipv6:
        ip = p.ipv6
        nxt = ip.next if ip.next is not None else (proto or 59)
        hdr = struct.pack("!IHBB16s16s", 6 << 28, len(l4), nxt, ip.hop_limit,
                          ipaddress.IPv6Address(ip.src).packed, ipaddress.IPv6Address(ip.dst).packed)
        return ETH_P_IPV6, hdr + l4
    return None, l4


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
    return dst + src + struct.pack("!H", proto) + l3
