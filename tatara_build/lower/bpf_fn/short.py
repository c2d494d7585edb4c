"""`(on-short body…)`: what a program does when a packet is shorter than a header it claims.

Every packet read is bounds-checked and gives `None` when the packet is cut short
(templates/crate/rt.rs, `Pkt`). Without this form the entry point then returns the
kind's default verdict, so a parse failure updates no map. Written as the first form of
a program's bpf-fn, `(on-short …)` runs instead: its body may count the failure and
return any verdict (the kind's default when it does not return), as xdp-tutorial's
parsers count XDP_ABORTED for malformed packets. The rest of the body is lowered into
an immediately called closure whose `None` falls through to the short body.
"""

from __future__ import annotations

from dataclasses import replace

from tatara_build.lower.bpf_fn.core import LowerError, Lowering, Val
from tatara_build.lower.bpf_fn.registry import form
from tatara_build.model.ir import BpfFnForm
from tatara_build.reader.lisp import Node

HEAD = "on-short"


def _is_short(node: Node) -> bool:
    return (node.kind == "list" and bool(node.items) and node.items[0].kind == "sym"
            and str(node.items[0].value) == HEAD)


def split(fn: BpfFnForm) -> tuple[Node | None, BpfFnForm]:
    """The bpf-fn's leading `(on-short …)` form (or None) and the bpf-fn without it."""
    if not fn.body or not _is_short(fn.body[0]):
        return None, fn
    if len(fn.body) == 1:
        raise LowerError("`(on-short …)` handles the reads of the forms after it; this "
                         "body has none", fn.body[0])
    return fn.body[0], replace(fn, body=fn.body[1:])


def wrap(low: Lowering, node: Node, main: list[str]) -> list[str]:
    """The lowered main body `main` inside a closure, then the short body's lines."""
    if not node.items[1:]:
        raise LowerError("`(on-short body…)` needs a body: what to count and return", node,
                         "e.g. (on-short (map-incr stats 0) (return :xdp-aborted))")
    kind = low.kind
    if kind.packet_base is None and kind.context != "SkBuffContext":
        raise LowerError(f"`(on-short …)`: `{low.program.kind}` programs have no packet", node,
                         "on-short works in :xdp, :tc, :cgroup-skb and :socket-filter")
    low.fn = replace(low.fn, body=node.items[1:])
    low.lines, low.scopes = [], [{}]
    short = low.body()
    return ([f"    let body = (|| -> Option<{kind.ret}> {{"]
            + ["    " + ln for ln in main]
            + ["    })();", "    if body.is_some() {", "        return body;", "    }"]
            + short)



@form(HEAD)
def lower_misplaced(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    """Reached only when `(on-short …)` is not the first form of a program's bpf-fn."""
    raise LowerError("`(on-short …)` must be the first form of a program's bpf-fn body "
                     "(before the forms whose short packets it handles)", node,
                     "move it to the top: (bpf-fn f (ctx) (on-short …) body…)")
