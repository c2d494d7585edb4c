"""backends/btf.py byte for byte, on hand-made BTF blobs (as aya-obj tests each fix-up).

The layout is the kernel's Documentation/bpf/btf.rst: a 24-byte header, the type
section (12-byte `btf_type` records, each followed by its kind's extra data), then the
string section. Each test builds a blob, runs one step and checks the exact bytes.
"""

from __future__ import annotations

import shutil
import struct

import pytest

from tatara_build.backends import btf

# kinds (btf.rst): INT=1 ARRAY=3 STRUCT=4 UNION=5 ENUM=6 FUNC_PROTO=13 VAR=14 DATASEC=15
INT, ARRAY, STRUCT, UNION, ENUM, FUNC_PROTO, VAR, DATASEC = 1, 3, 4, 5, 6, 13, 14, 15


class Blob:
    """A little BTF writer: strings are interned, types appended in order."""

    def __init__(self) -> None:
        self.strings = bytearray(b"\0")
        self.types = bytearray()

    def s(self, text: str) -> int:
        off = len(self.strings)
        self.strings += text.encode() + b"\0"
        return off

    def t(self, kind: int, name: int, extra: bytes = b"", vlen: int = 0, size: int = 0) -> None:
        self.types += struct.pack("<III", name, (kind << 24) | vlen, size) + extra

    def bytes(self, magic: int = btf.BTF_MAGIC) -> bytes:
        hdr = struct.pack("<HBBIIIII", magic, 1, 0, 24, 0, len(self.types), len(self.types),
                          len(self.strings))
        return hdr + bytes(self.types) + bytes(self.strings)

    def string_at(self, data: bytes, off: int) -> bytes:
        base = 24 + len(self.types)
        return data[base + off: data.index(b"\0", base + off)]


@pytest.fixture
def blob():
    b = Blob()
    b.names = {
        "int": b.s("u64"),                       # valid: untouched
        "struct": b.s("Array<u64, 4, 0>"),       # rustc's generic name
        "m1": b.s("core::marker"),               # a member name with `::`
        "m2": b.s("ok_field"),
        "enum": b.s("Verdict"),
        "e1": b.s("Pass-Now"),                   # an enumerator with `-`
        "proto_param": b.s("x y"),               # a parameter with a space
        "var": b.s("1counter"),                  # leading digit
        "sec": b.s(".maps"),                     # `.` is allowed
        "line": b.s("src/main.rs:12 <a, b>"),    # line info: referenced by .BTF.ext only
    }
    n = b.names
    b.t(INT, n["int"], struct.pack("<I", 64), size=8)
    b.t(ARRAY, 0, struct.pack("<III", 1, 1, 4))
    b.t(STRUCT, n["struct"], struct.pack("<III", n["m1"], 1, 0) + struct.pack("<III", n["m2"], 1, 64),
        vlen=2, size=16)
    b.t(ENUM, n["enum"], struct.pack("<Ii", n["e1"], 1), vlen=1, size=4)
    b.t(FUNC_PROTO, 0, struct.pack("<II", n["proto_param"], 1), vlen=1)
    b.t(VAR, n["var"], struct.pack("<I", 1), size=1)
    b.t(DATASEC, n["sec"], struct.pack("<III", 6, 0, 8), vlen=1, size=8)
    return b


def test_name_offsets_are_exactly_the_names_types_use(blob):
    n = blob.names
    want = {n[k] for k in ("int", "struct", "m1", "m2", "enum", "e1", "proto_param", "var", "sec")}
    assert btf.name_offsets(blob.bytes()) == want  # not `line`, not the ARRAY's 0


def test_each_bad_name_is_fixed_in_place(blob):
    data = blob.bytes()
    fixed, changed = btf.sanitize(data)
    assert len(fixed) == len(data) and changed == 5
    got = {k: blob.string_at(fixed, off) for k, off in blob.names.items()}
    assert got == {
        "int": b"u64", "struct": b"Array_u64__4__0_", "m1": b"core__marker", "m2": b"ok_field",
        "enum": b"Verdict", "e1": b"Pass_Now", "proto_param": b"x_y", "var": b"_counter",
        "sec": b".maps", "line": b"src/main.rs:12 <a, b>",
    }
    assert fixed[:24 + len(blob.types)] == data[:24 + len(blob.types)]  # header, types same


def test_sanitize_is_idempotent(blob):
    once, _ = btf.sanitize(blob.bytes())
    assert btf.sanitize(once) == (once, 0)


def test_a_clean_blob_is_returned_unchanged():
    b = Blob()
    b.t(INT, b.s("u32"), struct.pack("<I", 32), size=4)
    data = b.bytes()
    assert btf.sanitize(data) == (data, 0)


def test_big_endian_or_foreign_data_is_refused(blob):
    with pytest.raises(ValueError, match="not little-endian BTF"):
        btf.name_offsets(blob.bytes(magic=0x9FEB))


def _btf_names(path) -> set[bytes]:
    from elftools.elf.elffile import ELFFile

    with path.open("rb") as fh:
        data = ELFFile(fh).get_section_by_name(".BTF").data()
    base = 24 + struct.unpack_from("<I", data, 16)[0]
    return {data[base + o: data.index(b"\0", base + o)] for o in btf.name_offsets(data)}


def test_an_object_is_fixed_in_its_btf_section_only(tmp_path):
    """clang's base types (`unsigned int`) have spaces: renamed, everything else kept."""
    from tests.conftest import EXAMPLES

    obj = tmp_path / "o.bpf.o"
    shutil.copyfile(EXAMPLES / "precompiled" / "count_udp.bpf.o", obj)
    before, names = obj.read_bytes(), _btf_names(obj)
    assert btf.sanitize_object(obj) == 2
    after = obj.read_bytes()
    assert len(after) == len(before) and after != before
    assert _btf_names(obj) == (names - {b"unsigned int", b"unsigned long long"}) | {
        b"unsigned_int", b"unsigned_long_long"}
    assert btf.sanitize_object(obj) == 0 and obj.read_bytes() == after
