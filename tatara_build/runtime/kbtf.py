"""Kernel struct field offsets from the running kernel's BTF, written into an object at load.

aya has no CO-RE field relocations, and `task_struct`'s layout differs per kernel build,
so a lowered `(task-field …)` (lower/bpf_fn/task.py) reads each offset from its own
`.rodata` symbol named `TATARA_KOFF_<PROGRAM>__<STRUCT>__<FIELD>`. Before the object is
loaded, `offsets_for` finds those symbols (runtime/objglobals.py) and answers them from
/sys/kernel/btf/vmlinux, parsed here from the raw BTF format (a header, then type
records and a string table; runtime/objprep.py walks the same records in objects):
~35 ms for the 5.5 MB file, against ~230 ms for `bpftool btf dump … format raw` and
~580 ms for its JSON (bench/bench_kbtf.py). Each field's size must be the one
lower/dsl_tables.py's KERNEL_FIELDS expects, so a kernel whose field changed type is
refused instead of read wrongly.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from tatara_build.errors import EnvironmentProblem, RuntimeFailure
from tatara_build.lower.dsl_tables import KERNEL_FIELDS, KOFF_PREFIX
from tatara_build.runtime import objglobals

BTF_MAGIC = 0xEB9F
_EXTRA = {1: 4, 3: 12, 14: 4, 17: 4}  # fixed trailing bytes per BTF kind (int, array, ...)
_PER_VLEN = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}  # bytes per vlen entry
_MODS = (8, 9, 10, 11, 18)  # typedef, volatile, const, restrict, type_tag
_STRUCT, _UNION, _PTR, _ARRAY, _INT = 4, 5, 2, 3, 1
_SIZED = (1, 4, 5, 6, 19)  # int, struct, union, enum, enum64: `size` is the byte size


def btf_path() -> Path:
    """The kernel BTF to read (TATARA_KERNEL_BTF overrides it, for tests)."""
    return Path(os.environ.get("TATARA_KERNEL_BTF", "/sys/kernel/btf/vmlinux"))


class Btf:
    """Type records of one raw BTF blob, indexed by type id."""

    def __init__(self, raw: bytes):
        if len(raw) < 24 or struct.unpack_from("<H", raw, 0)[0] != BTF_MAGIC:
            raise ValueError("not a BTF blob (bad magic)")
        hdr_len, type_off, type_len, str_off, _ = struct.unpack_from("<IIIII", raw, 4)
        self.raw = raw
        self.strings = hdr_len + str_off
        self.at = [0]  # type id -> byte offset of its record (id 0 is void)
        at, end = hdr_len + type_off, hdr_len + type_off + type_len
        unpack = struct.Struct("<I").unpack_from
        while at < end:
            self.at.append(at)
            info = unpack(raw, at + 4)[0]
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            at += 12 + _EXTRA.get(kind, 0) + _PER_VLEN.get(kind, 0) * vlen

    def name(self, off: int) -> str:
        start = self.strings + off
        return self.raw[start:self.raw.index(b"\0", start)].decode(errors="replace")

    def record(self, tid: int) -> tuple[int, int, int, int, bool]:
        """(kind, name_off, vlen, size_or_type, kind_flag) of type `tid`."""
        name_off, info, ref = struct.unpack_from("<III", self.raw, self.at[tid])
        return (info >> 24) & 0x1F, name_off, info & 0xFFFF, ref, bool(info >> 31)

    def find_struct(self, name: str) -> int | None:
        """The id of the (complete) struct called `name`."""
        want = self.raw.find(b"\0" + name.encode() + b"\0", self.strings)
        if want < 0:
            return None
        name_off = want + 1 - self.strings
        for tid in range(1, len(self.at)):
            kind, off, vlen, _, _ = self.record(tid)
            if off == name_off and kind == _STRUCT and vlen:
                return tid
        return None

    def size(self, tid: int) -> int:
        kind, _, _, ref, _ = self.record(tid)
        while kind in _MODS:
            tid = ref
            kind, _, _, ref, _ = self.record(tid)
        if kind == _PTR:
            return 8
        if kind == _ARRAY:
            elem, _, nelems = struct.unpack_from("<III", self.raw, self.at[tid] + 12)
            return self.size(elem) * nelems
        return ref if kind in _SIZED else 0

    def member(self, tid: int, field: str, base: int = 0) -> tuple[int, int] | None:
        """(byte offset, byte size) of `field` in struct/union `tid`, looking through
        anonymous struct/union members; None when it has no such byte-aligned field."""
        kind, _, vlen, _, kflag = self.record(tid)
        for i in range(vlen):
            m_name, m_type, m_off = struct.unpack_from("<III", self.raw, self.at[tid] + 12 + 12 * i)
            bits = m_off & 0xFFFFFF if kflag else m_off
            if m_name == 0:
                inner = self._skip_mods(m_type)
                if self.record(inner)[0] in (_STRUCT, _UNION):
                    found = self.member(inner, field, base + bits // 8)
                    if found is not None:
                        return found
            elif self.name(m_name) == field and bits % 8 == 0 and not (kflag and m_off >> 24):
                return base + bits // 8, self.size(m_type)
        return None

    def _skip_mods(self, tid: int) -> int:
        kind, _, _, ref, _ = self.record(tid)
        while kind in _MODS:
            tid = ref
            kind, _, _, ref, _ = self.record(tid)
        return tid


def read_kernel_btf(path: Path | None = None) -> Btf:
    """The running kernel's BTF; EnvironmentProblem (exit 5) when it cannot be read."""
    path = path or btf_path()
    try:
        return Btf(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise EnvironmentProblem(
            f"cannot read the kernel's BTF at {path} ({exc}): task fields need their offsets "
            "from it (a kernel built with CONFIG_DEBUG_INFO_BTF=y); nothing was loaded") from None


def field_offsets(wanted: set[tuple[str, str]], btf: Btf | None = None) -> dict[tuple[str, str], int]:
    """(struct, field) -> byte offset in this kernel, each checked against KERNEL_FIELDS' size."""
    btf = btf or read_kernel_btf()
    out: dict[tuple[str, str], int] = {}
    for st, field in sorted(wanted):
        sid = btf.find_struct(st)
        found = btf.member(sid, field) if sid is not None else None
        if found is None:
            raise RuntimeFailure(f"this kernel's BTF has no field `{st}.{field}`")
        offset, size = found
        if KERNEL_FIELDS.get((st, field)) != size:
            raise RuntimeFailure(f"this kernel's `{st}.{field}` is {size} bytes; tatara-build "
                                 f"reads it as {KERNEL_FIELDS.get((st, field))}")
        out[(st, field)] = offset
    return out


def symbol_field(symbol: str) -> tuple[str, str] | None:
    """(struct, field) an offset symbol asks for, or None for any other symbol."""
    if not symbol.startswith(KOFF_PREFIX):
        return None
    parts = symbol[len(KOFF_PREFIX):].rsplit("__", 2)
    return (parts[1].lower(), parts[2].lower()) if len(parts) == 3 else None


def offsets_for(data: bytes) -> dict[str, tuple[int, int]]:
    """The offset symbols of an object's bytes with this kernel's values, as
    objglobals.patch takes them (symbol -> (value, 4)); {} when it has none (no BTF read)."""
    if KOFF_PREFIX.encode() not in data:  # the usual object: no ELF parse at all
        return {}
    try:
        symbols = objglobals.slots(data)
    except Exception:  # noqa: BLE001 - not ELF: loading reports it with bpftool's words
        return {}
    asked = {s: f for s in symbols if (f := symbol_field(s)) is not None}
    if not asked:
        return {}
    offsets = field_offsets(set(asked.values()))
    return {s: (offsets[f], 4) for s, f in asked.items()}


def offsets_encoded(data: bytes) -> dict[str, bytes]:
    """The same, each value as the object's bytes (bpfman's `--global NAME=HEX` form)."""
    values = offsets_for(data)
    where = objglobals.slots(data) if values else {}
    return {s: v.to_bytes(size, "little" if where[s].little_endian else "big")
            for s, (v, size) in values.items()}
