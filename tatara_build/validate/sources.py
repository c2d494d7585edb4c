"""Program sources: classified as upstream does, the file present, the bpf-fn found."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from tatara_build.diagnostics import Diagnostic, error, warning
from tatara_build.model.sources import Source, classify, resolve
from tatara_build.model.suggest import suggest
from tatara_build.reader.load import bpf_fn_file_forms
from tatara_build.validate.context import Context

UNRECOGNIZED = "source `{0}`: shape not recognized — expected `*.rs`, `*.bpf.o`, or `*.tlisp:<fn>`"


ALLOW_OUTSIDE_ENV = "TATARA_ALLOW_OUTSIDE_SOURCES"


def outside_allowed() -> bool:
    """`tatara-build --allow-outside-sources VERB ...` sets this for the run."""
    return os.environ.get(ALLOW_OUTSIDE_ENV) == "1"


def outside_problem(spec_file: str, path: str) -> str | None:
    """Why the source `path` named in `spec_file` leaves the spec's folder, or None.

    Absolute paths, `..` that climbs out, and symlinks (at any step) that point out are
    all refused: rendering copies sources into the output, and a symlink
    `x.bpf.o -> /etc/shadow` must not be followed there silently."""
    if Path(path).is_absolute():
        return "is an absolute path (outside the spec's folder)"
    base = Path(spec_file).parent.resolve()
    try:
        real = (base / path).resolve()
    except (OSError, RuntimeError):
        return None  # unreadable or a symlink loop: the existence check reports it
    if real.is_relative_to(base):
        return None
    via = " through a symlink" if ".." not in Path(path).parts else ""
    return f"resolves outside the spec's folder{via} (to {real})"


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
        outside = outside_problem(prog.file, src.path)
        if outside and not outside_allowed():
            yield error(f"program `{s.name}`: source `{src.path}` {outside}", span,
                        "keep sources in the spec's folder, or pass --allow-outside-sources "
                        "(README.md, \"Sources outside the spec folder\")")
            continue
        if outside:
            yield warning(f"program `{s.name}`: source `{src.path}` {outside} (allowed by "
                          "--allow-outside-sources)", span)
        path = resolve(prog.file, src.path)
        try:
            found = path.is_file()
        except OSError as exc:
            yield error(f"program `{s.name}`: source `{src.path[:120]}` cannot be read: "
                        f"{exc.strerror}", span)
            continue
        if not found:
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
