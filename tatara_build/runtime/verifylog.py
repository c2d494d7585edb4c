"""A verifier log, read back to the spec: which bpf-fn form the refused code came from.

Objects are built with debug info, so the kernel's log interleaves the instructions
with BTF line info, `; <source text> @ bodies.rs:76` (the text is empty here: the
compiler saw remapped paths). The build records, per object, where each line of the
generated `src/bodies.rs` came from (lower/linetable.py -> the manifest's
`line_table`); the last `bodies.rs` line the log names before it stops is the form
whose code the verifier refused. Lines from rt.rs or aya after it are that form's
helpers, so the last bodies.rs line is still the right form.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from tatara_build.backends.manifest import MANIFEST
from tatara_build.diagnostics import Span

_LINE = re.compile(r"^;.*@ ([^\s:]+):(\d+)\s*$")
LAST_LINES = 12


@dataclass(frozen=True)
class Where:
    span: Span  # the spec form
    generated: str  # `bodies.rs:76`


def line_table(obj: Path) -> dict:
    """The object's line table from the manifest beside it, or {} (carried objects, older
    builds, a copy without its manifest)."""
    try:
        data = json.loads((obj.parent / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    entry = next((o for o in data.get("objects", []) if o.get("file") == obj.name), {})
    table = entry.get("line_table")
    return table if isinstance(table, dict) else {}


def locate(log: str, table: dict) -> Where | None:
    """The spec form of the last generated line the log names, if the table knows it."""
    found = None
    for ln in log.splitlines():
        m = _LINE.match(ln)
        if m and m.group(1) in table and m.group(2) in table[m.group(1)]:
            found = (m.group(1), m.group(2))
    if found is None:
        return None
    file, line, col, width = table[found[0]][found[1]]
    return Where(Span(str(file), int(line), int(col), int(width)), f"{found[0]}:{found[1]}")


def last_lines(log: str, n: int = LAST_LINES) -> str:
    """The verifier's own last lines (its verdict is at the end of the log)."""
    lines = [ln for ln in log.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-n:])
