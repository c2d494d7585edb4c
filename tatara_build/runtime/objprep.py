"""Prepare a libbpf object for `bpftool prog loadall` without touching the artifact.

Real C objects carry three things bpftool would get wrong for us:

* maps declared with `__uint(pinning, LIBBPF_PIN_BY_NAME)`: libbpf pins them at
  /sys/fs/bpf/<name>, outside our pin root, and refuses our `pinmaps`. We load a
  staged copy whose `pinning` member is renamed away (a 4-byte patch of the BTF
  member record, same size, nothing moves) with bpftool `-m` (libbpf relaxed maps:
  unknown map fields are ignored), then rebind the map to our own pin;
* legacy section names (SEC("xdp_patch_ports")) and sections the libbpf inside
  bpftool does not know (tcx/): loaded with `type <kind>` from the manifest, which
  the build resolved from the spec's kind (backends/manifest.py);
* maps the runtime cannot create alone (map-in-map needs an inner map): the
  object creates them and we move their pins into our pin root (`adopt`).

Messages name the user's file (the manifest's `source`), not the copy.
"""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.elffile import ELFFile

from tatara_build.backends.manifest import MANIFEST
from tatara_build.backends.proc import Result
from tatara_build.model.kinds import MAP_KINDS
from tatara_build.runtime import bpftool, kbtf, objglobals

BTF_MAGIC = 0xEB9F
_KIND_EXTRA = {1: 4, 3: 12, 14: 4, 17: 4}  # fixed trailing bytes per BTF kind
_KIND_VLEN = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}  # bytes per vlen entry
_MODS = (8, 9, 10, 11, 18)  # typedef, volatile, const, restrict, type_tag


@dataclass
class Prepared:
    path: Path  # what bpftool loads: the artifact, or a staged copy
    display: Path  # the user's file, for messages
    prog_type: str | None = None  # `type` argument (legacy section names)
    relaxed: bool = False  # bpftool -m (a `pinning` member was renamed)
    scratch: Path | None = None
    entry: dict = field(default_factory=dict)

    def cleanup(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def manifest_entry(obj: Path) -> dict:
    """The manifest's record of `obj` (written by the build beside it), or {}."""
    try:
        data = json.loads((obj.parent / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return next((o for o in data.get("objects", []) if o.get("file") == obj.name), {})


def prepare(obj: Path, globals_: dict[str, tuple[int, int]] | None = None) -> Prepared:
    """The object to load and how; a staged copy only when a pin-by-name map needs it or
    load-time config (`globals_`: symbol -> (value, size)) is written into it."""
    entry = manifest_entry(obj)
    display = Path(entry.get("source") or obj)
    prep = Prepared(obj, display, entry.get("load_type") or None, entry=entry)
    data = obj.read_bytes()
    patches = pinning_patches(data)
    globals_ = {**(globals_ or {}), **kbtf.offsets_for(data)}  # task-field offsets (kbtf.py)
    if patches or globals_:
        staged = bytearray(data)
        for offset, value in patches:
            staged[offset:offset + 4] = struct.pack("<I", value)
        if globals_:  # runtime/objglobals.py; raises before anything is staged or loaded
            staged = bytearray(objglobals.patch(bytes(staged), globals_, str(display)))
        prep.scratch = Path(tempfile.mkdtemp(prefix="tatara-objprep."))
        prep.path = prep.scratch / obj.name
        prep.path.write_bytes(bytes(staged))
        prep.relaxed = bool(patches)
    return prep


def pinning_patches(data: bytes) -> list[tuple[int, int]]:
    """(file offset, new name_off) for each `pinning` member of a `.maps` struct: the
    member is renamed to its map's own name, which libbpf in relaxed mode ignores."""
    btf = _btf_bytes(data)
    if btf is None:
        return []
    base, raw = btf
    magic, _ver, _flags, hdr_len, type_off, type_len, str_off, _str_len = struct.unpack_from(
        "<HBBIIIII", raw, 0)
    if magic != BTF_MAGIC:
        return []
    types_at, strings_at = hdr_len + type_off, hdr_len + str_off
    records = _records(raw, types_at, type_len)

    def name(off: int) -> str:
        end = raw.index(b"\0", strings_at + off)
        return raw[strings_at + off:end].decode(errors="replace")

    out = []
    for kind, name_off, vlen, at, _ref in records.values():
        if kind != 15 or name(name_off) != ".maps":
            continue
        for i in range(vlen):
            var_id = struct.unpack_from("<I", raw, at + 12 + 12 * i)[0]
            var = records.get(var_id)
            if var is None:
                continue
            struct_rec = _skip_mods(records, var[4])
            if struct_rec is None or struct_rec[0] != 4:
                continue
            for j in range(struct_rec[2]):
                m_at = struct_rec[3] + 12 + 12 * j
                if name(struct.unpack_from("<I", raw, m_at)[0]) == "pinning":
                    out.append((base + m_at, var[1]))
    return out


def _btf_bytes(data: bytes) -> tuple[int, bytes] | None:
    import io

    try:
        elf = ELFFile(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - not ELF: loading reports it with bpftool's words
        return None
    sec = elf.get_section_by_name(".BTF")
    return (sec["sh_offset"], sec.data()) if sec is not None else None


def _records(raw: bytes, start: int, length: int) -> dict[int, tuple[int, int, int, int, int]]:
    """type id -> (kind, name_off, vlen, byte offset, size_or_type)."""
    out, at, tid = {}, start, 1
    while at < start + length:
        name_off, info, ref = struct.unpack_from("<III", raw, at)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        out[tid] = (kind, name_off, vlen, at, ref)
        at += 12 + _KIND_EXTRA.get(kind, 0) + _KIND_VLEN.get(kind, 0) * vlen
        tid += 1
    return out


def _skip_mods(records: dict, tid: int):
    rec = records.get(tid)
    while rec is not None and rec[0] in _MODS:
        rec = records.get(rec[4])
    return rec


def split_rebind(rebind: dict[str, Path], adoptable: set[str]) -> tuple[dict[str, Path],
                                                                         dict[str, Path]]:
    """(rebind to existing pins, pins to adopt from the load): a map of a kind the runtime
    cannot create alone (`adoptable`) whose pin is not there yet is created by the object."""
    keep = {n: p for n, p in rebind.items() if p.exists() or n not in adoptable}
    adopt = {n: p for n, p in rebind.items() if n not in keep}
    return keep, adopt


def adopt_pins(pinned_dir: Path, adopt: dict[str, Path]) -> list[Path]:
    """Move the object's own pins (from `pinmaps pinned_dir`) to our pin paths."""
    moved = []
    for name, pin in adopt.items():
        src = pinned_dir / name
        if src.exists():
            pin.parent.mkdir(parents=True, exist_ok=True)
            src.rename(pin)
            moved.append(pin)
    shutil.rmtree(pinned_dir, ignore_errors=True)
    return moved


def loadall(obj: Path, into: Path, rebind: dict[str, Path], pinmaps: Path | None = None,
            globals_: dict[str, tuple[int, int]] | None = None) -> tuple[Result, Path]:
    """`bpftool prog loadall` of the prepared object into `into`, maps rebound to our pins
    (map-in-map ones adopted from the load), every map also pinned in `pinmaps` if given,
    `globals_` (load-time config) written into the copy loaded; (result, the user's file
    for messages)."""
    prep = prepare(obj, globals_)
    adoptable = {m["name"] for m in prep.entry.get("maps", [])
                 if m.get("type") in {k.bpftool_type for k in MAP_KINDS.values()
                                      if not k.standalone}}
    keep, adopt = split_rebind(rebind, adoptable)
    pinned = pinmaps or into.with_name(into.name + "_maps")
    args = ["-n"] + (["-m"] if prep.relaxed else []) + ["prog", "loadall", str(prep.path),
                                                        str(into)]
    if prep.prog_type:
        args += ["type", prep.prog_type]
    for name, pin in sorted(keep.items()):
        args += ["map", "name", name, "pinned", str(pin)]
    if adopt or pinmaps:
        args += ["pinmaps", str(pinned)]
    try:
        res = bpftool.call(args, json_out=False)
    finally:
        prep.cleanup()
    if res.ok and adopt:
        adopt_pins(pinned, adopt)
    elif pinmaps is None:
        shutil.rmtree(pinned, ignore_errors=True)
    return res, prep.display
