"""Map forms: map-get, map-set, map-incr, map-add, map-delete."""

from __future__ import annotations

from tatara_build.lower import dsl_tables as T
from tatara_build.lower.bpf_fn.core import LowerError, Lowering, Ty, Val, cast, is_atom
from tatara_build.lower.bpf_fn.registry import form
from tatara_build.lower.naming import rust_ident
from tatara_build.model.ir import MapSpec
from tatara_build.model.kinds import MAP_KINDS
from tatara_build.model.suggest import suggest
from tatara_build.reader.lisp import Node

VALUE_TYPES = {4: "u32", 8: "u64"}


def map_named(low: Lowering, node: Node) -> tuple[str, MapSpec]:
    """The Rust path and spec of the map named by `node`: in the policy and in :uses-maps."""
    if node.kind not in ("sym", "str"):
        raise LowerError("expected a map name", node)
    name = str(node.value)
    spec = low.maps.get(name)
    if spec is None:
        hint = suggest(name, list(low.maps))
        raise LowerError(f"unknown map `{name}` (not in this policy's :maps)", node,
                         f"did you mean `{hint}`?" if hint else None)
    if name not in low.program.uses_maps:
        raise LowerError(f"program `{low.program.name}` uses map `{name}` without listing it "
                         "in :uses-maps", node, f'add "{name}" to :uses-maps')
    return f"crate::maps::{rust_ident(name)}", spec


def map_of(low: Lowering, node: Node) -> tuple[str, MapSpec]:
    """`map_named`, checked for the DSL's keyed operations."""
    path, spec = map_named(low, node)
    name = spec.name
    kind = MAP_KINDS[spec.kind]
    if not kind.keyed:
        raise LowerError(f"map `{name}` is `{spec.kind}`; the DSL's map operations work on "
                         "hash and array kinds", node)
    if spec.value_size not in VALUE_TYPES:
        raise LowerError(f"map `{name}` has value_size {spec.value_size}; the DSL reads and "
                         "writes 4- or 8-byte values (u32/u64)", node)
    if not kind.array and spec.key_size not in VALUE_TYPES:
        raise LowerError(f"map `{name}` has key_size {spec.key_size}; DSL keys are 4 or 8 "
                         "bytes (u32/u64)", node)
    return path, spec


def key_code(spec: MapSpec, key: str) -> str:
    return cast(key, "u64", "u32" if MAP_KINDS[spec.kind].array else VALUE_TYPES[spec.key_size])


@form(*T.MAP_OPS)
def lower_map(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    n = T.MAP_OPS[op]
    if len(args) != n:
        raise LowerError(f"map operation `{op}` requires {n} args, got {len(args)}", node)
    path, spec = map_of(low, args[0])
    kind = MAP_KINDS[spec.kind]
    vt = VALUE_TYPES[spec.value_size]
    key = key_code(spec, low.as_u64(args[1]))
    key = key if is_atom(key) else low.temp(key)
    if op == "map-has":
        return Val(low.temp(f"{path}.get_ptr({key}).is_some()"), Ty.BOOL)
    if op == "map-get":
        out = low.declare("u64")
        low.emit(f"match {path}.get_ptr({key}) {{")
        low.emit(f"    // SAFETY: a pointer from a successful lookup is valid for a {vt}.")
        low.emit(f"    Some(p) => {out} = u64::from(unsafe {{ *p }}),")
        low.emit(f"    None => {out} = 0,")
        low.emit("}")
        return Val(out, Ty.U64)
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
