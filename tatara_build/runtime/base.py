"""The runtime surface: upstream's BpfRuntime trait, its error kinds, and more.

Seed semantics first (tatara-ebpf runtime.rs): `load_program`, `attach_program`
(idempotent), `detach_program` (detach and unload), `create_map` (idempotent; a
mismatched existing map is an error), `LoadedProgram{name, token}`, and the five error
kinds with their exact messages. That is the trait's contract, which the kernel runtime
keeps; the seed's own SimulatedRuntime only records calls and never fails (see
runtime/simulated.py, which offers the kernel's rules as a strict mode). Added: map
read/write/delete/dump, and `observe` (what is live).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tatara_build.errors import RuntimeFailure
from tatara_build.model.ir import MapSpec, ProgramSpec


class RuntimeError_(RuntimeFailure):
    """Base of the seed's RuntimeError kinds (the trailing `_` avoids the builtin)."""

    template = "{0}"

    def __init__(self, detail: str = "", program: str | None = None):
        super().__init__(self.template.format(detail))
        self.detail = detail
        self.program = program


class Unsupported(RuntimeError_):
    template = "operation not supported by this runtime backend"

    def __init__(self, detail: str = "", program: str | None = None):
        super().__init__(detail, program)
        if detail:
            self.message = f"{self.template}: {detail}"
            self.args = (self.message,)


class VerifierRejected(RuntimeError_):
    template = "kernel rejected program at load: {0}"

    def __init__(self, detail: str, program: str | None = None, log: str = ""):
        super().__init__(detail, program)
        self.log = log
        self.where = None  # runtime/verifylog.py Where: the spec form of the refused code


class AttachFailed(RuntimeError_):
    template = "attach failed: {0}"


class MapError(RuntimeError_):
    template = "map operation failed: {0}"


class Io(RuntimeError_):
    template = "io: {0}"


@dataclass(frozen=True)
class LoadedProgram:
    name: str
    token: int


class BpfRuntime(Protocol):
    def load_program(self, spec: ProgramSpec) -> LoadedProgram:
        """Load (and pin) a program; VerifierRejected carries the kernel's log."""
        ...

    def attach_program(self, prog: LoadedProgram) -> None:
        """Attach a loaded program at its spec's attach point; again is a no-op."""
        ...

    def detach_program(self, prog: LoadedProgram) -> None:
        """Detach and unload; the handle is invalid afterwards."""
        ...

    def create_map(self, spec: MapSpec) -> None:
        """Create and pin a map; the same spec again is a no-op, another shape an error."""
        ...
