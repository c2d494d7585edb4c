"""What an object really contains: programs (ELF sections + symbols, pyelftools) and
BTF-defined maps (`bpftool btf dump file OBJ -j`).

Why pyelftools: section and symbol tables are plain ELF, and reading them in
process is exact and fast; the BTF map layout is read by bpftool, the same
libbpf that will load the object.
"""

from __future__ import annotations

import json
from pathlib import Path

from elftools.elf.elffile import ELFFile

from tatara_build.backends.proc import run
from tatara_build.model.kinds import kind_of_section

BTF_MAP_TYPES = {1: "hash", 2: "array", 3: "prog_array", 4: "perf_event_array",
                 5: "percpu_hash", 6: "percpu_array", 7: "stack_trace", 9: "lru_hash",
                 11: "lpm_trie", 12: "array_of_maps", 13: "hash_of_maps", 14: "devmap",
                 15: "sockmap", 16: "cpumap", 17: "xskmap", 25: "devmap_hash", 27: "ringbuf"}
SHF_EXECINSTR = 0x4


def programs(path: Path) -> list[dict]:
    """Global functions in executable sections other than .text (those are subprograms):
    name, section, kind (None for a legacy section name such as `xdp_patch_ports`, which
    the spec's kind resolves: backends/manifest.py)."""
    out = []
    with path.open("rb") as fh:
        elf = ELFFile(fh)
        symtab = elf.get_section_by_name(".symtab")
        if symtab is None:
            return []
        for sym in symtab.iter_symbols():
            if sym["st_info"]["type"] != "STT_FUNC" or sym["st_info"]["bind"] != "STB_GLOBAL":
                continue
            idx = sym["st_shndx"]
            if not isinstance(idx, int):
                continue
            sec = elf.get_section(idx)
            if sec.name == ".text" or not sec["sh_flags"] & SHF_EXECINSTR:
                continue
            out.append({"name": sym.name, "section": sec.name, "kind": kind_of_section(sec.name)})
    return sorted(out, key=lambda p: p["name"])


def license_of(path: Path) -> str | None:
    with path.open("rb") as fh:
        sec = ELFFile(fh).get_section_by_name("license")
        return sec.data().split(b"\0")[0].decode(errors="replace") if sec else None


def _resolve_size(types: dict[int, dict], tid: int) -> int:
    t = types.get(tid, {})
    kind = t.get("kind")
    if kind in ("TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG"):
        return _resolve_size(types, t["type_id"])
    if kind == "ARRAY":
        return t["nr_elems"] * _resolve_size(types, t["type_id"])
    if kind == "PTR":
        return 8
    return int(t.get("size", 0))


def maps(path: Path, bpftool: str = "bpftool") -> tuple[list[dict], str | None]:
    """BTF-defined maps of the object; (maps, error) — error when bpftool could not read BTF."""
    res = run([bpftool, "-j", "btf", "dump", "file", str(path)])
    if not res.ok:
        return [], (res.stdout + res.stderr).strip() or "bpftool btf dump failed"
    types = {t["id"]: t for t in json.loads(res.stdout)["types"]}
    out = []
    for t in types.values():
        if t.get("kind") != "DATASEC" or t.get("name") != ".maps":
            continue
        for var in t.get("vars", []):
            v = types[var["type_id"]]
            out.append(_map_def(types, v["name"], types[v["type_id"]]))
    return sorted(out, key=lambda m: m["name"]), None


def _map_def(types: dict[int, dict], name: str, struct: dict) -> dict:
    while struct.get("kind") in ("TYPEDEF", "CONST", "VOLATILE"):
        struct = types[struct["type_id"]]
    fields: dict[str, int] = {}
    for m in struct.get("members", []):
        target = types.get(m["type_id"], {})
        if target.get("kind") != "PTR":
            continue
        pointee = types.get(target["type_id"], {})
        if m["name"] in ("type", "max_entries", "map_flags", "pinning") \
                and pointee.get("kind") == "ARRAY":
            fields[m["name"]] = pointee["nr_elems"]
        elif m["name"] in ("key", "value"):
            fields[m["name"] + "_size"] = _resolve_size(types, target["type_id"])
        elif m["name"] in ("key_size", "value_size") and pointee.get("kind") == "ARRAY":
            fields[m["name"]] = pointee["nr_elems"]
    mtype = fields.get("type", 0)
    return {"name": name, "type": BTF_MAP_TYPES.get(mtype, str(mtype)),
            "key_size": fields.get("key_size", 0), "value_size": fields.get("value_size", 0),
            "max_entries": fields.get("max_entries", 0), "flags": fields.get("map_flags", 0),
            **({"pin_by_name": True} if fields.get("pinning") else {}),
            **({"value_size": 4} if BTF_MAP_TYPES.get(mtype, "").endswith("_of_maps")
               and not fields.get("value_size") else {})}


def object_info(path: Path) -> dict:
    progs = programs(path)
    found_maps, err = maps(path)
    return {"programs": progs, "maps": found_maps, "license": license_of(path),
            "btf_error": err}
