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

import ipaddress
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

U16 = Annotated[int, Field(ge=0, le=0xFFFF)]
TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40,
             "C": 0x80}


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Eth(_M):
    src: str = "02:00:00:00:00:01"
    dst: str = "02:00:00:00:00:02"
    proto: U16 | None = None  # EtherType; default from the next layer

    @field_validator("src", "dst")
    @classmethod
    def _mac(cls, v: str) -> str:
        parts = v.split(":")
        if len(parts) != 6 or not all(len(p) == 2 and int(p, 16) >= 0 for p in parts):
            raise ValueError(f"`{v}` is not a MAC address (aa:bb:cc:dd:ee:ff)")
        return v.lower()


class IPv4(_M):
    src: str = "10.0.0.1"
    dst: str = "10.0.0.2"
    ttl: int = Field(64, ge=0, le=255)
    proto: int | None = Field(None, ge=0, le=255)
    options: str = ""  # hex, a multiple of 4 bytes

    @field_validator("src", "dst")
    @classmethod
    def _addr(cls, v: str) -> str:
        ipaddress.IPv4Address(v)
        return v

    @field_validator("options")
    @classmethod
    def _opts(cls, v: str) -> str:
        if len(bytes.fromhex(v)) % 4:
            raise ValueError("IPv4 options must be a multiple of 4 bytes")
        return v


class IPv6(_M):
    src: str = "fd00::1"
    dst: str = "fd00::2"
    hop_limit: int = Field(64, ge=0, le=255)
    next: int | None = Field(None, ge=0, le=255)

    @field_validator("src", "dst")
    @classmethod
    def _addr(cls, v: str) -> str:
        ipaddress.IPv6Address(v)
        return v


class Vlan(_M):
    """One 802.1Q tag; in a QinQ stack the outer tags default to TPID 0x88a8 (802.1ad)."""

    id: int = Field(ge=0, le=4095)
    pcp: int = Field(0, ge=0, le=7)
    dei: int = Field(0, ge=0, le=1)
    tpid: U16 | None = None  # default 0x8100 (innermost), 0x88a8 (outer tags)


ARP_OPS = {"request": 1, "reply": 2}


class Arp(_M):
    """An Ethernet/IPv4 ARP message (EtherType 0x0806)."""

    op: int | str = "request"  # request, reply or a number
    sha: str = "02:00:00:00:00:01"
    spa: str = "10.0.0.1"
    tha: str = "00:00:00:00:00:00"
    tpa: str = "10.0.0.2"

    _mac = field_validator("sha", "tha")(Eth._mac.__func__)  # type: ignore[attr-defined]

    @field_validator("spa", "tpa")
    @classmethod
    def _addr(cls, v: str) -> str:
        ipaddress.IPv4Address(v)
        return v

    @field_validator("op")
    @classmethod
    def _op(cls, v: int | str) -> int | str:
        if isinstance(v, str) and v.removeprefix(":") not in ARP_OPS:
            raise ValueError(f"unknown ARP op `{v}` (request, reply or a number)")
        if isinstance(v, int) and not 0 <= v <= 0xFFFF:
            raise ValueError(f"ARP op {v} does not fit in 16 bits")
        return v

    @property
    def opcode(self) -> int:
        return self.op if isinstance(self.op, int) else ARP_OPS[self.op.removeprefix(":")]


class Icmp(_M):
    """An ICMP (over IPv4) or ICMPv6 (over IPv6) echo-style header; checksum computed."""

    type: int | None = Field(None, ge=0, le=255)  # default: echo request (8, or 128 in v6)
    code: int = Field(0, ge=0, le=255)
    id: U16 = 0
    seq: U16 = 0


class Tcp(_M):
    sport: U16 = 40000
    dport: U16 = 80
    flags: str = "S"  # letters of F S R P A U E C

    @field_validator("flags")
    @classmethod
    def _flags(cls, v: str) -> str:
        bad = [c for c in v.upper() if c not in TCP_FLAGS]
        if bad:
            raise ValueError(f"unknown TCP flag letters {''.join(bad)} (use F S R P A U E C)")
        return v.upper()


class Udp(_M):
    sport: U16 = 40000
    dport: U16 = 53


LAYERS = ("eth", "vlan", "arp", "ipv4", "ipv6", "tcp", "udp", "icmp", "icmpv6")


class Packet(_M):
    eth: Eth | None = None
    vlan: list[Vlan] = Field(default_factory=list)  # outer tag first (QinQ: two or more)
    arp: Arp | None = None
    ipv4: IPv4 | None = None
    ipv6: IPv6 | None = None
    tcp: Tcp | None = None
    udp: Udp | None = None
    icmp: Icmp | None = None
    icmpv6: Icmp | None = None
    payload: str = ""
    hex: str | None = None  # the whole packet as hex; excludes every other field

    @field_validator("eth", "arp", "ipv4", "ipv6", "tcp", "udp", "icmp", "icmpv6", mode="before")
    @classmethod
    def _empty_layer(cls, v):
        """`:ipv4 ()` is a layer with every field at its default."""
        return {} if v == [] else v

    @field_validator("vlan", mode="before")
    @classmethod
    def _one_tag(cls, v):
        """`:vlan (:id 10)` is one tag; `:vlan ((:id 100) (:id 10))` a QinQ stack."""
        return [v] if isinstance(v, dict) else v

    @field_validator("hex")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                bytes.fromhex(v)
            except ValueError:
                raise ValueError(f"`{v[:40]}` is not hex (two digits per byte)") from None
        return v


class MapEntry(_M):
    map: str
    key: int | str | dict[str, int | str]  # an integer (little-endian), "hex:...", or a
    value: int | str | dict[str, int | str]  # record by field when the map has a struct


class TestSpec(_M):
    name: str
    program: str
    packet: Packet = Field(default_factory=Packet)
    maps_before: list[MapEntry] = Field(default_factory=list)
    expect: str | int  # an action of the program's kind (":xdp-drop") or a number
    maps_after: list[MapEntry] = Field(default_factory=list)
    packet_out: Packet | None = None  # the packet the program leaves (layers or :hex)
    globals: dict[str, int] = Field(default_factory=dict)  # defbpf-global values to load with


def allowed_fields(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names allowed where pydantic's `loc` points (an unknown field's parent):
    walks nested models through Optional and list annotations."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(str(part))
        if info is None:
            break
        inner = _model_in(info.annotation)
        if inner is None:
            break
        model = inner
    return sorted(model.model_fields)


def _model_in(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
