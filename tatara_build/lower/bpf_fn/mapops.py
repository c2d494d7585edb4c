"""Map forms on numbers: map-has, map-get, map-set, map-incr, map-add, map-delete.

Maps with a record key or value go to recmaps.py.
"""

from __future__ import annotations

from tatara_build.lower import dsl_tables as T
from tatara_build.lower.bpf_fn.core import LowerError, Lowering, Ty, Val, cast, is_atom
from tatara_build.lower.bpf_fn.mapref import VALUE_TYPES, key_code, map_named, map_of
from tatara_build.lower.bpf_fn.recmaps import lower_record_map
from tatara_build.lower.bpf_fn.registry import form
from tatara_build.model.ir import MapSpec
from tatara_build.model.kinds import MAP_KINDS
from tatara_build.reader.lisp import Node

__all__ = ["lower_map", "map_add", "map_named"]


@form(*T.MAP_OPS)
def lower_map(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    n = T.MAP_OPS[op]
    if not args:
        raise LowerError(f"map operation `{op}` requires {n} args, got 0", node)
    path, spec = map_of(low, args[0])
    if spec.key_struct or spec.value_struct:
        return lower_record_map(low, op, node, args, path, spec)
    if len(args) != n:
        raise LowerError(f"map operation `{op}` requires {n} args, got {len(args)}", node)
    kind = MAP_KINDS[spec.kind]
    vt = VALUE_TYPES[spec.value_size]
    key = key_code(spec, low.as_u64(args[1]))
    key = key if is_atom(key) else low.temp(key)
    if op == "map-has":
        return Val(low.temp(f"crate::rt::has({path}.get_ptr({key}))"), Ty.BOOL)
    if op == "map-get":
        return map_get(low, path, key, vt)
    if op == "map-delete":
        if kind.array:
            raise LowerError(f"cannot delete from array map `{spec.name}`", node,
                             "set the slot to 0 with (map-set ...)")
        low.emit(f"let _ = {path}.remove({key});")
        return Val("", Ty.UNIT)
    value = low.as_u64(args[2]) if op in ("map-set", "map-add") else "1_u64"
    if op == "map-set":
        call = "set" if kind.array else "insert"
        low.emit(f"let _ = {path}.{call}({key}, {cast(value, 'u64', vt)}, 0);")
        return Val("", Ty.UNIT)
    return map_add(low, path, spec, key, cast(value, "u64", vt), vt)


def map_get(low: Lowering, path: str, key: str, vt: str) -> Val:
    """`(map-get m k)` of a u32/u64 value: the value widened to u64, 0 when absent."""
    out = low.declare("u64")
    low.emit(f"match {path}.get_ptr({key}) {{")
    low.emit(f"    // SAFETY: a pointer from a successful lookup is valid for a {vt}.")
    low.emit(f"    Some(p) => {out} = u64::from(unsafe {{ *p }}),")
    low.emit(f"    None => {out} = 0,")
    low.emit("}")
    return Val(out, Ty.U64)


def map_add(low: Lowering, path: str, spec: MapSpec, key: str, d: str, vt: str) -> Val:
    """Add `d` to the slot at `key` (atomically unless per-CPU); insert it when absent."""
    kind = MAP_KINDS[spec.kind]
    low.emit(f"if let Some(p) = {path}.get_ptr_mut({key}) {{")
    if kind.per_cpu:
        low.emit("    // SAFETY: this CPU's slot, from a successful lookup; no other writer.")
        low.emit(f"    unsafe {{ *p = (*p).wrapping_add({d}) }};")
    else:
        low.emit("    // SAFETY: a shared slot from a successful lookup, updated atomically.")
        low.emit(f"    unsafe {{ crate::rt::atomic_add_{vt}(p, {d}) }};")
    if kind.array:
        low.emit("}")
    else:
        low.emit("} else {")
        low.emit("    // BPF_NOEXIST: a concurrent first insert wins; this count is lost then.")
        low.emit(f"    let _ = {path}.insert({key}, {d}, 1);")
        low.emit("}")
    return Val("", Ty.UNIT)
