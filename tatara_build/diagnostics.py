"""Spans and rustc-style diagnostics, collected rather than raised one by one.

A Span names a file, a 1-based line and column (columns count characters, as
upstream's `line_col`), and how many characters it covers. Rendering follows
tatara-lisp's `format_diagnostic` frame: `error: msg`, `--> file:line:col`, the
source line and carets, plus an optional `= help:` line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

Severity = Literal["error", "warning", "note"]


class Span(NamedTuple):
    """A location in a spec file; `width` is the caret count (>= 1).

    A NamedTuple, not a dataclass: the reader makes one per token, and tuple
    construction is several times cheaper (see bench/bench_check.py).
    """

    file: str
    line: int
    col: int
    width: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "column": self.col, "width": self.width}


@dataclass(frozen=True)
class Diagnostic:
    """One problem; `where` names the object and field when no span is known."""

    severity: Severity
    message: str
    span: Span | None = None
    help: str | None = None
    where: str | None = None

    def as_dict(self) -> dict:
        return {
            "severity": self.severity,
            "message": self.message,
            "span": self.span.as_dict() if self.span else None,
            "help": self.help,
            "where": self.where,
        }


def error(message: str, span: Span | None = None, help: str | None = None,
          where: str | None = None) -> Diagnostic:
    return Diagnostic("error", message, span, help, where)


def warning(message: str, span: Span | None = None, help: str | None = None,
            where: str | None = None) -> Diagnostic:
    return Diagnostic("warning", message, span, help, where)


@dataclass
class SourceCache:
    """File texts for rendering source lines; filled by readers, read lazily otherwise."""

    texts: dict[str, str] = field(default_factory=dict)

    def line(self, file: str, line: int) -> str | None:
        text = self.texts.get(file)
        if text is None:
            try:
                text = Path(file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                return None
            self.texts[file] = text
        lines = text.split("\n")
        return lines[line - 1] if 0 < line <= len(lines) else None


def render(diag: Diagnostic, sources: SourceCache | None = None) -> str:
    """rustc-style text: the five-line frame when a span is known, else one line."""
    out = [f"{diag.severity}: {diag.message}"]
    span = diag.span
    if span is not None:
        gutter = " " * len(str(span.line))
        out.append(f"{gutter}--> {span}")
        src = sources.line(span.file, span.line) if sources else None
        if src is not None:
            pad = "".join("\t" if c == "\t" else " " for c in src[: span.col - 1])
            out += [f"{gutter} |", f"{span.line} | {src}", f"{gutter} | {pad}{'^' * max(1, span.width)}"]
    elif diag.where:
        out.append(f"  --> {diag.where}")
    if diag.help:
        pre = " " * (len(str(span.line)) if span else 1)
        out.append(f"{pre} = help: {diag.help}")
    return "\n".join(out)


def note(message: str, span: Span | None = None, help: str | None = None,
         where: str | None = None) -> Diagnostic:
    return Diagnostic("note", message, span, help, where)


def has_errors(diags: list[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diags)


def sort_key(d: Diagnostic) -> tuple:
    s = d.span
    return (s.file, s.line, s.col) if s else ("~", 0, 0)
