"""Typed fatal errors with exit codes; the CLI is the one place that catches them.

Exit codes: 0 ok, 1 user or spec error, 2 usage (typer's, at parse time: no error class
here), 3 build failure, 4 kernel/runtime failure, 5 missing tool or environment (no
bpftool, not root, no bpffs), 6 `status` found drift (the kernel differs from the spec and
artifacts; not an error), 70 internal error (cli/common.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: keeps `--version` from importing diagnostics
    from tatara_build.diagnostics import Diagnostic, SourceCache

EXIT_SPEC = 1
EXIT_BUILD = 3
EXIT_KERNEL = 4
EXIT_ENV = 5
EXIT_DRIFT = 6  # `status`: the kernel differs from the spec (not an error)


class TataraError(Exception):
    """Base: carries an exit code and, optionally, located diagnostics."""

    exit_code = EXIT_SPEC

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None,
                 sources: SourceCache | None = None):
        super().__init__(message)
        self.message = message
        self.diagnostics = diagnostics or []
        self.sources = sources  # the texts the diagnostics point into (for carets)


class SpecError(TataraError):
    """The spec files are wrong: bad syntax, bad field, failed validation."""


class BuildError(TataraError):
    exit_code = EXIT_BUILD


class RuntimeFailure(TataraError):
    exit_code = EXIT_KERNEL


class EnvironmentProblem(TataraError):
    exit_code = EXIT_ENV
