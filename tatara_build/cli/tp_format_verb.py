"""`tatara-build tp-format CATEGORY/EVENT`: a tracepoint's record as a `defbpf-struct`.

Reads the kernel's own description (`/sys/kernel/tracing/events/<cat>/<event>/format`)
once, when the user asks, and prints a form to paste into the spec: building never
reads the running kernel. Fields keep their offsets: integers of 1/2/4/8 bytes become
u8..u64, arrays and odd sizes `(:bytes N)`, `__data_loc` strings their u32 locator
(`<name>_loc`), and padding becomes `(_padN (:bytes k))` fields, so `(tp-field ctx S
name)` reads exactly the kernel's offset.
"""

from __future__ import annotations

import re
from pathlib import Path

from tatara_build.errors import EnvironmentProblem, SpecError
from tatara_build.model.records import FieldSpec, StructSpec, layout

TRACEFS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
_FIELD = re.compile(r"field:(?P<decl>[^;]+);\s*offset:(?P<off>\d+);\s*size:(?P<size>\d+);")
SCALAR_BY_SIZE = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}


def parse_format(text: str, name: str) -> StructSpec:
    """The `format` file's fields -> a StructSpec whose C layout keeps every offset."""
    fields: list[FieldSpec] = []
    offsets: dict[str, int] = {}
    end = 0
    for m in _FIELD.finditer(text):
        decl, off, size = m["decl"].strip(), int(m["off"]), int(m["size"])
        ident = re.sub(r"\[.*\]$", "", decl.split()[-1])
        array = decl.endswith("]")
        if decl.startswith("__data_loc"):
            ident, array = ident + "_loc", False
        if off > end:
            fields.append(FieldSpec(name=f"_pad{end}", type=f"bytes:{off - end}"))
        ty = SCALAR_BY_SIZE.get(size) if not array else None
        if ty and off % size:
            ty = None  # misaligned for C: keep the bytes
        fields.append(FieldSpec(name=ident, type=ty or f"bytes:{size}"))
        offsets[ident] = off
        end = off + size
    if not fields:
        raise SpecError("no fields in the tracepoint format")
    spec = StructSpec(name=name, description="tracepoint record (tatara-build tp-format)",
                      fields=fields)
    moved = [s.name for s in layout(spec).slots if offsets.get(s.name, s.offset) != s.offset]
    if moved:  # a bug here, never the user's: C layout must land on the kernel's offsets
        raise RuntimeError(f"tp-format: fields {moved} would move")
    return spec


def as_lisp(spec: StructSpec) -> str:
    def ty(t: str) -> str:
        return f"(:bytes {t.split(':')[1]})" if t.startswith("bytes:") else f":{t}"
    fields = "\n           ".join(f"({f.name} {ty(f.type)})" for f in spec.fields)
    return (f'(defbpf-struct :name "{spec.name}"\n  :description "{spec.description}"\n'
            f"  :fields ({fields}))")


def tp_format(target: str, name: str | None) -> int:
    category, sep, event = target.partition("/")
    if not sep or not category or not event or ".." in target:
        raise SpecError(f"`{target}` is not CATEGORY/EVENT (e.g. sched/sched_process_exec)")
    root = next((r for r in TRACEFS if (r / "events").is_dir()), None)
    if root is None:
        raise EnvironmentProblem("tracefs is not mounted (mount -t tracefs none /sys/kernel/tracing)")
    fmt = root / "events" / category / event / "format"
    if not fmt.is_file():
        raise SpecError(f"no tracepoint `{target}` ({fmt} does not exist)")
    print(as_lisp(parse_format(fmt.read_text(), name or f"{event}_args")))
    return 0
