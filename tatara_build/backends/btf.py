"""BTF name sanitising for objects built without bpf-linker.

rustc's DWARF names types like `Array<u64, 4, 0>`; LLVM copies them into .BTF and
the kernel rejects the whole BTF (`Invalid name`), so libbpf drops it: no
`formatted` map dumps, no BTF-typed features. bpf-linker's `--btf` rewrites such
names; here we do the same in place: every character outside `[A-Za-z0-9_.]` in a
string that a BTF type, member, enum value, parameter or variable uses as its
name becomes `_` (same length, so no offset moves). Line-info strings (source
text and file names, referenced only from .BTF.ext) are left alone.

The format is the kernel's Documentation/bpf/btf.rst.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from elftools.elf.elffile import ELFFile

BTF_MAGIC = 0xEB9F
# kind -> (bytes of trailing data per vlen item, whether those items carry a name_off)
_VLEN_ITEMS = {4: (12, True), 5: (12, True), 6: (8, True), 13: (8, True), 15: (12, False),
               19: (12, True)}
_FIXED_EXTRA = {1: 4, 3: 12, 14: 4, 17: 4}
_BAD = re.compile(rb"[^A-Za-z0-9_.]")


def name_offsets(btf: bytes) -> set[int]:
    """Offsets (into the string section) of every name a BTF type uses."""
    magic, _ver, _flags, hdr_len, type_off, type_len, _str_off, _str_len = struct.unpack_from(
        "<HBBIIIII", btf, 0)
    if magic != BTF_MAGIC:
        raise ValueError("not little-endian BTF")
    pos, end = hdr_len + type_off, hdr_len + type_off + type_len
    names: set[int] = set()
    while pos < end:
        name_off, info, _size = struct.unpack_from("<III", btf, pos)
        pos += 12
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        names.add(name_off)
        pos += _FIXED_EXTRA.get(kind, 0)
        item, named = _VLEN_ITEMS.get(kind, (0, False))
        if named:
            for i in range(vlen):
                names.add(struct.unpack_from("<I", btf, pos + i * item)[0])
        pos += item * vlen
    names.discard(0)
    return names


def sanitize(btf: bytes) -> tuple[bytes, int]:
    """BTF with invalid name characters replaced by `_`; and how many names changed."""
    _m, _v, _f, hdr_len, _to, _tl, str_off, str_len = struct.unpack_from("<HBBIIIII", btf, 0)
    base = hdr_len + str_off
    out = bytearray(btf)
    changed = 0
    for off in sorted(name_offsets(btf)):
        start = base + off
        stop = btf.index(b"\0", start, base + str_len)
        name = btf[start:stop]
        fixed = _BAD.sub(b"_", name)
        if fixed[:1].isdigit():
            fixed = b"_" + fixed[1:]
        if fixed != name:
            out[start:stop] = fixed
            changed += 1
    return bytes(out), changed


def sanitize_object(path: Path) -> int:
    """Rewrite the .BTF section of the ELF object at `path` in place; names changed."""
    data = bytearray(path.read_bytes())
    with path.open("rb") as fh:
        sec = ELFFile(fh).get_section_by_name(".BTF")
        if sec is None:
            return 0
        off, size = sec["sh_offset"], sec["sh_size"]
    fixed, changed = sanitize(bytes(data[off : off + size]))
    if changed:
        data[off : off + size] = fixed
        path.write_bytes(bytes(data))
    return changed
