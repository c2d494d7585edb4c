"""`fmt`, `schema`, `export`: the spec in its canonical text, schema and wire forms."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tatara_build.cli.common import emit_json, load_project
from tatara_build.errors import SpecError
from tatara_build.reader.fmt import format_text


def fmt(paths: list[Path], check_only: bool, as_json: bool) -> int:
    """Rewrite each .tlisp in place (or, with --check, list the ones that would change)."""
    changed = []
    files = [f for p in paths for f in (sorted(p.rglob("*.tlisp")) if p.is_dir() else [p])]
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except OSError as exc:
            raise SpecError(f"cannot read {f}: {exc}") from None
        try:
            new = format_text(text)
        except SpecError as exc:
            exc.diagnostics = [d.__class__(d.severity, d.message, d.span.__class__(
                str(f), d.span.line, d.span.col, d.span.width) if d.span else None, d.help)
                for d in exc.diagnostics]
            raise
        if new != text:
            changed.append(str(f))
            if not check_only:
                f.write_text(new, encoding="utf-8")
    if as_json:
        emit_json({"ok": not (check_only and changed), "changed": changed})
    else:
        verb = "would reformat" if check_only else "reformatted"
        for c in changed:
            print(f"{verb} {c}")
        print(f"{len(changed)} of {len(files)} files {verb}")
    return 1 if check_only and changed else 0


def schema() -> int:
    from pydantic import TypeAdapter  # reads the model's annotations; only this verb needs it

    from tatara_build.model.ir import ProjectWire

    doc = TypeAdapter(ProjectWire).json_schema()
    for obj in [doc, *doc.get("$defs", {}).values()]:
        obj["additionalProperties"] = False  # model/construct.py refuses unknown keys
    print(json.dumps(doc, indent=2, sort_keys=True))
    return 0


def export(paths: list[Path], fmt_name: str, out: Path | None) -> int:
    """The whole project in the wire form (sorted, deterministic)."""
    project = load_project(paths).project
    wire = rebased_wire(project, (out.parent if out else Path.cwd()).resolve())
    if fmt_name == "json":
        text = json.dumps(wire, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    elif fmt_name == "toml":
        import tomli_w

        text = tomli_w.dumps(_drop_none(wire))
    else:
        raise SpecError(f"unknown export format `{fmt_name}` (json or toml)")
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
    return 0


def rebased_wire(project, base: Path) -> dict:
    """The wire form with each program's source made relative to `base`, so the
    exported file works where it is written (sources are relative to their spec)."""
    from tatara_build.model.sources import classify, resolve

    wire = project.wire()
    by_name = {p.spec.name: p for p in project.programs}
    for prog in wire["programs"]:
        loc = by_name[prog["name"]]
        src = classify(prog["source"])
        if src is None:
            continue
        full = resolve(loc.file, src.path).resolve()
        rel = Path(os.path.relpath(full, base)).as_posix()
        rel = full.as_posix() if rel.startswith("../") else rel
        prog["source"] = rel + (f":{src.fn}" if src.shape == "lisp" else "")
    return wire


def _drop_none(value):
    """TOML has no null: absent means None, which reads back the same."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in sorted(value.items()) if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


__all__ = ["fmt", "schema", "export", "emit_json"]
