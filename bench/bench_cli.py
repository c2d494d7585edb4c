"""Benchmark: everyday speed of the command line, as ratios measured in one run.

- `tatara-build --version` against the floor `python3 -c 'import typer'` (target <= 1.5x):
  verbs import what they need only when they run.
- `tatara-build check examples/` against the same floor (target <= 2.5x).
- a no-op re-render of the 1,000-program project (bench/gen_project.py) against its first
  render into an empty folder (target <= 0.3x): the render cache (render/cache.py) skips
  reading, lowering and templating when no input changed.

Every number is the best of several runs of a fresh process, in CPU time (user + system:
this machine is shared, and wall time would measure the neighbours); runs of the things
compared are interleaved so load changes hit both alike.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.gen_project import generate  # noqa: E402

CLI = [sys.executable, "-c", "import sys; from tatara_build.cli.app import main; sys.argv[0] = "
       "'tatara-build'; main()"]
FLOOR = [sys.executable, "-c", "import typer"]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def once(argv: list[str], before=None) -> float:
    """CPU seconds (user + system) of one run: on a shared machine wall time mostly
    measures the neighbours, CPU time measures us."""
    if before:
        before()
    t = _children_cpu()
    subprocess.run(argv, env=_env(), cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return _children_cpu() - t


def interleaved(cases: dict[str, tuple[list[str], object]], runs: int) -> dict[str, float]:
    best = {k: float("inf") for k in cases}
    for _ in range(runs):
        for k, (argv, before) in cases.items():
            best[k] = min(best[k], once(argv, before))
    return best


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        proj = generate(Path(tmp) / "proj", 1000)
        out = Path(tmp) / "out"
        render = [*CLI, "render", str(proj), "-o", str(out)]
        once(render)  # warm the file cache and __pycache__
        t = interleaved({
            "floor": (FLOOR, None),
            "version": ([*CLI, "--version"], None),
            "check": ([*CLI, "check", "examples/"], None),
            "first": (render, lambda: shutil.rmtree(out, ignore_errors=True)),
            "noop": (render, None),
        }, runs=5)
    rows = [
        ("--version / import typer", t["version"] / t["floor"], 1.5),
        ("check examples/ / import typer", t["check"] / t["floor"], 2.5),
        ("no-op re-render / first render", t["noop"] / t["first"], 0.3),
    ]
    print(f"import typer (floor): {t['floor'] * 1000:7.1f} ms")
    print(f"--version:            {t['version'] * 1000:7.1f} ms")
    print(f"check examples/:      {t['check'] * 1000:7.1f} ms")
    print(f"render 1,000 (first): {t['first'] * 1000:7.1f} ms")
    print(f"render 1,000 (no-op): {t['noop'] * 1000:7.1f} ms")
    ok = True
    for name, ratio, target in rows:
        good = ratio <= target
        ok &= good
        print(f"{name:<34} {ratio:5.2f}x  (target <= {target}x) {'PASS' if good else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
