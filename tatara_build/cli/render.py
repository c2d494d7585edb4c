"""`tatara-build render PATHS -o OUT [--check]`: spec -> OUT/crates/<policy>/ aya crates
(+ carried objects), the same folder `build -o OUT` compiles (outlayout.py)."""

from __future__ import annotations

from pathlib import Path

from tatara_build.outlayout import OutLayout
from tatara_build.reader.files import discover
from tatara_build.render import cache
from tatara_build.render.writer import LOCK, WriteReport, write_tree


def render_files(paths: list[Path]):
    """Load, validate and lower; the rendered bytes per relative path, and the plan."""
    from tatara_build.cli.common import load_project
    from tatara_build.diagnostics import has_errors
    from tatara_build.errors import SpecError
    from tatara_build.lower.plan import plan
    from tatara_build.render.templates import render_file

    loaded = load_project(paths)
    rplan, diags = plan(loaded.project)
    if has_errors(diags):
        n = sum(d.severity == "error" for d in diags)
        raise SpecError(f"{n} errors while lowering", diags, loaded.sources)
    return {f.path: render_file(f) for f in rplan.files}, rplan, loaded


def _outside(root: Path, files: list[Path]) -> list[Path]:
    """Files not under `root`: a render lock (JSON) in a spec folder is output, not input."""
    r = root.resolve()
    return [f for f in files if not f.resolve().is_relative_to(r)]


def render(paths: list[Path], out: Path, check: bool, as_json: bool) -> int:
    crates = OutLayout(out).crates
    spec_files = _outside(crates, discover(paths)) if all(p.exists() for p in paths) else []
    lock = cache.read_lock(crates, LOCK)
    cached = cache.hit(crates, lock, spec_files) if spec_files else None
    if cached is not None:  # nothing changed: skip reading, lowering and templating
        report, policies = WriteReport(unchanged=sorted(lock["files"])), cached["policies"]
    else:
        files, rplan, loaded = render_files(paths)
        policies = [c.policy for c in rplan.crates]
        inputs = {str(f) for f in _outside(crates, [Path(t) for t in loaded.sources.texts])}
        inputs |= {str(f.copy_from) for f in rplan.files if f.copy_from}
        entry = cache.entry(spec_files, inputs, policies) if spec_files else None
        report = write_tree(crates, files, check=check, cache=entry)
    if as_json:
        from tatara_build.cli.common import emit_json

        emit_json({"ok": not (check and report.changed), "out": str(out), "crates": str(crates),
                   "policies": policies, "written": report.written,
                   "removed": report.removed, "unchanged": len(report.unchanged)})
    elif check:
        for rel in report.written:
            print(f"would write {crates / rel}")
        for rel in report.removed:
            print(f"would remove {crates / rel}")
        print(f"{len(report.changed)} files would change" if report.changed else "up to date")
    else:
        print(f"rendered {len(policies)} policies into {crates}: {len(report.written)} written, "
              f"{len(report.unchanged)} unchanged, {len(report.removed)} removed")
    return 1 if check and report.changed else 0
