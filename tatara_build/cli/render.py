"""`tatara-build render PATHS -o OUT [--check]`: spec -> aya crates (+ carried objects)."""

from __future__ import annotations

from pathlib import Path

from tatara_build.cli.common import emit_json, load_project
from tatara_build.diagnostics import has_errors
from tatara_build.errors import SpecError
from tatara_build.lower.plan import DEFAULT_FLAKE_INPUT, plan
from tatara_build.render.templates import render_file
from tatara_build.render.writer import write_tree


def render_files(paths: list[Path], flake_input: str = DEFAULT_FLAKE_INPUT):
    """Load, validate and lower; the rendered bytes per relative path, and the plan."""
    loaded = load_project(paths)
    rplan, diags = plan(loaded.project, flake_input)
    if has_errors(diags):
        exc = SpecError(f"{sum(d.severity == 'error' for d in diags)} errors while lowering", diags)
        exc.sources = loaded.sources  # type: ignore[attr-defined]
        raise exc
    return {f.path: render_file(f) for f in rplan.files}, rplan, loaded


def render(paths: list[Path], out: Path, check: bool, as_json: bool,
           flake_input: str = DEFAULT_FLAKE_INPUT) -> int:
    files, rplan, _ = render_files(paths, flake_input)
    report = write_tree(out, files, check=check)
    if as_json:
        emit_json({"ok": not (check and report.changed), "out": str(out),
                   "policies": [c.policy for c in rplan.crates], "written": report.written,
                   "removed": report.removed, "unchanged": len(report.unchanged)})
    elif check:
        for rel in report.written:
            print(f"would write {out / rel}")
        for rel in report.removed:
            print(f"would remove {out / rel}")
        print(f"{len(report.changed)} files would change" if report.changed else "up to date")
    else:
        print(f"rendered {len(rplan.crates)} policies into {out}: {len(report.written)} written, "
              f"{len(report.unchanged)} unchanged, {len(report.removed)} removed")
    return 1 if check and report.changed else 0
