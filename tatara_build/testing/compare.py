"""`:packet-out`: the packet a program leaves (BPF_PROG_TEST_RUN's data_out) against the
one the test expects, with the first difference named by its layer field (`ipv4.ttl`)."""

from __future__ import annotations

from tatara_build.model.testspec import Packet
from tatara_build.testing.packets import build

# (field, offset, size) inside each layer, in wire order
FIELDS: dict[str, tuple[tuple[str, int, int], ...]] = {
    "eth": (("dst", 0, 6), ("src", 6, 6), ("proto", 12, 2)),
    "vlan": (("tpid", 0, 2), ("tci", 2, 2)),
    "arp": (("htype", 0, 2), ("ptype", 2, 2), ("hlen", 4, 1), ("plen", 5, 1), ("op", 6, 2),
            ("sha", 8, 6), ("spa", 14, 4), ("tha", 18, 6), ("tpa", 24, 4)),
    "ipv4": (("version-ihl", 0, 1), ("tos", 1, 1), ("total-length", 2, 2), ("id", 4, 2),
             ("frag", 6, 2), ("ttl", 8, 1), ("proto", 9, 1), ("checksum", 10, 2),
             ("src", 12, 4), ("dst", 16, 4), ("options", 20, 40)),
    "ipv6": (("version-class-flow", 0, 4), ("payload-length", 4, 2), ("next", 6, 1),
             ("hop-limit", 7, 1), ("src", 8, 16), ("dst", 24, 16)),
    "tcp": (("sport", 0, 2), ("dport", 2, 2), ("seq", 4, 4), ("ack", 8, 4), ("offset", 12, 1),
            ("flags", 13, 1), ("window", 14, 2), ("checksum", 16, 2), ("urgent", 18, 2)),
    "udp": (("sport", 0, 2), ("dport", 2, 2), ("length", 4, 2), ("checksum", 6, 2)),
    "icmp": (("type", 0, 1), ("code", 1, 1), ("checksum", 2, 2), ("id", 4, 2), ("seq", 6, 2)),
}
SIZES = {"eth": 14, "vlan": 4, "arp": 28, "ipv6": 40, "tcp": 20, "udp": 8, "icmp": 8}


def layers(p: Packet, ethernet: bool = True) -> list[tuple[str, int, int]]:
    """(layer name, start, length) of each layer `p` declares, in wire order."""
    out: list[tuple[str, int, int]] = []
    at = 0
    if ethernet:
        out.append(("eth", 0, 12))  # the EtherType is after the tags: one field, below
        at = 12
        for i in range(len(p.vlan)):
            out.append((f"vlan[{i}]", at, 4))
            at += 4
        out.append(("eth.proto", at, 2))
        at += 2
    l3 = ("arp", SIZES["arp"]) if p.arp else ("ipv4", 20 + len(p.ipv4.options) // 2) \
        if p.ipv4 else ("ipv6", 40) if p.ipv6 else None
    if l3:
        out.append((l3[0], at, l3[1]))
        at += l3[1]
    for name in ("tcp", "udp", "icmp", "icmpv6"):
        if getattr(p, name):
            out.append((name, at, SIZES[name.removesuffix("v6")]))
            at += SIZES[name.removesuffix("v6")]
    out.append(("payload", at, 1 << 30))
    return out


def field_at(p: Packet, offset: int, ethernet: bool = True) -> str:
    """`ipv4.ttl`, `vlan[1].tci`, `payload[3]`: what the byte at `offset` belongs to."""
    if p.hex is not None:
        return f"byte {offset}"
    for name, start, size in layers(p, ethernet):
        if start <= offset < start + size:
            if name == "payload" or name == "eth.proto":
                return name if name != "payload" else f"payload[{offset - start}]"
            table = FIELDS[name.split("[")[0].removesuffix("v6")]
            rel = offset - start
            for fname, fo, fs in table:
                if fo <= rel < fo + fs:
                    return f"{name}.{fname}"
            return name
    return f"byte {offset}"


def diff(expected: Packet, got: bytes, ethernet: bool = True) -> str | None:
    """None when `got` is the expected packet; else what differs, first field named.
    Without an Ethernet header in the program's view the kernel hands back 14 zero bytes
    in its place, so only what follows them is compared."""
    want = build(expected, ethernet=True)
    skip = 0 if ethernet else 14
    w, g = want[skip:], got[skip:]
    if w == g:
        return None
    at = next((i for i in range(min(len(w), len(g))) if w[i] != g[i]), min(len(w), len(g)))
    where = field_at(expected, at + skip)
    if at >= min(len(w), len(g)):
        return (f"packet-out is {len(got)} bytes, expected {len(want)} "
                f"(first difference at byte {at + skip}, {where})")
    lo = at
    return (f"packet-out differs at byte {at + skip} ({where}): got {g[lo:lo + 8].hex()}, "
            f"expected {w[lo:lo + 8].hex()}")
