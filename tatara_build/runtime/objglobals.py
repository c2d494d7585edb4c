"""Write load-time config (defbpf-global values) into a staged copy of an object.

bpftool has no way to set a global before load: libbpf creates each `.rodata`/`.data`
map from the ELF section's bytes. So the value goes into those bytes, in a copy: the
symbol (pyelftools reads `.symtab`) gives the section and the offset inside it, its size
must be the global's size, and the object's byte order decides the encoding. The
artifact is never written; the copy lives in a temporary folder the loader removes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from elftools.elf.elffile import ELFFile

from tatara_build.errors import SpecError

DATA_SECTIONS = (".rodata", ".data")  # and their `.rodata.*`/`.data.*` variants


@dataclass(frozen=True)
class Slot:
    section: str
    file_offset: int
    size: int
    little_endian: bool


def slots(data: bytes) -> dict[str, Slot]:
    """Symbol name -> where its bytes are, for every object symbol in a data section."""
    elf = ELFFile(io.BytesIO(data))
    symtab = elf.get_section_by_name(".symtab")
    out: dict[str, Slot] = {}
    if symtab is None:
        return out
    for sym in symtab.iter_symbols():
        shndx = sym["st_shndx"]
        if sym["st_info"]["type"] != "STT_OBJECT" or not isinstance(shndx, int):
            continue
        sec = elf.get_section(shndx)
        if sec["sh_type"] != "SHT_PROGBITS" or not any(
                sec.name == s or sec.name.startswith(s + ".") for s in DATA_SECTIONS):
            continue
        out[sym.name] = Slot(sec.name, sec["sh_offset"] + sym["st_value"], sym["st_size"],
                             elf.little_endian)
    return out


def patch(data: bytes, values: dict[str, tuple[int, int]], shown: str) -> bytes:
    """`data` with each global `name -> (value, size)` written at its symbol; an object
    without that symbol (built before the global was declared) or with another size is a
    SpecError naming the file `shown`."""
    where = slots(data)
    out = bytearray(data)
    for name, (value, size) in sorted(values.items()):
        slot = where.get(name)
        if slot is None:
            raise SpecError(f"{shown} has no global `{name}` in .rodata/.data: rebuild it "
                            "(`tatara-build build`) after declaring the global")
        if slot.size != size:
            raise SpecError(f"{shown}: global `{name}` is {slot.size} bytes in the object, "
                            f"{size} in the spec: rebuild it")
        order = "little" if slot.little_endian else "big"
        out[slot.file_offset:slot.file_offset + size] = value.to_bytes(size, order)
    return bytes(out)


def read(data: bytes, name: str) -> int | None:
    """The value a global has in an object's bytes (None: no such global)."""
    slot = slots(data).get(name)
    if slot is None:
        return None
    raw = data[slot.file_offset:slot.file_offset + slot.size]
    return int.from_bytes(raw, "little" if slot.little_endian else "big")
