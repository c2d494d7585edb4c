"""Artifacts that stand alone: the spec a policy was built from, read back from its
`tatara.manifest.json` (backends/manifest.py writes it under `spec`), so `plan`, `apply`,
`status`, `detach` and `map` need no spec sources on the host that applies.

Trust: the carried closure (policy, programs, maps, records, globals), rebuilt as models,
must hash to the manifest's `spec_hash`, and every object must match its recorded sha256
before anything loads.
"""

from __future__ import annotations

import json
from pathlib import Path

from tatara_build.backends.manifest import MANIFEST, SPEC_KEY
from tatara_build.errors import SpecError
from tatara_build.model.construct import DataError, build
from tatara_build.model.globals import GlobalSpec
from tatara_build.model.ir import Located, MapSpec, PolicySpec, ProgramSpec, Project
from tatara_build.model.records import StructSpec
from tatara_build.model.testspec import TestSpec


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    try:
        return json.loads(path.read_text())
    except OSError:
        raise SpecError(f"no {MANIFEST} in {folder}: run `tatara-build build` first") from None
    except ValueError as exc:
        raise SpecError(f"{path} is not valid JSON: {exc}") from None


def carries_spec(folder: Path) -> bool:
    try:
        return SPEC_KEY in json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False


def project_from_manifest(folder: Path) -> Project:
    """The policy's Project rebuilt from the manifest's wire-form spec (no sources).

    The check is the whole round trip wire -> model -> hash: the rebuilt Project's
    `policy_hash` (model/ir.py `policy_closure`: policy, programs, maps, the records its
    maps use, the globals) must equal the manifest's `spec_hash`, so any part of the
    closure the wire form dropped or the models read back differently is caught here,
    not on the host after a load."""
    data = read_manifest(folder)
    path = str(folder / MANIFEST)
    spec = data.get(SPEC_KEY)
    if not isinstance(spec, dict):
        raise SpecError(f"{path} carries no spec (built by an older tatara-build): pass the spec "
                        "files, or rebuild")
    project = _rebuilt(spec, path)
    name = project.policies[0].spec.name
    if data.get("spec_hash") and project.policy_hash(name) != data["spec_hash"]:
        raise SpecError(f"{path}: the carried spec does not match the manifest's spec_hash "
                        "(edited after the build?): rebuild")
    return project


def _rebuilt(spec: dict, path: str) -> Project:
    def each(key: str, model) -> list[Located]:
        items = spec.get(key) or []
        if not isinstance(items, list):
            raise TypeError(f"`{key}` is not a list")
        return [Located(build(model, x), path) for x in items]

    try:
        return Project(programs=each("programs", ProgramSpec), maps=each("maps", MapSpec),
                       policies=[Located(build(PolicySpec, spec["policy"]), path)],
                       tests=each("tests", TestSpec), globals=each("globals", GlobalSpec),
                       structs=each("structs", StructSpec), files=[path])
    except (DataError, KeyError, TypeError) as exc:
        raise SpecError(f"{path}: the carried spec is malformed: {exc}") from None
