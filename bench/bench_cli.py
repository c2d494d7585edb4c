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

Modules run byte-compiled, as in an installed tool (pip compiles on install): the children
get a fresh PYTHONPYCACHEPREFIX and never PYTHONDONTWRITEBYTECODE, and every command runs
once before timing. Otherwise each run would compile tatara_build from source while typer
comes precompiled from site-packages.

Three more lines are printed without a target, to show where the ratios go:
- a do-nothing typer command taking a `list[Path]` argument, as `check` does: typer's
  own parse. typer 0.29 coerces every non-flag parameter through a pydantic TypeAdapter
  (about 2.7x the floor for this alone), typer 0.28 does not (about 1.1x); pyproject.toml
  pins typer below 0.29 for that reason.
- `import typer` plus pydantic with one model built and instantiated: what a pydantic spec
  model would cost every verb that reads a spec (the model was pydantic until it became
  plain dataclasses, model/construct.py, for this reason: check was 3.2-3.6x).
- `fmt --check examples/`, a verb that loads neither the model nor the lowering
  (reader/heads.py): on typer 0.29 it pays pydantic anyway, for its `list[Path]` argument.

The interpreter is `sys.executable`: run the bench with another venv's python to compare
typer versions.
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
TYPER_PATH_ARG = """\
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer()


@app.command()
def check(paths: Annotated[list[Path], typer.Argument()],
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    pass


@app.command()
def other() -> None:
    pass


app()
"""
PYDANTIC_MODEL = """\
import typer
from pydantic import BaseModel


class M(BaseModel):
    x: int


M(x=1).model_dump(mode="json")
"""
PYCACHE: Path | None = None  # set by main(): byte-compiled modules, as when installed


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    if PYCACHE is not None:
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


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
    global PYCACHE
    with tempfile.TemporaryDirectory() as tmp:
        PYCACHE = Path(tmp) / "pycache"
        proj = generate(Path(tmp) / "proj", 1000)
        out = Path(tmp) / "out"
        path_arg = Path(tmp) / "typer_path_arg.py"
        path_arg.write_text(TYPER_PATH_ARG)
        render = [*CLI, "render", str(proj), "-o", str(out)]
        cases = {
            "floor": (FLOOR, None),
            "path_arg": ([sys.executable, str(path_arg), "check", "examples/"], None),
            "pydantic": ([sys.executable, "-c", PYDANTIC_MODEL], None),
            "version": ([*CLI, "--version"], None),
            "check": ([*CLI, "check", "examples/"], None),
            "fmt": ([*CLI, "fmt", "--check", "examples/"], None),
            "first": (render, lambda: shutil.rmtree(out, ignore_errors=True)),
            "noop": (render, None),
        }
        for argv, before in cases.values():  # warm the file cache and the byte-code cache
            once(argv, before)
        t = interleaved(cases, runs=5)
    rows = [
        ("--version / import typer", t["version"] / t["floor"], 1.5),
        ("check examples/ / import typer", t["check"] / t["floor"], 2.5),
        ("no-op re-render / first render", t["noop"] / t["first"], 0.3),
    ]
    import typer

    print(f"import typer (floor): {t['floor'] * 1000:7.1f} ms  (typer {typer.__version__})")
    print(f"typer list[Path] arg: {t['path_arg'] * 1000:7.1f} ms  "
          f"({t['path_arg'] / t['floor']:.2f}x the floor; typer's own parse, no target)")
    print(f"typer + pydantic:     {t['pydantic'] * 1000:7.1f} ms  "
          f"({t['pydantic'] / t['floor']:.2f}x the floor; one pydantic model, no target)")
    print(f"--version:            {t['version'] * 1000:7.1f} ms")
    print(f"check examples/:      {t['check'] * 1000:7.1f} ms")
    print(f"fmt --check examples/:{t['fmt'] * 1000:7.1f} ms  "
          f"({t['fmt'] / t['floor']:.2f}x the floor; a verb without the model, no target)")
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
