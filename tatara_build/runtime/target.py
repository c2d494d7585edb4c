"""What apply works from: the policy's specs plus its built artifacts (manifest)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from tatara_build.backends.manifest import MANIFEST
from tatara_build.errors import SpecError
from tatara_build.lower.naming import snake
from tatara_build.model.ir import MapSpec, ProgramSpec, Project
from tatara_build.runtime.layout import DEFAULT_ROOT, PinLayout


@dataclass
class Target:
    policy: str
    layout: PinLayout
    maps: list[MapSpec]
    programs: list[ProgramSpec]
    objects: dict[str, dict]  # file -> manifest entry
    folder: Path  # artifacts/<policy>
    owner: dict[str, str] = field(default_factory=dict)  # program name -> object file

    def object_path(self, file: str) -> Path:
        return self.folder / file

    def map_pin(self, m: MapSpec) -> Path:
        return self.layout.map_pin(snake(m.name), m.pin_path)

    def prog_pin(self, p: ProgramSpec) -> Path:
        return self.layout.prog_pin(snake(p.name), p.pin_path)


def load_target(project: Project, policy: str, artifacts: Path, root: Path = DEFAULT_ROOT
                ) -> Target:
    pol = project.policy(policy)
    if pol is None:
        names = ", ".join(p.spec.name for p in project.policies) or "none"
        raise SpecError(f"no policy `{policy}` in the spec (policies: {names})")
    folder = artifacts / snake(policy)
    try:
        data = json.loads((folder / MANIFEST).read_bytes().decode("utf-8"))
    except OSError:
        raise SpecError(f"no {MANIFEST} in {folder}: run `tatara-build build` first") from None
    except ValueError as exc:
        raise SpecError(f"{folder / MANIFEST} is not valid JSON: {exc}") from None
    if isinstance(data, dict) and data.get("spec_hash") and data["spec_hash"] != project.policy_hash(policy):
        raise SpecError(f"artifacts in {folder} were built from another version of policy "
                        f"`{policy}`: rebuild with `tatara-build build`")
    objects = check_manifest(data, folder)
    owner = {p["name"]: f for f, o in objects.items() for p in o["programs"]}
    maps = [project.map(n).spec for n in pol.spec.maps if project.map(n)]  # type: ignore[union-attr]
    progs = [project.program(n).spec for n in pol.spec.programs if project.program(n)]  # type: ignore[union-attr]
    return Target(snake(policy), PinLayout(snake(policy), root), maps, progs, objects, folder,
                  owner)


_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,200}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


def check_manifest(data: object, folder: Path) -> dict[str, dict]:
    """file -> entry, each `file` a plain name inside `folder` with a sha256 and its
    programs; SpecError naming the field otherwise (nothing is touched before this)."""
    where = folder / MANIFEST
    objs = data.get("objects") if isinstance(data, dict) else None
    if not isinstance(objs, list):
        raise SpecError(f"{where}: `objects` is not a list")
    out: dict[str, dict] = {}
    for i, o in enumerate(objs):
        field = f"{where}: objects[{i}]"
        if not isinstance(o, dict):
            raise SpecError(f"{field} is not an object")
        file = o.get("file")
        if not isinstance(file, str) or not _FILE.match(file) or file in out or \
                (folder / file).resolve().parent != folder.resolve():
            raise SpecError(f"{field}.file {str(file)[:80]!r}: must be a plain file name inside "
                            f"{folder} (no `/`, no `..`), once")
        if not isinstance(o.get("sha256"), str) or not _SHA.match(o["sha256"]):
            raise SpecError(f"{field}.sha256 is not 64 hex digits")
        progs = o.get("programs")
        if not isinstance(progs, list) or not all(
                isinstance(p, dict) and isinstance(p.get("name"), str) for p in progs):
            raise SpecError(f"{field}.programs is not a list of {{name: ...}}")
        maps = o.get("maps", [])
        if not isinstance(maps, list) or not all(
                isinstance(m, dict) and isinstance(m.get("name"), str) for m in maps):
            raise SpecError(f"{field}.maps is not a list of {{name: ...}}")
        out[file] = o
    return out
