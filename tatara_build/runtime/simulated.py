"""SimulatedRuntime: dry runs without a kernel, recording operations like the seed.

By default it is the seed's mock (tatara-ebpf's `SimulatedRuntime`): every call is
recorded and none fails. `load_program` appends the spec and returns the next token
(1, 2, ...; loading the same program twice records it twice with two tokens);
`attach_program` appends the name, even for a program never loaded and even when it is
attached already; `detach_program` removes every occurrence of the name and is a no-op
for an unknown one; `create_map` appends the spec.

`strict=True` adds the kernel rules we model, each with a twin test against the real
kernel (tests/test_runtime_kernel.py): a pin is unique (loading a program or creating a
map whose pin is taken fails), attaching needs a loaded program, detaching a program
that is not attached fails, and re-creating a map with another shape fails. `plan
--runtime simulated` runs the policy through a strict simulation, from its spec alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tatara_build.lower.naming import snake
from tatara_build.model.construct import dump
from tatara_build.model.ir import MapSpec, ProgramSpec
from tatara_build.runtime.base import AttachFailed, Io, LoadedProgram, MapError


def _seed_pin(spec) -> str:
    return spec.pin_path or f"/sys/fs/bpf/{spec.name}"


@dataclass
class SimulatedRuntime:
    loaded_programs: list[ProgramSpec] = field(default_factory=list)
    attached_programs: list[str] = field(default_factory=list)
    created_maps: list[MapSpec] = field(default_factory=list)
    next_token: int = 0
    strict: bool = False
    pins: dict[str, str] = field(default_factory=dict)  # strict: pin path -> owner
    pin_of: Callable[[ProgramSpec | MapSpec], object] = _seed_pin  # a policy's layout in plan

    def _pin(self, pin: str, owner: str) -> None:
        if self.strict:
            if pin in self.pins:
                raise Io(f"can't pin the object ({pin}): File exists")
            self.pins[pin] = owner

    def load_program(self, spec: ProgramSpec) -> LoadedProgram:
        self._pin(str(self.pin_of(spec)), spec.name)
        self.loaded_programs.append(spec)
        self.next_token += 1
        return LoadedProgram(spec.name, self.next_token)

    def attach_program(self, prog: LoadedProgram) -> None:
        if self.strict and not any(p.name == prog.name for p in self.loaded_programs):
            raise AttachFailed(f"program `{prog.name}` is not loaded")
        self.attached_programs.append(prog.name)

    def detach_program(self, prog: LoadedProgram) -> None:
        if self.strict and prog.name not in self.attached_programs:
            raise AttachFailed(f"program `{prog.name}` is not attached")
        self.attached_programs = [n for n in self.attached_programs if n != prog.name]

    def create_map(self, spec: MapSpec) -> None:
        if self.strict:
            for m in self.created_maps:
                if m.name == spec.name and _shape(m) != _shape(spec):
                    raise MapError(f"map `{spec.name}` exists with another shape")
            if any(m.name == spec.name for m in self.created_maps):
                return  # the same map again: idempotent, as the kernel runtime is
            self._pin(str(self.pin_of(spec)), spec.name)
        self.created_maps.append(spec)

    # --- dry runs of a policy ------------------------------------------------------------
    def apply(self, t):
        """Create the maps, load and attach the programs of `t` (a runtime Target) in this
        simulation, in the kernel runtime's order; the actions taken."""
        from tatara_build.runtime.lifecycle import Action

        actions = []
        for m in t.maps:
            self.create_map(m)
            actions.append(Action("create-map", m.name, str(t.map_pin(m))))
        loaded = []
        for p in t.programs:
            loaded.append(self.load_program(p))
            actions.append(Action("load", p.name, _load_detail(t, p)))
        for prog, p in zip(loaded, t.programs, strict=True):
            self.attach_program(prog)
            actions.append(Action("attach", p.name, f"{p.kind} {p.attach.target}".strip()))
        return actions

    def plan(self, t):
        """What `apply` would do, checked by a strict simulation (this one is untouched)."""
        def pin_of(spec):
            return t.map_pin(spec) if isinstance(spec, MapSpec) else t.prog_pin(spec)

        return SimulatedRuntime(strict=True, pin_of=pin_of).apply(t)


def _shape(m: MapSpec) -> dict:
    return dump(m, exclude={"pin_path"})


def _load_detail(t, p: ProgramSpec) -> str:
    file = t.owner.get(snake(p.name))
    return f"from {file}" if file else f"from {p.source} (not built)"


def spec_target(project, policy: str, artifacts, root):
    """A runtime Target for a dry run: the built artifacts when they match the spec (to
    name the objects), else the spec alone (`plan --runtime simulated` needs no build)."""
    from tatara_build.errors import SpecError
    from tatara_build.runtime.layout import PinLayout
    from tatara_build.runtime.target import Target, load_target

    try:
        return load_target(project, policy, artifacts, root)
    except SpecError:
        if project.policy(policy) is None:
            raise
    pol = project.policy(policy).spec
    maps = [project.map(n).spec for n in pol.maps if project.map(n)]
    progs = [project.program(n).spec for n in pol.programs if project.program(n)]
    return Target(snake(policy), PinLayout(snake(policy), root), maps, progs, {},
                  artifacts / snake(policy))
