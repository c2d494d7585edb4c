"""The line table of a crate: each line of the generated `src/bodies.rs` -> the spec form
it was lowered from (file, line, col, width).

The lowering marks every Rust line it writes with the span of the form being lowered
(lower/bpf_fn/core.py); here those spans are placed at the lines bodies.rs.j2 put the
code on, found by each body's `pub fn <ident>(` header. The build stores the table in
the object's manifest entry (backends/orchestrate.py), and runtime/verifylog.py reads
a verifier log back through it to name the `.tlisp` location of the refused code.
"""

from __future__ import annotations

from tatara_build.lower.aya import CrateContext

BODIES = "bodies.rs"  # the file name BTF line info gives (paths are remapped)


def line_table(crate: CrateContext, bodies_rs: str) -> dict[str, dict[str, list]]:
    """{"bodies.rs": {"<line>": [file, line, col, width]}} for `crate`'s rendered bodies."""
    lines = bodies_rs.split("\n")
    starts = {ln.split("(", 1)[0].removeprefix("pub fn "): i for i, ln in enumerate(lines)
              if ln.startswith("pub fn ")}
    table: dict[str, list] = {}
    for body in crate.bodies:
        first = starts.get(body.ident)
        if first is None:
            continue
        for k, span in enumerate(body.spans):
            table[str(first + 2 + k)] = [span.file, span.line, span.col, span.width]
    return {BODIES: table} if table else {}
