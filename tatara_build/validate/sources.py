"""Program sources: classified as upstream does, the file present, the bpf-fn found."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tatara_build.diagnostics import Diagnostic, error
from tatara_build.model.sources import Source, classify, resolve
from tatara_build.model.suggest import suggest
from tatara_build.reader.load import bpf_fn_file_forms
from tatara_build.validate.context import Context

UNRECOGNIZED = "source `{0}`: shape not recognized — expected `*.rs`, `*.bpf.o`, or `*.tlisp:<fn>`"


def source_rules(ctx: Context) -> Iterable[Diagnostic]:
    for prog in ctx.project.programs:
        s, span = prog.spec, prog.span("source")
        src = classify(s.source)
        if src is None:
            yield error(UNRECOGNIZED.format(s.source), span,
                        'e.g. "bpf/drop_syn.rs", "obj/filter.bpf.o" or "bodies.tlisp:drop-syn"')
            continue
        if any(c in src.path for c in "\n\r\0\"\\$`"):
            yield error(f"program `{s.name}`: source path `{src.path}` has characters that "
                        "cannot reach a build script safely (quotes, `\\`, `$`, newlines)", span)
            continue
        path = resolve(prog.file, src.path)
        if not path.is_file():
            yield error(f"program `{s.name}`: source file `{src.path}` not found "
                        f"(looked for {path})", span, "paths are relative to the spec file")
            continue
        if src.shape == "lisp":
            yield from _lisp_fn(ctx, prog, src, path)


def _lisp_fn(ctx: Context, prog, src: Source, path: Path) -> Iterable[Diagnostic]:
    name, span = prog.spec.name, prog.span("source")
    if not src.fn:
        yield error(f"program `{name}`: source `{prog.spec.source}` names no bpf-fn after `:`", span)
        return
    bpf_fn_file_forms(path, ctx.project, ctx.sources)
    fns = ctx.project.bpf_fns_in(path)
    if src.fn not in fns:
        hint = suggest(src.fn, fns)
        yield error(f"program `{name}`: no `(bpf-fn {src.fn} ...)` in {src.path}", span,
                    f"did you mean `{hint}`?" if hint else f"defined there: {', '.join(fns) or 'none'}")


RULES = [source_rules]
