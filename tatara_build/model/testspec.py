"""`(defbpf-test ...)`: a packet run through one program, with maps before and after.

    (defbpf-test :name "syn-is-dropped" :program "drop_syn_flood"
      :packet (:ipv4 (:src "10.0.0.1" :dst "10.0.0.2") :tcp (:dport 80 :flags "S"))
      :maps-before ((:map "syn_counter" :key 0 :value 0))
      :expect :xdp-drop
      :maps-after ((:map "syn_counter" :key 0 :value 1)))

The TOML/JSON twin is a `tests` list with the same snake_case keys. Packets are built
from readable layers (eth, ipv4 or ipv6, tcp or udp, payload) or given as raw hex.
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


class Packet(_M):
    eth: Eth | None = None
    ipv4: IPv4 | None = None
    ipv6: IPv6 | None = None
    tcp: Tcp | None = None
    udp: Udp | None = None
    payload: str = ""
    hex: str | None = None  # the whole packet as hex; excludes every other field

    @field_validator("eth", "ipv4", "ipv6", "tcp", "udp", mode="before")
    @classmethod
    def _empty_layer(cls, v):
        """`:ipv4 ()` is a layer with every field at its default."""
        return {} if v == [] else v


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
