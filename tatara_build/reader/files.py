"""Which files are spec files: named directly, or found below named folders.

Kept apart from load.py (which pulls in the parsers and the model) so that a verb that
only needs the file list, such as a no-op `render`, starts fast.
"""

from __future__ import annotations

from pathlib import Path

SPEC_SUFFIXES = (".tlisp", ".toml", ".json")
SKIP_DIRS = {".git", "target", "node_modules", "__pycache__", ".direnv", "result"}


def discover(paths: list[Path]) -> list[Path]:
    """Spec files named directly, plus every spec file below named folders (sorted)."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if f.is_file() and f.suffix in SPEC_SUFFIXES and not SKIP_DIRS & set(rel[:-1]):
                    found.append(f)
        else:
            found.append(p)
    return found
