"""`tatara-build test PATHS -o OUT`: build, then run every defbpf-test in the kernel; a
program the verifier refuses fails its tests with the verifier's log (text and --json)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from tatara_build.backends.orchestrate import build_all
from tatara_build.cli.common import emit_json
from tatara_build.cli.render import render_files
from tatara_build.cli.runtime_verbs import preflight
from tatara_build.model.ir import ident
from tatara_build.outlayout import OutLayout
from tatara_build.testing.runner import run_tests


def test(paths: list[Path], out: Path, names: list[str] | None, target_dir: Path | None,
         as_json: bool) -> int:
    preflight("bpftool")
    files, rplan, loaded = render_files(paths)
    policies = {ident(pol.spec.name) for t in loaded.project.tests
                for pol in loaded.project.policies_of(t.spec.program)}
    crates = [c for c in rplan.crates if c.policy in policies]
    built = build_all(loaded.project, crates, files, OutLayout(out), target_dir=target_dir)
    objects = {r.policy: [{**o, "path": str(r.dest / o["file"])} for o in r.objects]
               for r in built}
    results = run_tests(loaded.project, objects, names)
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    if as_json:
        emit_json({"ok": failed == 0, "passed": passed, "failed": failed,
                   "tests": [r.__dict__ for r in results]})
    else:
        table = Table(title="defbpf-test")
        for col in ("test", "program", "expected", "got", "ns", "result"):
            table.add_column(col)
        for r in results:
            table.add_row(r.name, r.program, r.expected, r.got, str(r.duration_ns),
                          "[green]pass[/green]" if r.passed else "[red]FAIL[/red]")
        Console().print(table)
        shown: set[str] = set()
        for r in results:
            for p in r.problems:
                print(f"FAILED {r.name}: {p}")
            if r.log and r.log not in shown:  # as `build --verify` shows it, once per program
                shown.add(r.log)
                print(f"verifier log:\n{r.log}")
        print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1
