"""Record forms: `(record S (field v)…)`, `(get r field)`, `(set r field v)`,
`(emit map r)` and `(tp-field ctx S field)` (a tracepoint record read by name).

Records are `#[repr(C)]` structs in `crate::records` (templates/crate/records.rs.j2),
built with struct-update syntax from `S::ZERO`, so no record is ever uninitialised.
Scalar fields read as u64 (ipv4 in host order, like `ipv4-src`); ipv6, mac and
`bytes:N` fields are byte arrays that can only be copied into a field of that type.
"""

from __future__ import annotations

from tatara_build.lower.bpf_fn.core import LowerError, Lowering, Ty, Val
from tatara_build.lower.bpf_fn.loops import refuse_loop_var
from tatara_build.lower.bpf_fn.mapref import map_named
from tatara_build.lower.bpf_fn.packet import ctx_arg
from tatara_build.lower.bpf_fn.registry import form
from tatara_build.lower.naming import rust_ident
from tatara_build.model.kinds import MAP_KINDS
from tatara_build.model.records import SCALARS, Slot, StructSpec, layout, rust_field_type, rust_name
from tatara_build.model.suggest import suggest
from tatara_build.reader.lisp import Node


def struct_named(low: Lowering, node: Node) -> StructSpec:
    if node.kind not in ("sym", "str"):
        raise LowerError("expected a struct name", node)
    spec = low.structs.get(str(node.value))
    if spec is None:
        hint = suggest(str(node.value), list(low.structs))
        raise LowerError(f"unknown struct `{node.value}`", node,
                         f"did you mean `{hint}`?" if hint else "declare it with defbpf-struct")
    return spec


def rust_type(low: Lowering, name: str) -> str:
    """`crate::records::Name`, and the crate will declare it."""
    low.used_structs.add(name)
    return f"crate::records::{rust_name(name)}"


def slot_of(spec: StructSpec, node: Node) -> Slot:
    slot = layout(spec).slot(str(node.value)) if node.kind in ("sym", "str") else None
    if slot is None:
        names = [f.name for f in spec.fields]
        hint = suggest(str(node.value), names)
        raise LowerError(f"struct `{spec.name}` has no field `{node.text()[:40]}`", node,
                         (f"did you mean `{hint}`? " if hint else "") + "fields: " + ", ".join(names))
    return slot


def record_arg(low: Lowering, node: Node, struct: str | None = None) -> Val:
    v = low.expr(node)
    if v.type != Ty.REC:
        raise LowerError("expected a record here" + (f" (a `{struct}`)" if struct else ""), node,
                         "build one with `(record name (field value)…)`")
    if struct and v.of != struct:
        raise LowerError(f"expected a `{struct}` record, got a `{v.of}`", node)
    return v


def store(low: Lowering, slot: Slot, node: Node) -> str:
    """The Rust value of `node` converted for `slot`'s field type."""
    if slot.type in SCALARS or slot.type == "ipv4":
        code = low.as_u64(node)
        if slot.type == "ipv4":
            return f"({code} as u32).to_be_bytes()"
        return code if slot.type == "u64" else f"{code} as {slot.type}"
    v = low.expr(node)
    if v.type != Ty.BYTES or rust_field_type(v.of) != rust_field_type(slot.type):
        raise LowerError(f"field `{slot.name}` is {slot.type}; this value is not", node,
                         "copy a field of the same type, or (call get-current-comm) for bytes:16")
    return v.code


def load(low: Lowering, slot: Slot, code: str) -> Val:
    """Read field `code` (a Rust place of `slot`'s type) as a DSL value."""
    if slot.type == "u64":
        return Val(low.temp(code), Ty.U64)
    if slot.type in SCALARS:
        return Val(low.temp(f"u64::from({code})"), Ty.U64)
    if slot.type == "ipv4":
        return Val(low.temp(f"u64::from(u32::from_be_bytes({code}))"), Ty.U64)
    return Val(low.temp(code), Ty.BYTES, slot.type)


@form("record")
def lower_record(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    if not args:
        raise LowerError("`(record struct-name (field value)…)` needs a struct name", node)
    spec = struct_named(low, args[0])
    inits = []
    for pair in args[1:]:
        if pair.kind != "list" or len(pair.items) != 2:
            raise LowerError("expected `(field value)`", pair)
        slot = slot_of(spec, pair.items[0])
        inits.append(f"{rust_ident(slot.name)}: {store(low, slot, pair.items[1])}")
    t = rust_type(low, spec.name)
    if len(inits) < len(spec.fields):
        inits.append(f"..{t}::ZERO")
    return Val(struct_literal(low, t, inits), Ty.REC, spec.name)


def struct_literal(low: Lowering, t: str, inits: list[str]) -> str:
    """`let tN = T { a: x, ..T::ZERO };` laid out as rustfmt does (one line only when short)."""
    if not inits or inits == [f"..{t}::ZERO"]:
        return low.temp(f"{t}::ZERO")
    inner = ", ".join(inits)
    one = f"let t{low.temps + 1} = {t} {{ {inner} }};"
    if len(inner) <= 18 and len("    " * low.depth + one) <= 100:
        return low.temp(f"{t} {{ {inner} }}")
    low.temps += 1
    out = f"t{low.temps}"
    low.emit(f"let {out} = {t} {{")
    for item in inits:
        low.emit(f"    {item}" + ("" if item.startswith("..") else ","))
    low.emit("};")
    return out


@form("get")
def lower_get(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    low.arity(node, args, 2, "`(get record field)` takes a record and a field name")
    rec = record_arg(low, args[0])
    slot = slot_of(low.structs[rec.of], args[1])
    return load(low, slot, f"{rec.code}.{rust_ident(slot.name)}")


@form("set")
def lower_set(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    """`(set var value)` assigns a `let` variable; `(set record field value)` a field."""
    if len(args) not in (2, 3):
        raise LowerError("`(set var value)` or `(set record field value)`", node)
    if args[0].kind != "sym":
        raise LowerError("`set` writes a variable bound with `let`", args[0])
    b = low.lookup(args[0])
    refuse_loop_var(low, b, args[0])
    if len(args) == 2:
        return _set_var(low, b, args[1])
    if b.type != Ty.REC:
        raise LowerError(f"`{args[0].value}` is not a record", args[0])
    slot = slot_of(low.structs[b.of], args[1])
    value = store(low, slot, args[2])
    low.mutated.add(b.rust)
    low.emit(f"{b.rust}.{rust_ident(slot.name)} = {value};")
    return Val("", Ty.UNIT)


def _set_var(low: Lowering, b, node: Node) -> Val:
    if b.type == Ty.BOOL:
        value = low.as_bool(node)
    elif b.type == Ty.U64:
        value = low.as_u64(node)
    else:
        v = low.expr(node)
        if v.type != b.type or v.of != b.of:
            raise LowerError(f"this value is not a {b.of or b.type.value} like the variable", node)
        value = v.code
    low.mutated.add(b.rust)
    low.emit(f"{b.rust} = {value};")
    return Val("", Ty.UNIT)


@form("emit")
def lower_emit(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    low.arity(node, args, 2, "`(emit map record)` takes an output map and a record")
    path, m = map_named(low, args[0])
    kind = MAP_KINDS[m.kind]
    if not kind.streamed:
        outs = [n for n, s in low.maps.items() if MAP_KINDS[s.kind].streamed]
        raise LowerError(f"map `{m.name}` is `{m.kind}`; `emit` sends to a ring buffer or a "
                         "perf event array", args[0], "output maps here: " + (", ".join(outs) or "none"))
    rec = record_arg(low, args[1], m.value_struct)
    t = rust_type(low, rec.of)
    if kind.cpu_sized:  # perf event array: per-CPU buffers, written through the context
        low.uses_ctx = True
        low.emit(f"{path}.output(ctx, &{rec.code}, 0);")
    else:
        low.emit(f"let _ = {path}.output_untyped::<{t}>(&{rec.code}, 0);")
    return Val("", Ty.UNIT)


@form("tp-field")
def lower_tp_field(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    if len(args) != 3:
        raise LowerError("`(tp-field ctx struct field)` reads a tracepoint record field", node,
                         "declare the record's format with defbpf-struct (see `tatara-build "
                         "tp-format`)")
    ctx_arg(low, node, args[:1], 1)
    if low.kind.context != "TracePointContext":
        raise LowerError(f"`(tp-field …)` reads a tracepoint record; `{low.program.kind}` "
                         "programs have none", node)
    spec = struct_named(low, args[1])
    slot = slot_of(spec, args[2])
    low.uses_ctx = True
    ty = rust_field_type(slot.type)
    # SAFETY (in the output): read_at is a bpf_probe_read of the record at this offset.
    raw = low.temp(f"unsafe {{ ctx.read_at::<{ty}>({slot.offset}) }}.ok()?")
    return load(low, slot, raw)
