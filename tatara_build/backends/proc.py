"""One subprocess wrapper (cibuildwheel style): argument lists, echo, captured output."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(argv: list[str], cwd: Path | None = None, env: Mapping[str, str] | None = None,
        echo: bool = False, input: str | None = None, timeout: float | None = None) -> Result:
    """Run without a shell; a missing program is a failed Result, not an exception."""
    if echo:
        print("+ " + shlex.join(argv), file=sys.stderr)
    full_env = {**os.environ, **(env or {})}
    try:
        p = subprocess.run(argv, cwd=cwd, env=full_env, capture_output=True, text=True,
                           input=input, timeout=timeout)
    except FileNotFoundError:
        return Result(argv, 127, "", f"{argv[0]}: command not found")
    except subprocess.TimeoutExpired:
        return Result(argv, 124, "", f"{argv[0]}: timed out after {timeout}s")
    return Result(argv, p.returncode, p.stdout, p.stderr)


def first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
