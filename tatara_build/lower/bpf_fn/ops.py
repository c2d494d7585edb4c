"""Operators: comparisons, short-circuit logic, `not`, wrapping arithmetic."""

from __future__ import annotations

from tatara_build.lower import dsl_tables as T
from tatara_build.lower.bpf_fn.core import LowerError, Lowering, Ty, Val
from tatara_build.lower.bpf_fn.registry import form
from tatara_build.reader.lisp import Node


@form(*T.COMPARE)
def lower_compare(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    if len(args) != 2:
        raise LowerError(f"comparison `{op}` requires exactly two operands", node)
    a, b = low.as_u64(args[0]), low.as_u64(args[1])
    return Val(low.temp(f"{a} {T.COMPARE[op]} {b}"), Ty.BOOL)


@form("not")
def lower_not(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    low.arity(node, args, 1, "`(not x)` takes one operand")
    return Val(f"!{low.as_bool(args[0])}", Ty.BOOL)


@form("and", "or")
def lower_logic(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    """Short-circuit `and`/`or` over two or more tests."""
    if len(args) < 2:
        raise LowerError(f"`({op} …)` needs at least two operands", node)
    return _logic(low, op, args)


def _logic(low: Lowering, op: str, args: list[Node]) -> Val:
    """Flat, not nested: each later operand runs only while the result is undecided,
    so 1,000 operands give 1,000 sibling `if`s, not 1,000 levels of nesting."""
    out = f"t{low.temps + 1}"
    low.temps += 1
    first = low.as_bool(args[0])
    low.emit(f"let mut {out} = {first};")
    for arg in args[1:]:
        low.emit(f"if {out if op == 'and' else '!' + out} {{")
        low.depth += 1
        low.emit(f"{out} = {low.as_bool(arg)};")
        low.depth -= 1
        low.emit("}")
    return Val(out, Ty.BOOL)


@form(*T.WRAPPING, *T.BITWISE, *T.SHIFTS, *T.DIVISION)
def lower_arith(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    nary = op in ("+", "*", "&", "|", "^")
    if (nary and len(args) < 2) or (not nary and len(args) != 2):
        need = "two or more operands" if nary else "exactly two operands"
        raise LowerError(f"`({op} …)` needs {need}", node)
    acc = low.as_u64(args[0])
    for arg in args[1:]:
        b = low.as_u64(arg)
        if op in T.WRAPPING:
            acc = low.temp(f"{acc}.{T.WRAPPING[op]}({b})")
        elif op in T.BITWISE:
            acc = low.temp(f"{acc} {T.BITWISE[op]} {b}")
        elif op in T.SHIFTS:
            acc = low.temp(f"{acc}.{T.SHIFTS[op]}({b} as u32)")
        else:
            acc = low.temp(f"crate::rt::{T.DIVISION[op]}({acc}, {b})")
    return Val(acc, Ty.U64)
