"""`(call helper)`: the BPF helpers the DSL offers (table in lower/dsl_tables.py)."""

from __future__ import annotations

from tatara_build.lower import dsl_tables as T
from tatara_build.lower.bpf_fn.core import LowerError, Lowering, Ty, Val
from tatara_build.lower.bpf_fn.registry import form
from tatara_build.reader.lisp import Node


@form("call")
def lower_call(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    if not args or args[0].kind != "sym":
        raise LowerError("`(call helper-name)` needs a helper name", node)
    name = str(args[0].value)
    if name not in T.BPF_HELPERS:
        raise LowerError(f"unknown helper `{name}` — add it to BPF_HELPERS or call directly "
                         "via aya", args[0], "helpers: " + ", ".join(T.BPF_HELPERS))
    if len(args) > 1:
        raise LowerError(f"helper `{name}` takes no arguments", args[1])
    path, unsafe = T.BPF_HELPERS[name]
    call = f"unsafe {{ {path}() }}" if unsafe else f"{path}()"
    return Val(low.temp(f"u64::from({call})"), Ty.U64)
