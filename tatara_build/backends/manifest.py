"""Artifacts of one policy: objects, `.b3` files and `tatara.manifest.json`.

The manifest is read back from the objects themselves (inspect.py) and checked
against the spec: a program or map the spec declares but the object lacks, or a
map whose type or sizes differ, fails the build at the spec's location.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import blake3

from tatara_build import __version__
from tatara_build.backends.carried import carried_load_rules
from tatara_build.backends.inspect import object_info
from tatara_build.diagnostics import Diagnostic, error
from tatara_build.lower.naming import snake
from tatara_build.model.construct import dump
from tatara_build.model.ir import Project
from tatara_build.model.kinds import MAP_KINDS, kernel_shape

MANIFEST = "tatara.manifest.json"
SCHEMA = "tatara.manifest/1"


def digests(path: Path) -> dict:
    data = path.read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "blake3": blake3.blake3(data).hexdigest(),
            "size": len(data)}


def write_b3(path: Path) -> None:
    """`<obj>.b3` as b3sum prints it (upstream's Nix convention)."""
    h = blake3.blake3(path.read_bytes()).hexdigest()
    path.with_name(path.name[: -len(".bpf.o")] + ".b3").write_text(f"{h}  {path.name}\n")


def object_entry(path: Path, origin: str, source: str = "") -> dict:
    """`source`: the user's file a carried object was copied from (named in messages)."""
    info = object_info(path)
    return {"file": path.name, "origin": origin, **digests(path), "programs": info["programs"],
            "maps": info["maps"], "license": info["license"], "btf_error": info["btf_error"],
            **({"source": source} if source else {})}


def shown(obj: dict) -> str:
    """How messages name an object: the user's file for carried ones."""
    return obj.get("source") or obj["file"]


def check_against_spec(project: Project, policy: str, objects: list[dict],
                       expected: dict[str, list[str]]) -> list[Diagnostic]:
    """`expected`: object file -> spec program names it must contain."""
    diags: list[Diagnostic] = []
    pol = project.policy(policy)
    assert pol is not None
    for obj in objects:
        found = {p["name"]: p for p in obj["programs"]}
        maps_in = {m["name"]: m for m in obj["maps"]}
        for prog_name in expected.get(obj["file"], []):
            loc = project.program(prog_name)
            assert loc is not None
            got = found.get(snake(prog_name))
            if got is None:
                diags.append(error(f"policy `{policy}`: object {shown(obj)} has no program "
                                   f"`{snake(prog_name)}` (found: {', '.join(found) or 'none'})",
                                   loc.span("name")))
            elif got["kind"] is None:
                got["kind"], got["kind_from"] = loc.spec.kind, "spec"  # legacy SEC() name
            elif got["kind"] != loc.spec.kind:
                diags.append(error(f"policy `{policy}`: program `{prog_name}` is `{got['kind']}` in "
                                   f"{shown(obj)} (section `{got['section']}`) but the spec says "
                                   f"`{loc.spec.kind}`", loc.span("kind")))
            wanted = loc.spec.uses_maps if obj["origin"] == "carried" else pol.spec.maps
            diags += _check_maps(project, policy, obj, maps_in, wanted)
        if expected.get(obj["file"]):
            diags += carried_load_rules(project, policy, obj, expected[obj["file"]])
    return _dedupe(diags)


def _check_maps(project: Project, policy: str, obj: dict, maps_in: dict,
                wanted: list[str]) -> list[Diagnostic]:
    out = []
    for name in wanted:
        loc = project.map(name)
        if loc is None:
            continue
        m = loc.spec
        got = maps_in.get(snake(name))
        if got is None:
            if obj["btf_error"] is None:
                out.append(error(f"policy `{policy}`: object {shown(obj)} defines no map "
                                 f"`{snake(name)}`", loc.span("name")))
            continue
        key, value, entries = kernel_shape(m.kind, m.key_size, m.value_size, m.max_entries)
        want = {"type": MAP_KINDS[m.kind].bpftool_type, "key_size": key, "value_size": value,
                "max_entries": entries}
        diff = [f"{k} {got[k]} (spec {v})" for k, v in want.items() if got.get(k) != v]
        if diff:
            out.append(error(f"policy `{policy}`: map `{name}` in {shown(obj)} disagrees with its "
                             "spec: " + ", ".join(diff), loc.span("kind")))
    return out


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen, out = set(), []
    for d in diags:
        if d.message not in seen:
            seen.add(d.message)
            out.append(d)
    return out


def write_manifest(dest: Path, policy: str, spec_hash: str, objects: list[dict],
                   toolchain: dict, spec: dict | None = None) -> Path:
    data = {"schema": SCHEMA, "generator": f"tatara-build {__version__}", "policy": policy,
            "spec_hash": spec_hash, "objects": objects, "toolchain": toolchain}
    if spec is not None:
        data[SPEC_KEY] = spec
    path = dest / MANIFEST
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


# --- the policy's wire-form spec, carried so a host without the sources can apply it -----
SPEC_KEY = "spec"


def policy_spec(project: Project, policy: str) -> dict:
    """The policy's closure (policy, programs, maps: exactly what `spec_hash` covers) plus
    the packet tests of its programs, in the wire form."""
    pol = project.policy(policy)
    assert pol is not None
    progs = set(pol.spec.programs)
    tests = [dump(t.spec, exclude_defaults=True)
             for t in sorted(project.tests, key=lambda x: x.spec.name) if t.spec.program in progs]
    return {**project.policy_closure(policy), "tests": tests}


def add_spec(path: Path, spec: dict, objects: list[dict] | None = None) -> None:
    """Add the spec to a manifest written elsewhere (the Nix route's `package` verb), and
    the objects' entries when they gained fields here (the crate's `line_table`)."""
    data = json.loads(path.read_text())
    data[SPEC_KEY] = spec
    if objects is not None:
        data["objects"] = objects
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
