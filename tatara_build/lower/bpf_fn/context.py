"""Context fields (`(ctx-field ctx mark)`), and byte swaps."""

from __future__ import annotations

from tatara_build.lower import dsl_tables as T
from tatara_build.lower.bpf_fn.core import LowerError, Lowering, Ty, Val
from tatara_build.lower.bpf_fn.packet import ctx_arg
from tatara_build.lower.bpf_fn.registry import form
from tatara_build.model.kinds import PROGRAM_KINDS
from tatara_build.model.suggest import suggest
from tatara_build.reader.lisp import Node


@form("ctx-field")
def lower_ctx_field(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    if len(args) != 2 or args[1].kind != "sym":
        ctx = low.ctx_names[0] if low.ctx_names else "ctx"
        raise LowerError("`(ctx-field ctx name)` takes the context and a field name", node,
                         f"e.g. `(ctx-field {ctx} mark)`")
    ctx_arg(low, node, args[:1], 1)
    table = T.CONTEXT_FIELDS.get(low.kind.context)
    name = str(args[1].value).replace("-", "_")
    if table is None:
        having = [w for w, k in PROGRAM_KINDS.items() if k.context in T.CONTEXT_FIELDS]
        raise LowerError(f"`{low.program.kind}` programs have no context fields in the DSL",
                         args[1], "context fields exist for " + ", ".join(having))
    ptr, fields = table
    if name not in fields:
        hint = suggest(name, list(fields))
        raise LowerError(f"unknown context field `{args[1].value}` for `{low.program.kind}`",
                         args[1], (f"did you mean `{hint}`? " if hint else "")
                         + "fields: " + ", ".join(fields))
    low.uses_ctx = True
    return Val(low.temp(fields[name].replace("PTR", ptr)), Ty.U64)


@form(*T.BSWAP)
def lower_bswap(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    low.arity(node, args, 1, f"`({op} x)` takes one operand")
    x, ty = low.as_u64(args[0]), T.BSWAP[op]
    code = f"{x}.swap_bytes()" if ty == "u64" else f"u64::from(({x} as {ty}).swap_bytes())"
    return Val(low.temp(code), Ty.U64)

