"""Bounded loops: `(for (i N) body…)`, `(for (i FROM TO) body…)`, `(break)`, `(continue)`.

The bounds are integer literals, so every loop's trip count is known when the body is
lowered and the verifier (Linux ≥ 5.3 explores a bounded loop iteration by iteration)
can always see it end. A `defbpf-global` is not a bound: its value is written at load
(`--set`), after the check that would have to prove it small.

Why the limits (`MAX_TRIPS`, `MAX_NESTED_TRIPS`): the verifier walks each iteration
of a loop (and each copy of an unrolled one) and gives up after one million processed
instructions (BPF_COMPLEXITY_LIMIT_INSNS). A trip count of at most 256, and at most
1,024 for the product of nested loops, leaves a body of several hundred instructions
per iteration room under that limit; tests/test_loops.py loads programs at those
limits through the real verifier.

Two lowerings. A loop that reads the packet at a computed offset is unrolled while it
is small (`_unroll`): a walk whose offset moves by what it read costs the verifier
quadratic work as copies and exponential work as a loop (see `_unrolled`). Any other
loop is Rust's `for i in a..b`, which LLVM keeps and the verifier walks trip by trip;
`check` refuses the one shape that is then out of reach: a loop too long to unroll
that moves a packet offset on only some trips (`_refuse_wandering_offset`).

The counter is a `u64` the body reads but cannot `set` (a loop whose counter moves
only forward is one LLVM and the verifier both bound). `break`/`continue` act on the
innermost loop of the same bpf-fn: a helper's body, inlined inside a caller's loop,
cannot break out of the caller's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from tatara_build.lower import dsl_tables as T
from tatara_build.lower.bpf_fn.control import sequence
from tatara_build.lower.bpf_fn.core import Binding, LowerError, Lowering, Ty, Val
from tatara_build.lower.bpf_fn.registry import form
from tatara_build.reader.lisp import Node

MAX_TRIPS = 256  # iterations of one loop
MAX_NESTED_TRIPS = 1024  # iterations of the innermost body, summed over all enclosing loops
UNROLL_TRIPS = 64  # a loop of at most this many trips is unrolled…
UNROLL_COPIES = 256  # …while the copies of a body, over nested unrolled loops, stay under this
UNROLL_MAP_KEYS = 128  # …and their map keys fit the stack (see `_unroll`)
UNROLL_FORMS = 16384  # …and the copies' forms stay few enough to lower quickly

FOR_SHAPE = "`(for (i N) body…)` or `(for (i FROM TO) body…)`, with N, FROM, TO integer literals"


@dataclass
class Frame:
    """One loop being lowered: its trip count and how `break`/`continue` leave it."""

    trips: int
    label: str  # unrolled: the block `break` leaves ('l<N>), each copy's is 'c<N>
    unrolled: bool
    broke: bool = False  # a `break` used the label (else it is left out: unused_labels)
    continued: bool = False  # a `continue` in the current copy


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
    outer = [f.trips for f in low.loops]
    if math.prod(outer) * trips > MAX_NESTED_TRIPS:
        raise LowerError(f"nested loops run this body {math.prod(outer) * trips} times ("
                         + " x ".join(map(str, [*outer, trips]))
                         + f"); nested loops may run their innermost body at most "
                           f"{MAX_NESTED_TRIPS} times", args[0],
                         "the verifier walks every iteration, up to 1M instructions in all")
    low.temps += 1
    frame = Frame(trips, f"{low.temps}", _unroll(low, trips, args[1:]))
    if not frame.unrolled:
        _refuse_wandering_offset(args[0], args[1:])
    low.loops.append(frame)
    try:
        if frame.unrolled:
            return Val("", _unrolled(low, frame, str(head[0].value), start, stop, args[1:]))
        _rolled(low, str(head[0].value), start, stop, args[1:])
    finally:
        low.loops.pop()
    return Val("", Ty.UNIT)


def _unroll(low: Lowering, trips: int, body: list[Node]) -> bool:
    """Unroll a loop that reads the packet at a computed offset (the shape the verifier
    walks badly as a loop, see `_unrolled`) while the copies stay few: at most
    UNROLL_COPIES bodies over nested unrolled loops, and at most UNROLL_MAP_KEYS map
    operations in all, since each copy's map key takes its own slot of the 512-byte
    BPF stack, and at most UNROLL_FORMS forms lowered in all (a hostile body stays
    cheap to check)."""
    inner, var_reads, map_ops, nodes = _shape(body, low.helpers, set())
    copies = math.prod(f.trips for f in low.loops if f.unrolled) * trips * inner
    return (var_reads and trips <= UNROLL_TRIPS and copies <= UNROLL_COPIES
            and copies * map_ops <= UNROLL_MAP_KEYS and copies * nodes <= UNROLL_FORMS)


def _refuse_wandering_offset(head: Node, body: list[Node]) -> None:
    """A loop kept as a loop whose packet offset moves on only some trips: the verifier
    keeps one exact offset per path and re-walks the states it evicts at the loop head
    (measured on Linux 6.18: 324K instructions at 16 trips, refused at 20), so check
    refuses it rather than leave it to fail at load."""
    offsets: set[str] = set()
    _offset_vars(body, offsets)
    moved = _branch_sets(body, False) & offsets
    if moved:
        name = sorted(moved)[0]
        raise LowerError(f"this loop moves the packet offset `{name}` on only some trips and "
                         f"is too long to unroll (over {UNROLL_TRIPS} trips, {UNROLL_COPIES} "
                         f"copies or {UNROLL_MAP_KEYS} map operations); the verifier cannot "
                         "bound its work", head,
                         f"walk at most {UNROLL_TRIPS} trips, or advance `{name}` on every "
                         "trip (by an amount read from the packet, or `(break)` instead)")


def _offset_vars(forms: list[Node], out: set[str]) -> None:
    """The names in the offsets of packet reads in `forms`."""
    for node in forms:
        if node.kind != "list" or not node.items:
            continue
        if node.items[0].kind == "sym" and node.items[0].value in T.LOADS \
                and len(node.items) == 3:
            _names(node.items[2], out)
        _offset_vars(node.items, out)


def _names(node: Node, out: set[str]) -> None:
    if node.kind == "sym":
        out.add(str(node.value))
    elif node.kind == "list":
        for item in node.items[1:]:
            _names(item, out)


def _branch_sets(forms: list[Node], branch: bool) -> set[str]:
    """The variables `(set name v)` writes inside a `when`/`if`/`and`/`or` in `forms`,
    less those a `let` inside binds afresh on every trip."""
    found: set[str] = set()
    for node in forms:
        if node.kind != "list" or not node.items or node.items[0].kind != "sym":
            continue
        head, args = str(node.items[0].value), node.items[1:]
        if head == "set" and branch and len(args) == 2 and args[0].kind == "sym":
            found.add(str(args[0].value))
        inner = _branch_sets(args, branch or head in ("when", "if", "and", "or"))
        if head == "let" and args and args[0].kind == "list":
            inner -= {str(b.items[0].value) for b in args[0].items
                      if b.kind == "list" and b.items and b.items[0].kind == "sym"}
        found |= inner
    return found


def _shape(forms: list[Node], helpers: dict, seen: set[str]) -> tuple[int, bool, int, int]:
    """As written in `forms` (and the helpers they call): the most trips of nested loops,
    whether the packet is read at a non-literal offset, how many stack-hungry forms (map
    operations, records, emits) run per trip, and how many forms there are."""
    inner, var_reads, map_ops, nodes = 1, False, 0, 0
    for node in forms:
        if node.kind != "list" or not node.items:
            continue
        head = str(node.items[0].value) if node.items[0].kind == "sym" else ""
        sub = node.items[2:] if head == "for" else node.items
        n, v, m, k = _shape(sub, helpers, seen)
        if head in helpers and head not in seen:  # inlined: its body runs here
            hn, hv, hm, hk = _shape(helpers[head].body, helpers, seen | {head})
            n, v, m, k = max(n, hn), v or hv, m + hm, k + hk
        if head == "for" and len(node.items) > 2 and node.items[1].kind == "list":
            ints = [int(b.value) for b in node.items[1].items[1:] if b.kind == "int"]
            trips = max((ints[0] if len(ints) == 1 else ints[1] - ints[0]) if ints else 1, 1)
            n, m, k = trips * n, trips * m, trips * k
        inner, var_reads, nodes = max(inner, n), var_reads or v, nodes + k + 1
        map_ops += m + (head.startswith("map-") or head in ("emit", "record"))
        if head in T.LOADS and len(node.items) == 3 and node.items[2].kind != "int":
            var_reads = True
    return inner, var_reads, map_ops, nodes


def _unrolled(low: Lowering, frame: Frame, name: str, start: int, stop: int,
              body: list[Node]) -> Ty:
    """One copy of the body per trip, the counter a literal in each (C's `#pragma
    unroll`): the verifier sees constants and gives every copy its own states. A loop
    it walks as a loop keeps one list of states at the loop head, evicts the ones that
    keep missing, and re-walks them: a counter-dependent offset then costs it
    exponential work where the copies cost quadratic."""
    at = len(low.lines)
    low.emit("{")
    low.depth += 1
    for i in range(start, stop):
        opened = len(low.lines)
        low.emit("{")
        low.depth += 1
        low.scopes.append({name: Binding(f"{i}_u64", Ty.U64)})
        low.loop_vars.add(f"{i}_u64")
        frame.continued = False
        try:
            last = sequence(low, body, False)
        finally:
            low.scopes.pop()
            low.depth -= 1
        low.emit("}")
        if frame.continued:
            low.lines[opened] = low.lines[opened].replace("{", f"'c{frame.label}: {{", 1)
        elif last.type == Ty.NEVER:  # every path breaks or returns: no later copy runs
            break
    low.depth -= 1
    low.emit("}")
    if frame.broke:
        low.lines[at] = low.lines[at].replace("{", f"'l{frame.label}: {{", 1)
    else:  # no `break`: the copies need no enclosing block
        low.lines[at:] = [line[4:] for line in low.lines[at + 1:-1]]
    return Ty.NEVER if last.type == Ty.NEVER and not (frame.broke or frame.continued) \
        else Ty.UNIT


def _rolled(low: Lowering, name: str, start: int, stop: int, body: list[Node]) -> None:
    """Rust's `for i in a..b` (loops over UNROLL_TRIPS): LLVM keeps the loop, the
    verifier walks it trip by trip."""
    rust = low.names.fresh(name)
    at = len(low.lines)
    low.emit(f"for {rust} in {start}_u64..{stop}_u64 {{")
    low.depth += 1
    low.scopes.append({name: Binding(rust, Ty.U64)})
    low.loop_vars.add(rust)
    try:
        sequence(low, body, False)
    finally:
        low.scopes.pop()
        low.depth -= 1
    low.emit("}")
    used = re.compile(rf"\b{re.escape(rust)}\b")
    if not any(used.search(line) for line in low.lines[at + 1:]):
        low.lines[at] = low.lines[at].replace(f"for {rust} in", "for _ in", 1)


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
    if len(low.loops) <= low.loop_floor:
        where = " of this bpf-fn" if low.loop_floor else ""
        raise LowerError(f"`({op})` outside a loop{where}", node,
                         f"`({op})` acts on the innermost `(for …)` around it"
                         + (" in the same bpf-fn (a helper cannot leave its caller's loop)"
                            if low.loop_floor else ""))
    frame = low.loops[-1]
    if not frame.unrolled:
        low.emit(f"{op};")
    elif op == "break":
        frame.broke = True
        low.emit(f"break 'l{frame.label};")
    else:
        frame.continued = True
        low.emit(f"break 'c{frame.label};")
    return Val("", Ty.NEVER)


def refuse_loop_var(low: Lowering, b: Binding, node: Node) -> None:
    """`(set i …)` on a loop counter: the loop's bound must stay what the check saw."""
    if b.rust in low.loop_vars:
        raise LowerError(f"`{node.value}` is a loop variable; it cannot be assigned", node,
                         "bind a copy with `(let ((j i)) …)`, or `(break)` to leave the loop")
