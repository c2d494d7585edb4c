"""Rules for carried C objects that only the object itself can answer (the build runs
them beside the manifest check, backends/manifest.py).

* Legacy section names (SEC("xdp_patch_ports")) and names the libbpf inside bpftool
  does not know (tcx/) are loaded with bpftool's `type <kind>`, which applies to
  every program of the object: the object's programs must then share one kind, and
  that kind must have a load type (model/kinds.py). The entry gets `load_type`,
  which runtime/objprep.py passes on.
* A map pinned by name (LIBBPF_PIN_BY_NAME) is shared state: it must be declared in
  the policy, so it is pinned under our pin root (libbpf would pin it at
  /sys/fs/bpf/<name>, which we never do).
"""

from __future__ import annotations

from tatara_build.diagnostics import Diagnostic, error
from tatara_build.lower.naming import snake
from tatara_build.model.ir import Project
from tatara_build.model.kinds import PROGRAM_KINDS, section_kind


def carried_load_rules(project: Project, policy: str, obj: dict,
                       spec_names: list[str]) -> list[Diagnostic]:
    """Diagnostics for `obj` (a manifest entry); sets obj["load_type"] when needed."""
    first = project.program(spec_names[0])
    span = first.span("source") if first else None
    name = obj.get("source") or obj["file"]
    out = _load_type(policy, obj, name, span)
    pol = project.policy(policy)
    declared = {snake(m) for m in (pol.spec.maps if pol else [])}
    for m in obj.get("maps", []):
        if m.get("pin_by_name") and m["name"] not in declared:
            out.append(error(
                f"policy `{policy}`: map `{m['name']}` in {name} is pinned by name "
                "(LIBBPF_PIN_BY_NAME), but the policy does not declare it", span,
                f"declare map `{m['name']}` ({m['type']}, key {m['key_size']}, value "
                f"{m['value_size']}, {m['max_entries']} entries) in the policy's maps: it is "
                "then pinned under the pin root; nothing is ever pinned outside it"))
    return out


def _load_type(policy: str, obj: dict, name: str, span) -> list[Diagnostic]:
    progs = obj.get("programs", [])
    guessed = [section_kind(p["section"]) for p in progs]
    if all(row is not None and row.bpftool_guesses for row in guessed):
        return []
    unknown = [p for p in progs if p["kind"] is None]
    if unknown:
        p = unknown[0]
        return [error(f"policy `{policy}`: program `{p['name']}` in {name} has section "
                      f"`{p['section']}`, which is not a libbpf SEC() name, and no program of "
                      "the spec names it to say its kind", span,
                      f"declare a program `{p['name']}` with its kind (e.g. :xdp)")]
    kinds = sorted({p["kind"] for p in progs})
    if len(kinds) > 1:
        return [error(f"policy `{policy}`: {name} mixes program kinds ({', '.join(kinds)}) with "
                      "section names bpftool cannot guess; it loads such an object with one "
                      "`type` for every program", span,
                      "give each program a libbpf SEC() name (e.g. SEC(\"xdp\")), or split the object")]
    load_type = PROGRAM_KINDS[kinds[0]].load_type
    if not load_type:
        return [error(f"policy `{policy}`: `{kinds[0]}` programs in {name} need a libbpf SEC() "
                      "name that carries their hook (bpftool cannot load them by type)", span)]
    obj["load_type"] = load_type
    return []
