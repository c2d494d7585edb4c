"""Control forms: return, let, if, when, do."""

from __future__ import annotations

from tatara_build.lower.bpf_fn.core import LowerError, Lowering, Ty, Val, cast
from tatara_build.lower.bpf_fn.registry import form
from tatara_build.reader.lisp import Node


@form("return")
def lower_return(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    low.arity(node, args, 1, "`(return :action)` takes exactly one action or value")
    a = args[0]
    code = (low.action_code(str(a.value), a) if a.kind == "kw"
            else cast(low.as_u64(a), "u64", low.kind.ret))
    low.emit(f"return Some({code});")
    return Val("", Ty.NEVER)


@form("let")
def lower_let(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    bad = "`(let)` requires a binding-list with one or more (name expr) pairs"
    if len(args) < 2 or args[0].kind != "list" or not args[0].items:
        raise LowerError(bad, node)
    low.scopes.append({})
    for binding in args[0].items:
        if binding.kind != "list" or len(binding.items) != 2 or binding.items[0].kind != "sym":
            raise LowerError(bad, binding)
        val = low.expr(binding.items[1])
        if not val.type.bindable:
            raise LowerError("a let binding needs a value", binding.items[1])
        low.bind(str(binding.items[0].value), val)
    result = sequence(low, args[1:], want)
    low.scopes.pop()
    return result


@form("do")
def lower_do(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    return sequence(low, args, want) if args else Val("", Ty.UNIT)


@form("if")
def lower_if(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    if len(args) != 3:
        raise LowerError("`(if cond then else)` requires exactly three sub-forms", node,
                         "use `(when cond body…)` for a one-armed if")
    cond = low.as_bool(args[0])
    at = len(low.lines)
    low.emit(f"if {cond} {{")
    out = f"t{low.temps + 1}" if want else None
    if out:
        low.temps += 1
    t = branch(low, [args[1]], out, want)
    low.emit("} else {")
    e = branch(low, [args[2]], out, want)
    low.emit("}")
    types = {t.type, e.type} - {Ty.NEVER}
    if not types:
        return Val("", Ty.NEVER)
    if want and types & {Ty.REC, Ty.BYTES}:
        raise LowerError("an `if` cannot give a record; bind or emit it inside each arm", node)
    if want and any(ty.has_value for ty in types):
        if len(types) != 1:
            raise LowerError("both arms of `if` must give a value of the same type (a number "
                             "or a test), or neither", node)
        ty = next(iter(types))
        low.lines.insert(at, "    " * low.depth + f"let {out}: {ty.value};")
        return Val(out, ty)  # type: ignore[arg-type]
    return Val("", Ty.UNIT)


@form("when")
def lower_when(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    if len(args) < 2:
        raise LowerError("`(when cond body…)` needs a condition and a body", node)
    cond = low.as_bool(args[0])
    low.emit(f"if {cond} {{")
    branch(low, args[1:], None, False)
    low.emit("}")
    return Val("", Ty.UNIT)


def sequence(low: Lowering, forms: list[Node], want: bool) -> Val:
    """Lower forms in order; a value nobody uses is discarded with `let _ =`."""
    last = Val("", Ty.UNIT)
    for i, f in enumerate(forms):
        if last.type == Ty.NEVER:  # rustc (-D warnings) would refuse the dead code later
            raise LowerError("this form never runs: the form before it always leaves "
                             "(return, break or continue)", f, "remove it, or put the "
                             "leaving form inside `(when cond …)`")
        final = want and i == len(forms) - 1
        last = low.expr(f, want=final)
        if not final and last.type.has_value and last.code:
            low.emit(f"let _ = {last.code};")
    return last


def branch(low: Lowering, forms: list[Node], out: str | None, want: bool) -> Val:
    """Emit forms inside `{ }` already opened; assign the value to `out` if any."""
    low.depth += 1
    low.scopes.append({})
    v = sequence(low, forms, want)
    if out is not None and v.type.has_value:
        low.emit(f"{out} = {v.code};")
    low.scopes.pop()
    low.depth -= 1
    return v
