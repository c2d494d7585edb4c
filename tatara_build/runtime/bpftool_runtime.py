"""BpftoolRuntime: the seed's BpfRuntime operations over the kernel, one program at a
time (the lifecycle in lifecycle.py drives whole policies through the same Kernel).

load_program loads the object that holds the program (maps rebound to the policy's
pins) and pins it; attach_program is idempotent; detach_program of a program that is
not attached fails, as in the kernel; create_map is idempotent and refuses a pinned
map of another shape.
"""

from __future__ import annotations

import os

from tatara_build.lower.naming import snake
from tatara_build.model.ir import MapSpec, ProgramSpec
from tatara_build.runtime.attach import attach, undo
from tatara_build.runtime.base import AttachFailed, Io, LoadedProgram
from tatara_build.runtime.kernel import Kernel, no_journal
from tatara_build.runtime.records import Record
from tatara_build.runtime.safety import Owner
from tatara_build.runtime.target import Target


class BpftoolRuntime:
    def __init__(self, target: Target, kernel: Kernel | None = None):
        self.t = target
        self.k = kernel or Kernel()
        self.attached: dict[str, list[Record]] = {}
        self.owner = Owner(target.layout.base)

    def create_map(self, spec: MapSpec) -> None:
        self.k.ensure_maps([(spec, self.t.map_pin(spec))])

    def load_program(self, spec: ProgramSpec) -> LoadedProgram:
        file = self.t.owner.get(snake(spec.name))
        if file is None:
            raise Io(f"no built object holds program `{spec.name}`")
        final = self.t.prog_pin(spec)
        if final.exists():
            raise Io(f"can't pin the object ({final}): File exists")
        rebind = {snake(m.name): self.t.map_pin(m) for m in self.t.maps
                  if self.t.map_pin(m).exists()}
        staging = self.t.layout.staging / f"{snake(spec.name)}_{os.getpid()}"  # bpffs: no dots
        pins = self.k.load_object(self.t.object_path(file), staging, rebind)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(pins[snake(spec.name)], final)
        self.owner.remove(staging)
        info = self.k.prog_info(final) or {}
        return LoadedProgram(spec.name, int(info.get("id") or 0))

    def _spec(self, name: str) -> ProgramSpec:
        return next(p for p in self.t.programs if p.name == name)

    def attach_program(self, prog: LoadedProgram) -> None:
        if prog.name in self.attached:
            return  # idempotent
        spec = self._spec(prog.name)
        pin = self.t.prog_pin(spec)
        if not pin.exists():
            raise AttachFailed(f"program `{prog.name}` is not loaded")
        self.attached[prog.name] = attach(self.k, spec, pin, self.t.layout.links, no_journal)

    def detach_program(self, prog: LoadedProgram) -> None:
        recs = self.attached.pop(prog.name, None)
        if recs is None:
            raise AttachFailed(f"program `{prog.name}` is not attached")
        for rec in reversed(recs):
            undo(self.k, rec, self.owner)
