"""The bpf-fn DSL -> Rust, as a careful aya author would write it.

`core` holds the lowering state (scopes, types, conversions); each form lives in
a small module that registers its handler in `registry.FORMS` (control, ops,
mapops, packet, helpers, context, stores, task). No `unwrap`, no indexing, no panics in
the output. Every error is a diagnostic at the form's file:line:col, with upstream's
LowerError texts where upstream has one.
"""

from __future__ import annotations

from dataclasses import dataclass

from tatara_build.diagnostics import Diagnostic, error
from tatara_build.lower.bpf_fn import (  # noqa: F401 (each module registers its forms)
    context,
    control,
    global_vars,
    helpers,
    loops,
    mapops,
    ops,
    packet,
    records,
    short,
    stores,
    task,
)
from tatara_build.lower.bpf_fn.core import LowerError, Lowering, Ty, Val, cast
from tatara_build.lower.naming import snake
from tatara_build.model.ir import BpfFnForm, MapSpec, ProgramSpec
from tatara_build.model.records import StructSpec

__all__ = ["LowerError", "LoweredBody", "Ty", "Val", "cast", "lower_bpf_fn", "project_globals"]


def project_globals(project) -> dict:
    """The project's defbpf-globals by symbol name, as `(global NAME)` looks them up."""
    return {snake(g.spec.name): g.spec for g in project.globals}


@dataclass(frozen=True)
class LoweredBody:
    name: str  # Rust function name in `mod bodies`
    lines: list[str]
    uses_pkt: bool
    uses_ctx: bool
    structs: frozenset[str] = frozenset()  # records the crate must declare
    spans: tuple = ()  # per line of `lines`: the Span of the spec form it was lowered from


def lower_bpf_fn(fn: BpfFnForm, program: ProgramSpec, maps: dict[str, MapSpec],
                 structs: dict[str, StructSpec] | None = None,
                 fns: dict[str, BpfFnForm] | None = None, *, globals_: dict | None = None
                 ) -> tuple[LoweredBody | None, list[Diagnostic]]:
    """Lower `fn` as the body of `program`; maps are the policy's, structs the project's,
    `fns` the other bpf-fns of its file (called by name, inlined), globals_ the project's
    defbpf-globals by symbol name."""
    try:
        on_short, fn = short.split(fn)
    except LowerError as exc:
        return None, [exc.diag]
    low = Lowering(fn, program, maps, structs or {})
    low.helpers = {k: v for k, v in (fns or {}).items() if k != fn.name}
    low.globals = globals_ or {}
    if len(fn.params) != 1:
        return None, [error(f"bpf-fn `{fn.name}` must take exactly one parameter (the context)",
                            fn.span, f"(bpf-fn {fn.name} (ctx) ...)")]
    try:
        lines = low.body()
        spans = list(low.line_spans)
        if on_short is not None:
            lines = short.wrap(low, on_short, lines)
            spans = _wrapped_spans(fn, spans, list(low.line_spans), len(lines))
    except LowerError as exc:
        return None, [exc.diag]
    except RecursionError:
        return None, [error(f"bpf-fn `{fn.name}`: forms nested too deeply to lower", fn.span,
                            "split the body with `let` bindings")]
    if low.uses_setters:  # setters read the headers from the body's one parse
        low.hdr_depth = 3
        lines.insert(0, stores.PKTW_INIT_SKB if low.kind.context == "TcContext"
                     else stores.PKTW_INIT)
        spans.insert(0, fn.span)
    if low.hdr_depth:
        lines.insert(0, f"    let hdr = pkt.parse::<{low.hdr_depth}>();")
        spans.insert(0, fn.span)
    if low.uses_pkt:
        lines.insert(0, "    let pkt = " + packet.PKT_INIT[low.kind.context] + ";")
        spans.insert(0, fn.span)
    return LoweredBody(snake(program.name), lines, low.uses_pkt, low.uses_ctx,
                       frozenset(low.used_structs), tuple(spans)), []


def _wrapped_spans(fn: BpfFnForm, main: list, short_body: list, total: int) -> list:
    """The line table of a body `short.wrap` put in a closure: one opening line, the main
    body's lines, four closing lines, then the on-short body's lines."""
    spans = [fn.span, *main, *[fn.span] * 4, *short_body]
    return spans if len(spans) == total else [fn.span] * total
