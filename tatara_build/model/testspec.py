"""`(defbpf-test ...)`: a packet run through one program, with maps before and after.

    (defbpf-test :name "syn-is-dropped" :program "drop_syn_flood"
      :packet (:ipv4 (:src "10.0.0.1" :dst "10.0.0.2") :tcp (:dport 80 :flags "S"))
      :maps-before ((:map "syn_counter" :key 0 :value 0))
      :expect :xdp-drop
      :maps-after ((:map "syn_counter" :key 0 :value 1)))

The TOML/JSON twin is a `tests` list with the same snake_case keys. Packets are built
from readable layers (eth, vlan tags, arp or ipv4/ipv6, tcp/udp/icmp/icmpv6, payload) or
given as raw hex; `:packet-out` checks the packet the program leaves (BPF_PROG_TEST_RUN's
data_out) by the same layers or by bytes.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from typing import Annotated

from tatara_build.model.construct import FieldProblem, Ge, Le, coerce, fields_of, set_field

U8 = Annotated[int, Ge(0), Le(255)]
U16 = Annotated[int, Ge(0), Le(0xFFFF)]
TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40,
             "C": 0x80}
_m = dataclass(frozen=True, kw_only=True)


def _mac(obj, *names: str) -> None:
    """MAC address fields, checked and kept lower-case."""
    for name in names:
        v = getattr(obj, name)
        parts = v.split(":")
        if len(parts) != 6 or not all(len(p) == 2 and _is_hex(p) for p in parts):
            raise FieldProblem(name, f"`{v}` is not a MAC address (aa:bb:cc:dd:ee:ff)")
        set_field(obj, name, v.lower())


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return text.isascii() and text.isalnum()


def _addrs(obj, kind, *names: str) -> None:
    for name in names:
        try:
            kind(getattr(obj, name))
        except ValueError as exc:
            raise FieldProblem(name, str(exc)) from None


@_m
class Eth:
    src: str = "02:00:00:00:00:01"
    dst: str = "02:00:00:00:00:02"
    proto: U16 | None = None  # EtherType; default from the next layer

    def __post_init__(self):
        _mac(self, "src", "dst")


@_m
class IPv4:
    src: str = "10.0.0.1"
    dst: str = "10.0.0.2"
    ttl: U8 = 64
    proto: U8 | None = None
    options: str = ""  # hex, a multiple of 4 bytes

    def __post_init__(self):
        _addrs(self, ipaddress.IPv4Address, "src", "dst")
        try:
            n = len(bytes.fromhex(self.options))
        except ValueError:
            raise FieldProblem("options", f"`{self.options[:40]}` is not hex") from None
        if n % 4:
            raise FieldProblem("options", "IPv4 options must be a multiple of 4 bytes")


@_m
class IPv6:
    src: str = "fd00::1"
    dst: str = "fd00::2"
    hop_limit: U8 = 64
    next: U8 | None = None

    def __post_init__(self):
        _addrs(self, ipaddress.IPv6Address, "src", "dst")


@_m
class Vlan:
    """One 802.1Q tag; in a QinQ stack the outer tags default to TPID 0x88a8 (802.1ad)."""

    id: Annotated[int, Ge(0), Le(4095)]
    pcp: Annotated[int, Ge(0), Le(7)] = 0
    dei: Annotated[int, Ge(0), Le(1)] = 0
    tpid: U16 | None = None  # default 0x8100 (innermost), 0x88a8 (outer tags)


ARP_OPS = {"request": 1, "reply": 2}


@_m
class Arp:
    """An Ethernet/IPv4 ARP message (EtherType 0x0806)."""

    op: int | str = "request"  # request, reply or a number
    sha: str = "02:00:00:00:00:01"
    spa: str = "10.0.0.1"
    tha: str = "00:00:00:00:00:00"
    tpa: str = "10.0.0.2"

    def __post_init__(self):
        v = self.op
        if isinstance(v, str) and v.removeprefix(":") not in ARP_OPS:
            raise FieldProblem("op", f"unknown ARP op `{v}` (request, reply or a number)")
        if isinstance(v, int) and not 0 <= v <= 0xFFFF:
            raise FieldProblem("op", f"ARP op {v} does not fit in 16 bits")
        _mac(self, "sha", "tha")
        _addrs(self, ipaddress.IPv4Address, "spa", "tpa")

    @property
    def opcode(self) -> int:
        return self.op if isinstance(self.op, int) else ARP_OPS[self.op.removeprefix(":")]


@_m
class Icmp:
    """An ICMP (over IPv4) or ICMPv6 (over IPv6) echo-style header; checksum computed."""

    type: U8 | None = None  # default: echo request (8, or 128 in v6)
    code: U8 = 0
    id: U16 = 0
    seq: U16 = 0


@_m
class Tcp:
    sport: U16 = 40000
    dport: U16 = 80
    flags: str = "S"  # letters of F S R P A U E C

    def __post_init__(self):
        bad = [c for c in self.flags.upper() if c not in TCP_FLAGS]
        if bad:
            raise FieldProblem("flags", f"unknown TCP flag letters {''.join(bad)} "
                               "(use F S R P A U E C)")
        set_field(self, "flags", self.flags.upper())


@_m
class Udp:
    sport: U16 = 40000
    dport: U16 = 53


LAYERS = ("eth", "vlan", "arp", "ipv4", "ipv6", "tcp", "udp", "icmp", "icmpv6")
_HEADERS = ("eth", "arp", "ipv4", "ipv6", "tcp", "udp", "icmp", "icmpv6")


@_m
class Packet:
    eth: Eth | None = None
    vlan: list[Vlan] = field(default_factory=list)  # outer tag first (QinQ: two or more)
    arp: Arp | None = None
    ipv4: IPv4 | None = None
    ipv6: IPv6 | None = None
    tcp: Tcp | None = None
    udp: Udp | None = None
    icmp: Icmp | None = None
    icmpv6: Icmp | None = None
    payload: str = ""
    hex: str | None = None  # the whole packet as hex; excludes every other field

    @classmethod
    def before(cls, data: dict) -> dict:
        """`:ipv4 ()` is a layer with every field at its default; `:vlan (:id 10)` is
        one tag, `:vlan ((:id 100) (:id 10))` a QinQ stack."""
        out = {k: {} if k in _HEADERS and v == [] else v for k, v in data.items()}
        if isinstance(out.get("vlan"), dict):
            out["vlan"] = [out["vlan"]]
        return out

    def __post_init__(self):
        raw = {f: getattr(self, f) for f in ("vlan", *_HEADERS)}
        for name, v in self.before(raw).items():
            set_field(self, name, v)
        coerce(self)  # layers given as dicts: `Packet(ipv4={}, udp={"dport": 53})`
        if self.hex is not None:
            try:
                bytes.fromhex(self.hex)
            except ValueError:
                raise FieldProblem("hex", f"`{self.hex[:40]}` is not hex (two digits per byte)") \
                    from None


@_m
class MapEntry:
    map: str
    key: int | str | dict[str, int | str]  # an integer (little-endian), "hex:...", or a
    value: int | str | dict[str, int | str]  # record by field when the map has a struct


@_m
class TestSpec:
    name: str
    program: str
    packet: Packet = field(default_factory=Packet)
    maps_before: list[MapEntry] = field(default_factory=list)
    expect: str | int  # an action of the program's kind (":xdp-drop") or a number
    maps_after: list[MapEntry] = field(default_factory=list)
    packet_out: Packet | None = None  # the packet the program leaves (layers or :hex)
    globals: dict[str, int] = field(default_factory=dict)  # defbpf-global values to load with


def allowed_fields(model: type, loc: tuple) -> list[str]:
    """The field names allowed where an error's `loc` points (an unknown field's parent):
    walks nested dataclasses through Optional and list annotations."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        hint = fields_of(model).get(str(part))
        if hint is None:
            break
        inner = _model_in(hint[0])
        if inner is None:
            break
        model = inner
    return sorted(f.name for f in dataclasses.fields(model))


def _model_in(annotation) -> type | None:
    if dataclasses.is_dataclass(annotation):
        return annotation  # type: ignore[return-value]
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
