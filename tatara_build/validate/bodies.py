"""bpf-fn bodies are lowered during validation, so `check` refuses what `render` would.

The lowering (tatara_build/lower/bpf_fn/) is pure, so running it here costs
little and gives the same located diagnostics `render` and `build` give: an
unknown helper, a 16-byte map value read as a number, a form nested too deeply.
"""

from __future__ import annotations

from collections.abc import Iterable

from tatara_build.diagnostics import Diagnostic
from tatara_build.lower.bpf_fn import lower_bpf_fn
from tatara_build.model.ir import ByIdent
from tatara_build.model.kinds import MAP_KINDS, PROGRAM_KINDS
from tatara_build.model.sources import classify, resolve
from tatara_build.validate.context import Context


def body_rules(ctx: Context) -> Iterable[Diagnostic]:
    project = ctx.project
    maps = ByIdent({m.spec.name: m.spec for m in project.maps if m.spec.kind in MAP_KINDS})
    structs = ByIdent({s.spec.name: s.spec for s in project.structs})
    seen: set[tuple] = set()
    for prog in project.programs:
        src = classify(prog.spec.source)
        if src is None or src.shape != "lisp" or prog.spec.kind not in PROGRAM_KINDS:
            continue
        fn = project.bpf_fn(resolve(prog.file, src.path), src.fn)
        if fn is None:
            continue  # sources.py reports the missing bpf-fn
        path = resolve(prog.file, src.path)
        helpers = {n: project.bpf_fn(path, n) for n in project.bpf_fns_in(path)}
        _, diags = lower_bpf_fn(fn, prog.spec, maps, structs, helpers)  # type: ignore[arg-type]
        for d in diags:
            key = (d.message, d.span)
            if key not in seen:
                seen.add(key)
                yield d


RULES = [body_rules]
