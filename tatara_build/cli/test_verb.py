"""`tatara-build test PATHS -o OUT`: build, then run every defbpf-test in the kernel; a
program the verifier refuses fails its tests with the verifier's log (text and --json)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from tatara_build.backends.orchestrate import build_all
from tatara_build.cli.common import emit_json
from tatara_build.cli.render import render_files
from tatara_build.cli.runtime_verbs import load_config, preflight
from tatara_build.model.ir import ident
from tatara_build.outlayout import OutLayout
from tatara_build.testing.runner import run_tests


def test(paths: list[Path], out: Path, names: list[str] | None, target_dir: Path | None,
         as_json: bool, sets: list[str] | None = None) -> int:
    preflight("bpftool")
    files, rplan, loaded = render_files(paths)
    config = load_config(loaded.project, sets or [])  # --set NAME=VALUE, checked before the build
    policies = {ident(pol.spec.name) for t in loaded.project.tests
                for pol in loaded.project.policies_of(t.spec.program)}
    crates = [c for c in rplan.crates if c.policy in policies]
    built = build_all(loaded.project, crates, files, OutLayout(out), target_dir=target_dir)
    objects = {r.policy: [{**o, "path": str(r.dest / o["file"])} for o in r.objects]
               for r in built}
    results = run_tests(loaded.project, objects, names,
                        {n: c["value"] for n, c in config.items()})
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    if as_json:
        emit_json({"ok": failed == 0, "passed": passed, "failed": failed,
                   "tests": [r.__dict__ for r in results]})
    else:
        _table(results)
        shown: set[str] = set()
        for r in results:
            for p in r.problems:
                print(f"FAILED {r.name}: {p}")
            if r.log and r.log not in shown:  # as `build --verify` shows it, once per program
                shown.add(r.log)
                print(f"verifier log:\n{r.log}")
        print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def _table(results) -> None:
    """The results table with every test name whole: never cut with an ellipsis (folded on
    a narrow terminal), and as wide as it needs when the output is a pipe or a log."""
    table = Table(title="defbpf-test")
    table.add_column("test", overflow="fold")
    for col in ("program", "expected", "got", "ns", "result"):
        table.add_column(col)
    rows = [(r.name, r.program, r.expected, r.got, str(r.duration_ns),
             "[green]pass[/green]" if r.passed else "[red]FAIL[/red]") for r in results]
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:
        widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in
                  enumerate(("test", "program", "expected", "got", "ns", "result"))]
        console = Console(width=max(console.width, sum(widths) + 3 * len(widths) + 1))
    console.print(table)
