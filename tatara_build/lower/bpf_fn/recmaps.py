"""Map forms on maps whose key or value is a record (`:key-struct`, `:value-struct`).

`(map-get m k)` gives a copy of the record (all zero when absent); `(map-set m k r)`
stores one; `(map-add m k field d)` / `(map-incr m k field)` add to one u32/u64
field in place (atomically unless per-CPU), and `(map-add m k (f1 d1) (f2 d2)…)` to
several under one lookup; a hash map without the entry gets a record holding just
those counts.
"""

from __future__ import annotations

from tatara_build.lower import dsl_tables as T
from tatara_build.lower.bpf_fn.core import LowerError, Lowering, Ty, Val, cast
from tatara_build.lower.bpf_fn.mapref import VALUE_TYPES, key_code
from tatara_build.lower.bpf_fn.records import record_arg, rust_type, slot_of, struct_literal
from tatara_build.lower.naming import rust_ident
from tatara_build.model.ir import MapSpec
from tatara_build.model.kinds import MAP_KINDS
from tatara_build.reader.lisp import Node

FIELD_OPS = {"map-add": 4, "map-incr": 3}


def lower_record_map(low: Lowering, op: str, node: Node, args: list[Node], path: str,
                     spec: MapSpec) -> Val:
    for named in (spec.key_struct, spec.value_struct):
        if named and named not in low.structs:  # validate/records.py says where it is named
            raise LowerError(f"map `{spec.name}` has a record `{named}` that is not declared "
                             "(defbpf-struct)", node)
    n = FIELD_OPS[op] if spec.value_struct and op in FIELD_OPS else T.MAP_OPS[op]
    pairs = op == "map-add" and spec.value_struct and len(args) >= 3 and all(
        a.kind == "list" for a in args[2:])
    if len(args) != n and not pairs:
        shape = " field" if n == FIELD_OPS.get(op) else ""
        raise LowerError(f"map operation `{op}` requires {n} args, got {len(args)}", node,
                         f"`({op} {spec.name} key{shape}{' delta' if op == 'map-add' else ''})`")
    kind = MAP_KINDS[spec.kind]
    key = _key(low, spec, args[1])
    if op == "map-has":
        return Val(low.temp(f"crate::rt::has({path}.get_ptr({key}))"), Ty.BOOL)
    if op == "map-delete":
        if kind.array:
            raise LowerError(f"cannot delete from array map `{spec.name}`", node)
        low.emit(f"let _ = {path}.remove({key});")
        return Val("", Ty.UNIT)
    if not spec.value_struct:
        return _scalar_value(low, op, args, path, spec, key)
    t = rust_type(low, spec.value_struct)
    if op == "map-get":
        out = low.temp(f"match {path}.get_ptr({key}) {{")
        low.lines[-1] = low.lines[-1].removesuffix(";")
        low.emit("    // SAFETY: a pointer from a successful lookup is valid for the record.")
        low.emit("    Some(p) => unsafe { *p },")
        low.emit(f"    None => {t}::ZERO,")
        low.emit("};")
        return Val(out, Ty.REC, spec.value_struct)
    if op == "map-set":
        rec = record_arg(low, args[2], spec.value_struct)
        low.emit(f"let _ = {path}.{'set' if kind.array else 'insert'}({key}, {rec.code}, 0);")
        return Val("", Ty.UNIT)
    return _field_add(low, args, path, spec, key, t)


def _key(low: Lowering, spec: MapSpec, node: Node) -> str:
    if spec.key_struct:
        return record_arg(low, node, spec.key_struct).code
    code = key_code(spec, low.as_u64(node))
    return code if code.isidentifier() or code.endswith(("_u32", "_u64")) else low.temp(code)


def _scalar_value(low: Lowering, op: str, args: list[Node], path: str, spec: MapSpec,
                  key: str) -> Val:
    """A record key with a u32/u64 value: the number-valued forms of mapops.py."""
    from tatara_build.lower.bpf_fn.mapops import map_add, map_get

    vt = VALUE_TYPES[spec.value_size]
    if op == "map-get":
        return map_get(low, path, key, vt)
    value = low.as_u64(args[2]) if op in ("map-set", "map-add") else "1_u64"
    if op == "map-set":
        low.emit(f"let _ = {path}.insert({key}, {cast(value, 'u64', vt)}, 0);")
        return Val("", Ty.UNIT)
    return map_add(low, path, spec, key, cast(value, "u64", vt), vt)


def _field_add(low: Lowering, args: list[Node], path: str, spec: MapSpec, key: str,
               t: str) -> Val:
    struct = low.structs[spec.value_struct or ""]
    pairs = [a.items for a in args[2:]] if args[2].kind == "list" else \
        [[args[2], args[3]] if len(args) == 4 else [args[2]]]
    adds = []
    for pair in pairs:
        if len(pair) not in (1, 2) or (len(pair) == 1 and len(args) != 3):
            raise LowerError("expected `(field delta)`", pair[0] if pair else args[2])
        slot = slot_of(struct, pair[0])
        if slot.type not in ("u32", "u64"):
            raise LowerError(f"`{slot.name}` is {slot.type}; map-add/map-incr count in u32 or "
                             "u64 fields", pair[0])
        d = cast(low.as_u64(pair[1]) if len(pair) == 2 else "1_u64", "u64", slot.type)
        adds.append((rust_ident(slot.name), slot.type, d))
    kind = MAP_KINDS[spec.kind]
    low.emit(f"if let Some(p) = {path}.get_ptr_mut({key}) {{")
    if kind.per_cpu:
        low.emit("    // SAFETY: this CPU's record, from a successful lookup; no other writer.")
        for f, _, d in adds:
            low.emit(f"    unsafe {{ (*p).{f} = (*p).{f}.wrapping_add({d}) }};")
    else:
        low.emit("    // SAFETY: a shared record from a successful lookup, updated atomically.")
        for f, ty, d in adds:
            low.emit(f"    unsafe {{ crate::rt::atomic_add_{ty}(&raw mut (*p).{f}, {d}) }};")
    if not kind.array:
        low.emit("} else {")
        low.emit("    // BPF_NOEXIST: a concurrent first insert wins; this count is lost then.")
        low.depth += 1
        inits = [f"{f}: {d}" for f, _, d in adds]
        if len(adds) < len(struct.fields):
            inits.append(f"..{t}::ZERO")
        low.emit(f"let _ = {path}.insert({key}, {struct_literal(low, t, inits)}, 1);")
        low.depth -= 1
    low.emit("}")
    return Val("", Ty.UNIT)
