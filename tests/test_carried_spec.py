"""The spec a manifest carries (backends/manifest.py `policy_spec`) read back on a host
without sources (fleet/artifacts.py): wire -> model -> hash must give the manifest's
`spec_hash` exactly, for every example and for generated specs with records, globals,
record-keyed maps and kebab-case names. No compiler needed: manifests are written from
the spec alone, as the build writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tatara_build.backends.manifest import MANIFEST, policy_spec, write_manifest
from tatara_build.cli.common import load_project
from tatara_build.fleet.artifacts import project_from_manifest
from tatara_build.model.globals import GLOBAL_TYPES, GlobalSpec
from tatara_build.model.ir import Located, MapSpec, PolicySpec, ProgramSpec, Project
from tatara_build.model.records import FieldSpec, StructSpec
from tests.conftest import EXAMPLES, run_cli

SPEC_FILES = sorted(p for p in EXAMPLES.rglob("*") if p.suffix in (".tlisp", ".toml"))


def _carry(project: Project, policy: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_manifest(folder, policy, project.policy_hash(policy), [], {},
                   policy_spec(project, policy))
    return folder


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_every_example_policy_round_trips_through_its_manifest(path, tmp_path):
    project = load_project([path]).project
    assert project.policies
    for pol in project.policies:
        name = pol.spec.name
        folder = _carry(project, name, tmp_path / name)
        carried = project_from_manifest(folder)  # raised "does not match" for exec-events
        assert carried.policy_hash(name) == project.policy_hash(name)
        assert carried.policy_closure(name) == project.policy_closure(name)


def test_exec_events_carries_its_event_record(tmp_path):
    project = load_project([EXAMPLES / "exec-events.tlisp"]).project
    carried = project_from_manifest(_carry(project, "exec_events", tmp_path))
    ring = carried.map("exec_ring")
    assert ring is not None and carried.struct(ring.spec.value_struct) is not None


KEBAB = """
(defbpf-struct :name "flow-key" :fields ((src :u32) (dport :u16) (pad :u16)))
(defbpf-global :name "max-rate" :type :u32 :default 7)
(defbpf-map :name "flow-counts" :kind :hash :key-size 8 :value-size 8 :max-entries 64
  :key-struct "flow-key")
(defbpf-program :name "count-flows" :kind :xdp :attach (:target "lo")
  :source "k.tlisp:count-flows" :uses-maps ("flow-counts"))
(defbpf-policy :name "flow-policy" :description "d" :programs ("count-flows")
  :maps ("flow-counts"))
(bpf-fn count-flows (ctx) (return :xdp-pass))
"""


def test_kebab_record_keyed_map_and_global_plan_from_artifacts_alone(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "k.tlisp").write_text(KEBAB)
    project = load_project([src]).project  # refused `flow-key` as unknown before
    closure = project.policy_closure("flow-policy")
    assert [s["name"] for s in closure["structs"]] == ["flow-key"]
    assert [g["name"] for g in closure["globals"]] == ["max-rate"]
    arts = tmp_path / "arts"
    _carry(project, "flow-policy", arts / "flow_policy")
    r = run_cli("plan", "flow-policy", "--artifacts", str(arts), "--runtime", "simulated",
                "--set", "max-rate=9", cwd=tmp_path / "arts")
    assert r.returncode == 0, r.stderr
    assert "attach  count-flows  :xdp lo" in r.stdout


def test_a_carried_global_edited_after_the_build_is_refused(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "k.tlisp").write_text(KEBAB)
    folder = _carry(load_project([src]).project, "flow-policy", tmp_path / "flow_policy")
    data = json.loads((folder / MANIFEST).read_text())
    data["spec"]["globals"][0]["default"] = 8
    (folder / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(Exception, match="does not match the manifest's spec_hash"):
        project_from_manifest(folder)


# --- generated specs -------------------------------------------------------------------
_word = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
_name = st.lists(_word, min_size=1, max_size=3).map("-".join)  # kebab or plain
_ftype = st.sampled_from(["u8", "u16", "u32", "u64", "ipv4", "ipv6", "mac"]) | st.integers(
    1, 64).map(lambda n: f"bytes:{n}")


@st.composite
def _struct(draw, name: str) -> StructSpec:
    names = draw(st.lists(_word, min_size=1, max_size=4, unique=True))
    return StructSpec(name=name, description=draw(st.text(max_size=8)),
                      fields=[FieldSpec(name=n, type=draw(_ftype)) for n in names])


@st.composite
def _global(draw, name: str) -> GlobalSpec:
    ty = draw(st.sampled_from(sorted(GLOBAL_TYPES)))
    bits = GLOBAL_TYPES[ty][0] * 8
    return GlobalSpec(name=name, type=ty, default=draw(st.integers(0, 2**bits - 1)),
                      description=draw(st.text(max_size=8)))


@st.composite
def projects(draw) -> tuple[Project, str]:
    names = draw(st.lists(_name, min_size=6, max_size=12, unique_by=lambda n: n.replace("-", "_")))
    sname, gname, pol_name, *rest = names
    structs = [draw(_struct(sname))]
    glbs = [draw(_global(gname))] if draw(st.booleans()) else []
    maps, progs = [], []
    for i, n in enumerate(rest[: len(rest) // 2]):
        kind = draw(st.sampled_from([":hash", ":array", ":lru-hash", ":per-cpu-array"]))
        keyed = kind.endswith("hash") and draw(st.booleans())
        maps.append(MapSpec(name=n, kind=kind, key_size=4, value_size=8,
                            max_entries=draw(st.integers(1, 2**32 - 1)),
                            key_struct=sname if keyed else None,
                            value_struct=sname if i == 0 and draw(st.booleans()) else None,
                            pin_path=draw(st.none() | st.just(f"/sys/fs/bpf/x/{n}"))))
    for n in rest[len(rest) // 2:]:
        kind = draw(st.sampled_from([":xdp", ":tc", ":tracepoint", ":cgroup-skb"]))
        progs.append(ProgramSpec(
            name=n, kind=kind, source=f"p.tlisp:{n}",
            attach={"target": draw(_word), "direction": draw(st.none() | st.just("egress"))},
            uses_maps=draw(st.lists(st.sampled_from([m.name for m in maps]), max_size=2))))
    pol = PolicySpec(name=pol_name, description=draw(st.text(max_size=12)),
                     programs=[p.name.replace("-", "_") if draw(st.booleans()) else p.name
                               for p in progs],
                     maps=[m.name for m in maps])
    loc = lambda xs: [Located(x, "gen.tlisp") for x in xs]  # noqa: E731
    return Project(programs=loc(progs), maps=loc(maps), policies=loc([pol]),
                   structs=loc(structs), globals=loc(glbs), files=["gen.tlisp"]), pol_name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(projects())
def test_generated_specs_rehash_to_the_manifests_hash(tmp_path, gen):
    project, policy = gen
    folder = tmp_path / "m"
    folder.mkdir(exist_ok=True)
    _carry(project, policy, folder)
    want = json.loads((folder / MANIFEST).read_text())["spec_hash"]
    carried = project_from_manifest(folder)
    assert carried.policy_hash(policy) == want
    assert carried.policy_closure(policy) == project.policy_closure(policy)
