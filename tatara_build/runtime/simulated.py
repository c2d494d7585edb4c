"""SimulatedRuntime: dry runs without a kernel, recording operations like the seed.

Seed semantics (tatara-ebpf runtime.rs): `loaded_programs`, `attached_programs`,
`created_maps` lists, tokens from 1. Modelled kernel rules, each with a twin test
against the real kernel (tests/test_runtime_kernel.py): a pin is unique (loading a
program whose pin is taken fails), attaching needs a loaded program, detaching an
unknown program fails, and re-creating a map with another shape fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tatara_build.model.ir import MapSpec, ProgramSpec
from tatara_build.runtime.base import AttachFailed, Io, LoadedProgram, MapError


@dataclass
class SimulatedRuntime:
    loaded_programs: list[ProgramSpec] = field(default_factory=list)
    attached_programs: list[str] = field(default_factory=list)
    created_maps: list[MapSpec] = field(default_factory=list)
    next_token: int = 0
    pins: dict[str, str] = field(default_factory=dict)  # pin path -> program or map name

    def load_program(self, spec: ProgramSpec) -> LoadedProgram:
        pin = spec.pin_path or f"/sys/fs/bpf/{spec.name}"
        if pin in self.pins:
            raise Io(f"can't pin the object ({pin}): File exists")
        self.pins[pin] = spec.name
        self.loaded_programs.append(spec)
        self.next_token += 1
        return LoadedProgram(spec.name, self.next_token)

    def attach_program(self, prog: LoadedProgram) -> None:
        if not any(p.name == prog.name for p in self.loaded_programs):
            raise AttachFailed(f"program `{prog.name}` is not loaded")
        self.attached_programs.append(prog.name)

    def detach_program(self, prog: LoadedProgram) -> None:
        if prog.name not in self.attached_programs:
            raise AttachFailed(f"program `{prog.name}` is not attached")
        self.attached_programs = [n for n in self.attached_programs if n != prog.name]

    def create_map(self, spec: MapSpec) -> None:
        for m in self.created_maps:
            if m.name == spec.name and m.model_dump(exclude={"pin_path"}) != spec.model_dump(
                    exclude={"pin_path"}):
                raise MapError(f"map `{spec.name}` exists with another shape")
        self.created_maps.append(spec)

    # --- dry runs of the lifecycle -------------------------------------------------------
    def plan(self, t):
        from tatara_build.runtime.lifecycle import Action

        out = [Action("create-map", m.name, str(t.map_pin(m))) for m in t.maps]
        out += [Action("load", f, f"{len(o['programs'])} programs") for f, o in
                sorted(t.objects.items())]
        out += [Action("attach", p.name, f"{p.kind} {p.attach.target}".strip())
                for p in t.programs]
        return out

    def apply(self, t):
        """Run the plan against this simulation (create, load, attach, in that order)."""
        for m in t.maps:
            self.create_map(m)
        loaded = [self.load_program(p) for p in t.programs]
        for prog in loaded:
            self.attach_program(prog)
        return self.plan(t)
