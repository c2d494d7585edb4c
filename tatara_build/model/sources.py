"""How a program's `source` string is read: its shape (Rust, object, bpf-fn) and its path.

A model fact shared by validation (is the file there?) and lowering (what goes in the
crate?), so it lives below both of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Source:
    shape: str  # rust | object | lisp
    path: str
    fn: str = ""


def classify(source: str) -> Source | None:
    """Upstream classify_source: ordered suffix tests, then the first `:`."""
    if source.endswith(".rs"):
        return Source("rust", source)
    if source.endswith(".bpf.o") or source.endswith(".o"):
        return Source("object", source)
    left, sep, right = source.partition(":")
    if sep and left.endswith(".tlisp"):
        return Source("lisp", left, right)
    return None


def resolve(spec_file: str, path: str) -> Path:
    """Source paths are relative to the spec file that names them."""
    p = Path(path)
    return p if p.is_absolute() else Path(spec_file).parent / p
