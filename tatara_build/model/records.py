"""Records: `defbpf-struct` (named, sized fields) and their C layout.

A record is a `#[repr(C)]` Rust struct in the generated crate, so it reaches the
object's BTF (bpftool prints map keys and values by field name) and its layout is
C's: each field at the next multiple of its alignment, the size rounded up to the
largest alignment. `layout()` computes that here, so the `events` verb and the
`map` verb decode bytes without the crate.

Field types: u8 u16 u32 u64 (host order), ipv4 (4 bytes, network order, printed as
a dotted quad), ipv6 (16 bytes), mac (6 bytes), and `bytes:N` (N raw bytes).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated

from tatara_build.model.construct import FieldProblem, MinLen, dump

SCALARS = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}
BYTE_TYPES = {"ipv4": 4, "ipv6": 16, "mac": 6}
MAX_BYTES = 4096
_BYTES = re.compile(r"bytes:([0-9]{1,4})\Z")


def field_type_problem(t: str) -> str | None:
    """Why `t` is not a field type, or None."""
    if t in SCALARS or t in BYTE_TYPES:
        return None
    m = _BYTES.match(t)
    if m and 1 <= int(m.group(1)) <= MAX_BYTES:
        return None
    return (f"unknown field type `{t}` (expected one of u8, u16, u32, u64, ipv4, ipv6, mac, "
            f"bytes:N with 1 <= N <= {MAX_BYTES})")


def type_size(t: str) -> int:
    if t in SCALARS:
        return SCALARS[t]
    if t in BYTE_TYPES:
        return BYTE_TYPES[t]
    return int(t.split(":")[1])


def type_align(t: str) -> int:
    return SCALARS.get(t, 1)


def rust_field_type(t: str) -> str:
    return t if t in SCALARS else f"[u8; {type_size(t)}]"


@dataclass(frozen=True, kw_only=True)
class FieldSpec:
    name: str
    type: str

    def __post_init__(self):
        problem = field_type_problem(self.type)
        if problem:
            raise FieldProblem("type", problem)


@dataclass(frozen=True, kw_only=True)
class StructSpec:
    """A record type (keyword `defbpf-struct`): map keys/values, events, tracepoint records."""

    name: str
    description: str = ""
    fields: Annotated[list[FieldSpec], MinLen(1)]

    def wire(self) -> dict:
        return dump(self)


@dataclass(frozen=True)
class Slot:
    name: str
    type: str
    offset: int
    size: int


@dataclass(frozen=True)
class Layout:
    slots: tuple[Slot, ...]
    size: int

    def slot(self, name: str) -> Slot | None:
        return next((s for s in self.slots if s.name == name), None)


def layout(spec: StructSpec) -> Layout:
    """C's layout of the record (what `#[repr(C)]` gives)."""
    off, align, slots = 0, 1, []
    for f in spec.fields:
        a, n = type_align(f.type), type_size(f.type)
        off = (off + a - 1) // a * a
        slots.append(Slot(f.name, f.type, off, n))
        off += n
        align = max(align, a)
    return Layout(tuple(slots), (off + align - 1) // align * align)


def rust_name(name: str) -> str:
    """`exec_event` / `exec-event` -> `ExecEvent` (the Rust type in `crate::records`)."""
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[-_]+", name) if p) or "Record"


def decode_field(t: str, raw: bytes) -> object:
    """One field's bytes -> a JSON-friendly value (ints, dotted quads, hex, text)."""
    if t in SCALARS:
        return int.from_bytes(raw, "little")
    if t == "ipv4":
        return str(ipaddress.IPv4Address(raw))
    if t == "ipv6":
        return str(ipaddress.IPv6Address(raw))
    if t == "mac":
        return ":".join(f"{b:02x}" for b in raw)
    text = raw.split(b"\0", 1)[0]
    if text and all(32 <= b < 127 for b in text) and not any(raw[len(text):]):
        return text.decode()
    return raw.hex()


def decode(spec: StructSpec, data: bytes) -> dict[str, object]:
    """A record's bytes (at least its size) -> {field: value}, in declaration order."""
    lay = layout(spec)
    return {s.name: decode_field(s.type, data[s.offset:s.offset + s.size]) for s in lay.slots}


def encode_field(t: str, value: object) -> bytes:
    """A field value as written in a spec (int, dotted quad, MAC, text, hex:..) -> bytes."""
    n = type_size(t)
    if isinstance(value, str) and value.startswith("hex:"):
        raw = bytes.fromhex(value[4:])
        if len(raw) != n:
            raise ValueError(f"has {len(raw)} bytes, the field is {n}")
        return raw
    if t in SCALARS:
        if not isinstance(value, int) or not 0 <= value < 1 << (8 * n):
            raise ValueError(f"`{value}` is not a {t}")
        return value.to_bytes(n, "little")
    if t == "ipv4" and isinstance(value, int) and 0 <= value < 1 << 32:
        return value.to_bytes(4, "big")
    if t in ("ipv4", "ipv6") and isinstance(value, str):
        addr = ipaddress.ip_address(value)
        if addr.max_prefixlen != n * 8:
            raise ValueError(f"`{value}` is not an {t} address")
        return addr.packed
    if t == "mac" and isinstance(value, str):
        return bytes(int(x, 16) for x in value.split(":")).rjust(6, b"\0")[-6:]
    if isinstance(value, str) and len(value.encode()) <= n:
        return value.encode().ljust(n, b"\0")
    raise ValueError(f"`{value}` does not fit a {t} field")


def encode(spec: StructSpec, values: dict) -> bytes:
    """{field: value} (fields left out are zero) -> the record's bytes; ValueError names
    the field that is unknown or does not fit."""
    lay = layout(spec)
    out = bytearray(lay.size)
    for name, value in values.items():
        slot = lay.slot(name)
        if slot is None:
            raise ValueError(f"struct `{spec.name}` has no field `{name}` (fields: "
                             + ", ".join(s.name for s in lay.slots) + ")")
        try:
            out[slot.offset:slot.offset + slot.size] = encode_field(slot.type, value)
        except ValueError as exc:
            raise ValueError(f"field `{name}`: {exc}") from None
    return bytes(out)
