"""`tatara-build check PATHS...`: read, validate, summarise; every problem reported."""

from __future__ import annotations

from pathlib import Path

from tatara_build.cli.common import emit_json, load_project, print_diagnostics
from tatara_build.diagnostics import has_errors


def check(paths: list[Path], as_json: bool) -> int:
    loaded = load_project(paths, strict=False)
    p, diags = loaded.project, loaded.diagnostics
    counts = {"files": len(p.files), "programs": len(p.programs), "maps": len(p.maps),
              "policies": len(p.policies), "bpf_fns": len(p.bpf_fns)}
    errors = sum(d.severity == "error" for d in diags)
    warnings = sum(d.severity == "warning" for d in diags)
    if as_json:
        emit_json({"ok": errors == 0, "counts": counts, "files": p.files,
                   "diagnostics": [d.as_dict() for d in diags]})
    else:
        print_diagnostics(diags, loaded.sources)
        summary = (f"{counts['files']} files: {counts['programs']} programs, {counts['maps']} maps, "
                   f"{counts['policies']} policies, {counts['bpf_fns']} bpf-fns")
        if errors:
            print(f"check failed: {errors} errors, {warnings} warnings ({summary})")
        else:
            print(f"ok: {summary}; {warnings} warnings")
            for pol in p.policies:
                print(f"  policy {pol.spec.name}: {len(pol.spec.programs)} programs, "
                      f"{len(pol.spec.maps)} maps, hash {p.policy_hash(pol.spec.name)[:16]}")
    return 1 if has_errors(diags) else 0
