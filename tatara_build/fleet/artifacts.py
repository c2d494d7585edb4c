"""Artifacts that stand alone: the spec a policy was built from, read back from its
`tatara.manifest.json` (backends/manifest.py writes it under `spec`), so `plan`, `apply`,
`status`, `detach` and `map` need no spec sources on the host that applies.

Trust: the carried closure (policy, programs, maps) must hash to the manifest's
`spec_hash`, and every object must match its recorded sha256 before anything loads.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from tatara_build.backends.manifest import MANIFEST, SPEC_KEY
from tatara_build.errors import SpecError
from tatara_build.model.ir import Located, MapSpec, PolicySpec, ProgramSpec, Project, attest_value
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
    """The policy's Project rebuilt from the manifest's wire-form spec (no sources)."""
    data = read_manifest(folder)
    path = str(folder / MANIFEST)
    spec = data.get(SPEC_KEY)
    if not isinstance(spec, dict):
        raise SpecError(f"{path} carries no spec (built by an older tatara-build): pass the spec "
                        "files, or rebuild")
    closure = {k: spec.get(k) for k in ("policy", "programs", "maps")}
    if data.get("spec_hash") and attest_value(closure) != data["spec_hash"]:
        raise SpecError(f"{path}: the carried spec does not match the manifest's spec_hash "
                        "(edited after the build?): rebuild")
    try:
        project = Project(
            programs=[Located(ProgramSpec.model_validate(p), path) for p in spec["programs"]],
            maps=[Located(MapSpec.model_validate(m), path) for m in spec["maps"]],
            policies=[Located(PolicySpec.model_validate(spec["policy"]), path)],
            tests=[Located(TestSpec.model_validate(t), path) for t in spec.get("tests") or []],
            files=[path])
    except (ValidationError, KeyError, TypeError) as exc:
        raise SpecError(f"{path}: the carried spec is malformed: {exc}") from None
    return project
