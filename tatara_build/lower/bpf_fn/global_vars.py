"""`(global NAME)`: the value of a defbpf-global, as loaded (model/globals.py).

The crate declares each global as a `#[no_mangle] static` in `.rodata`
(templates/crate/globals.rs.j2); the body reads it through `crate::globals::read`, a
volatile load, so LLVM cannot replace it with the build-time default and the value
written into the object at load time (`--set`) is the one the program sees.
"""

from __future__ import annotations

from tatara_build.lower.bpf_fn.core import LowerError, Lowering, Ty, Val
from tatara_build.lower.bpf_fn.registry import form
from tatara_build.lower.naming import rust_ident, snake
from tatara_build.model.suggest import suggest
from tatara_build.reader.lisp import Node


@form("global")
def lower_global(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    if len(args) != 1 or args[0].kind not in ("sym", "str"):
        raise LowerError("`(global NAME)` takes the name of a defbpf-global", node,
                         "e.g. `(global target-port)`")
    name = snake(str(args[0].value))
    spec = low.globals.get(name)
    if spec is None:
        known = sorted(low.globals)
        hint = suggest(name, known)
        raise LowerError(f"unknown global `{args[0].value}`", args[0],
                         f"did you mean `{hint}`?" if hint else
                         ("globals: " + ", ".join(known)) if known else
                         f'declare it: (defbpf-global :name "{name}" :type :u32 :default 0)')
    read = f"crate::globals::read(&crate::globals::{rust_ident(name)})"
    return Val(low.temp(read if spec.rust_type == "u64" else f"u64::from({read})"), Ty.U64)
