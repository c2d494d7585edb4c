"""Bounded loops: `(for (i N) body…)`, `(for (i FROM TO) body…)`, `(break)`, `(continue)`.

The bounds are integer literals, so every loop's trip count is known when the body is
lowered and the verifier (Linux ≥ 5.3 explores a bounded loop iteration by iteration)
can always see it end. A `defbpf-global` is not a bound: its value is written at load
(`--set`), after the check that would have to prove it small.

Why the limits (`MAX_TRIPS`, `MAX_NESTED_TRIPS`): the verifier walks each iteration
of a loop LLVM kept (and each copy of one it unrolled), and gives up after one
million processed instructions (BPF_COMPLEXITY_LIMIT_INSNS). A trip count of at most
256, and at most 1,024 for the product of nested loops, leaves a body of several
hundred instructions per iteration room under that limit; tests/test_loops.py loads
programs at those limits through the real verifier. The limits bound trips, not every
body: a loop-carried packet offset advanced by a constant on only some trips gives the
verifier one state per combination of exact offsets and is refused as too large (see
the README's "Loops"); a data-dependent advance, or `break` on the other branch, is not.

The loop lowers to Rust's `for i in a..b`: the counter is a `u64` the body reads
but cannot `set` (a loop whose counter moves only forward is one LLVM and the verifier
both bound). `break`/`continue` act on the innermost loop of the same bpf-fn: a
helper's body, inlined inside a caller's loop, cannot break out of the caller's.
"""

from __future__ import annotations

import re

from tatara_build.lower.bpf_fn.control import sequence
from tatara_build.lower.bpf_fn.core import Binding, LowerError, Lowering, Ty, Val
from tatara_build.lower.bpf_fn.registry import form
from tatara_build.reader.lisp import Node

MAX_TRIPS = 256  # iterations of one loop
MAX_NESTED_TRIPS = 1024  # iterations of the innermost body, summed over all enclosing loops

FOR_SHAPE = "`(for (i N) body…)` or `(for (i FROM TO) body…)`, with N, FROM, TO integer literals"


@form("for")
def lower_for(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    if len(args) < 2 or args[0].kind != "list" or len(args[0].items) not in (2, 3):
        raise LowerError(f"{FOR_SHAPE} and a body", node, "e.g. `(for (i 4) (map-incr m i))`")
    head = args[0].items
    if head[0].kind != "sym":
        raise LowerError("the loop variable must be a name", head[0], "e.g. `(for (i 4) …)`")
    bounds = [_bound(low, b) for b in head[1:]]
    start, stop = (0, bounds[0]) if len(bounds) == 1 else bounds
    trips = stop - start
    if trips <= 0:
        raise LowerError(f"this loop runs {max(trips, 0)} times (from {start} to {stop})",
                         args[0], "the range is FROM (included) to TO (excluded)")
    if trips > MAX_TRIPS:
        raise LowerError(f"this loop runs {trips} times; a loop may run at most {MAX_TRIPS} "
                         "(the verifier walks every iteration, up to 1M instructions in all)",
                         args[0], "split the work, or walk fewer slots")
    total = trips
    for outer in low.loop_trips:
        total *= outer
    if total > MAX_NESTED_TRIPS:
        raise LowerError(f"nested loops run this body {total} times ("
                         + " x ".join(map(str, [*low.loop_trips, trips]))
                         + f"); nested loops may run their innermost body at most "
                           f"{MAX_NESTED_TRIPS} times", args[0],
                         "the verifier walks every iteration, up to 1M instructions in all")
    return _emit_loop(low, str(head[0].value), start, stop, args[1:])


def _emit_loop(low: Lowering, name: str, start: int, stop: int, body: list[Node]) -> Val:
    rust = low.names.fresh(name)
    at = len(low.lines)
    low.emit(f"for {rust} in {start}_u64..{stop}_u64 {{")
    low.depth += 1
    low.scopes.append({name: Binding(rust, Ty.U64)})
    low.loop_vars.add(rust)
    low.loop_trips.append(stop - start)
    try:
        sequence(low, body, False)
    finally:
        low.loop_trips.pop()
        low.scopes.pop()
        low.depth -= 1
    low.emit("}")
    used = re.compile(rf"\b{re.escape(rust)}\b")
    if not any(used.search(line) for line in low.lines[at + 1:]):
        low.lines[at] = low.lines[at].replace(f"for {rust} in", "for _ in", 1)
    return Val("", Ty.UNIT)


def _bound(low: Lowering, node: Node) -> int:
    """A loop bound: an integer literal (the only value known when the body is checked)."""
    if node.kind == "int":
        n = int(node.value)  # type: ignore[arg-type]
        if not 0 <= n < 2**32:
            raise LowerError(f"loop bound {n} is outside 0..2^32", node)
        return n
    what = ("a defbpf-global is set at load, so it cannot bound a loop"
            if node.kind == "list" and node.items and node.items[0].kind == "sym"
            and node.items[0].value == "global" else "a loop bound must be an integer literal")
    raise LowerError(what, node, "write the largest count as a literal and `(break)` early, "
                     "e.g. `(for (i 16) (when (>= i n) (break)) …)`")


@form("break", "continue")
def lower_break(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    low.arity(node, args, 0, f"`({op})` takes no arguments")
    if len(low.loop_trips) <= low.loop_floor:
        where = " of this bpf-fn" if low.loop_floor else ""
        raise LowerError(f"`({op})` outside a loop{where}", node,
                         f"`({op})` acts on the innermost `(for …)` around it"
                         + (" in the same bpf-fn (a helper cannot leave its caller's loop)"
                            if low.loop_floor else ""))
    low.emit(f"{op};")
    return Val("", Ty.NEVER)


def refuse_loop_var(low: Lowering, b: Binding, node: Node) -> None:
    """`(set i …)` on a loop counter: the loop's bound must stay what the check saw."""
    if b.rust in low.loop_vars:
        raise LowerError(f"`{node.value}` is a loop variable; it cannot be assigned", node,
                         "bind a copy with `(let ((j i)) …)`, or `(break)` to leave the loop")
