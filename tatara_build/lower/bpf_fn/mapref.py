"""Map references: a map named in a form, checked against the policy and :uses-maps."""

from __future__ import annotations

from tatara_build.lower.bpf_fn.core import LowerError, Lowering, cast
from tatara_build.lower.naming import rust_ident
from tatara_build.model.ir import MapSpec, ident
from tatara_build.model.kinds import MAP_KINDS
from tatara_build.model.suggest import suggest
from tatara_build.reader.lisp import Node

VALUE_TYPES = {4: "u32", 8: "u64"}


def map_named(low: Lowering, node: Node) -> tuple[str, MapSpec]:
    """The Rust path and spec of the map named by `node`: in the policy and in :uses-maps."""
    if node.kind not in ("sym", "str"):
        raise LowerError("expected a map name", node)
    name = str(node.value)
    spec = low.maps.get(name) or next(  # any spelling of the name (model.ir.ident)
        (s for n, s in low.maps.items() if ident(n) == ident(name)), None)
    if spec is None:
        hint = suggest(name, list(low.maps))
        raise LowerError(f"unknown map `{name}` (not in this policy's :maps)", node,
                         f"did you mean `{hint}`?" if hint else None)
    if ident(name) not in {ident(u) for u in low.program.uses_maps}:
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
    if spec.value_size not in VALUE_TYPES and not spec.value_struct:
        raise LowerError(f"map `{name}` has value_size {spec.value_size}; the DSL reads and "
                         "writes 4- or 8-byte values (u32/u64)", node,
                         "or give the map a record value: :value-struct")
    if not kind.array and spec.key_size not in VALUE_TYPES and not spec.key_struct:
        raise LowerError(f"map `{name}` has key_size {spec.key_size}; DSL keys are 4 or 8 "
                         "bytes (u32/u64)", node)
    return path, spec


def key_code(spec: MapSpec, key: str) -> str:
    return cast(key, "u64", "u32" if MAP_KINDS[spec.kind].array else VALUE_TYPES[spec.key_size])
