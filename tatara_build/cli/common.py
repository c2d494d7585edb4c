"""What every verb shares: loading + validating, printing diagnostics, --json output.

`run_verb` is the one catch: TataraError -> its exit code with its diagnostics,
anything else unexpected -> a one-line internal error (exit 70) without a traceback
unless TATARA_DEBUG is set.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tatara_build.diagnostics import Diagnostic, SourceCache, has_errors, render
from tatara_build.errors import SpecError, TataraError

if TYPE_CHECKING:  # the reader and validation load when a verb reads specs
    from tatara_build.model.ir import Project


@dataclass
class Loaded:
    project: Project
    diagnostics: list[Diagnostic]
    sources: SourceCache


def load_project(paths: list[Path], strict: bool = True) -> Loaded:
    """Read + validate; with `strict`, errors raise SpecError carrying every diagnostic."""
    from tatara_build.reader.load import load
    from tatara_build.validate import validate

    sources = SourceCache()
    project, diags = load(paths, sources)
    if not any(d.severity == "error" and d.span is None and "no such" in d.message for d in diags):
        diags = diags + validate(project, sources)
    loaded = Loaded(project, diags, sources)
    if strict and has_errors(diags):
        n = sum(d.severity == "error" for d in diags)
        raise SpecError(f"{n} error{'s' * (n != 1)} in the spec", diags, sources)
    return loaded


def print_diagnostics(diags: list[Diagnostic], sources: SourceCache | None) -> None:
    for d in diags:
        print(render(d, sources) + "\n", file=sys.stderr)


def emit_json(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def run_verb(fn: Callable[[], int | None], as_json: bool) -> None:
    """Run a verb body; map every failure to its exit code, never a traceback."""
    try:
        code = fn() or 0
    except TataraError as exc:
        sources = exc.sources
        if as_json:
            emit_json({"ok": False, "error": exc.message, "exit_code": exc.exit_code,
                       "diagnostics": [d.as_dict() for d in exc.diagnostics]})
        else:
            print_diagnostics(exc.diagnostics, sources)
            print(f"error: {exc.message}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as exc:  # a bug in tatara-build, not the user's input
        if os.environ.get("TATARA_DEBUG"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (set TATARA_DEBUG=1 for a traceback)",
              file=sys.stderr)
        raise SystemExit(70) from None
    raise SystemExit(code)


def project_for(policy: str, paths: list[Path], artifacts: Path) -> Project:
    """Spec sources when given; else the spec the policy's artifacts carry
    (fleet/artifacts.py); else the current folder."""
    from tatara_build.fleet.artifacts import carries_spec, project_from_manifest
    from tatara_build.lower.naming import snake

    if paths:
        return load_project(paths).project
    folder = artifacts / snake(policy)
    if carries_spec(folder):
        return project_from_manifest(folder)
    return load_project([Path(".")]).project
