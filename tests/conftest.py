"""Shared helpers: write spec files into tmp_path, run the CLI in-process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tatara_build.cli.common import load_project
from tatara_build.diagnostics import SourceCache, render

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real console entry point in a subprocess: exit codes and streams as a user sees."""
    return subprocess.run([sys.executable, "-m", "tatara_build", *args], capture_output=True,
                          text=True, cwd=cwd)


@pytest.fixture
def spec(tmp_path: Path):
    """Write files (name -> text) under tmp_path; returns the folder."""

    def write(files: dict[str, str] | None = None, **named: str) -> Path:
        named = {k.replace("__", "/").replace("_DOT_", "."): v for k, v in named.items()}
        for name, text in {**(files or {}), **named}.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return tmp_path

    return write


def diagnostics_of(path: Path):
    loaded = load_project([path], strict=False)
    return loaded.diagnostics


def messages(path: Path, severity: str = "error") -> list[str]:
    return [d.message for d in diagnostics_of(path) if d.severity == severity]


def rendered(path: Path) -> str:
    loaded = load_project([path], strict=False)
    sc: SourceCache = loaded.sources
    return "\n".join(render(d, sc) for d in loaded.diagnostics)


BUILD_TARGET = Path(__import__("os").environ.get(
    "TATARA_TEST_TARGET", Path.home() / ".cache/tatara-build-tests/target"))


def build_cli(paths, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """`tatara-build build` with the shared cargo target folder (core compiled once)."""
    return run_cli("build", *map(str, paths), "-o", str(out), "--target-dir", str(BUILD_TARGET),
                   *extra)


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """The examples, built once per test session."""
    from tatara_build.backends.toolchain import detect

    tc = detect()
    if tc.route == "none":
        pytest.fail("no BPF toolchain: " + "; ".join(tc.problems))
    out = tmp_path_factory.mktemp("build") / "out"
    r = build_cli([EXAMPLES], out, "--json")
    assert r.returncode == 0, r.stderr[-4000:]
    return out


@pytest.fixture(scope="session")
def built_runtime(tmp_path_factory) -> Path:
    """tests/fixtures/runtime.tlisp, built once per session."""
    out = tmp_path_factory.mktemp("rtbuild") / "out"
    r = build_cli([ROOT / "tests" / "fixtures" / "runtime.tlisp"], out)
    assert r.returncode == 0, r.stderr[-4000:]
    return out
