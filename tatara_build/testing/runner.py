"""Running defbpf-tests in the kernel: for each test a fresh load of the program's object
into a scratch pin folder (so maps start empty), the maps written, the packet run with
BPF_PROG_TEST_RUN (`bpftool prog run`), verdict and maps checked, everything removed."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tatara_build.lower.naming import snake
from tatara_build.model import records
from tatara_build.model.ir import Project
from tatara_build.model.kinds import MAP_KINDS, PROGRAM_KINDS, action_value
from tatara_build.runtime import bpftool
from tatara_build.runtime.codec import encode
from tatara_build.runtime.probe import scratch_pins
from tatara_build.testing.packets import build as build_packet


@dataclass
class TestResult:
    name: str
    program: str
    passed: bool
    expected: str
    got: str
    problems: list[str] = field(default_factory=list)
    duration_ns: int = 0
    log: str = ""  # the verifier's log when the load failed


def expected_value(kind: str, expect: str | int) -> int:
    """The number a program of `kind` returns for the test's `expect` (action or number)."""
    v = action_value(PROGRAM_KINDS[kind], expect.removeprefix(":")) \
        if isinstance(expect, str) else expect
    return v & 0xFFFFFFFF


def _object_for(objects: dict[str, list[dict]], program: str) -> tuple[str, Path] | None:
    for policy, objs in objects.items():
        for o in objs:
            if any(p["name"] == snake(program) for p in o["programs"]):
                return policy, Path(o["path"])
    return None


def _value_sum(entry: dict) -> int:
    """A lookup's value; per-CPU maps are summed (a test run happens on one CPU)."""
    if "values" in entry:
        return sum(int.from_bytes(bytes(int(b, 16) for b in v["value"]), "little")
                   for v in entry["values"])
    return int.from_bytes(bytes(int(b, 16) for b in entry["value"]), "little")


def run_one(project: Project, test, obj: Path, scratch: Path) -> TestResult:
    s = test.spec
    want = expected_value(project.program(s.program).spec.kind, s.expect)
    label = s.expect if isinstance(s.expect, str) else str(s.expect)
    res = bpftool.loadall(obj, scratch / "progs", scratch / "maps")
    if not res.ok:
        err = bpftool.load_failure(res, obj)
        return TestResult(s.name, s.program, False, label, "load failed", [str(err)],
                          log=getattr(err, "log", ""))
    for e in s.maps_before:
        m = project.map(e.map).spec  # type: ignore[union-attr]
        bpftool.map_update(scratch / "maps" / snake(e.map), entry_bytes(project, m, "key", e.key),
                           entry_bytes(project, m, "value", e.value))
    with tempfile.NamedTemporaryFile(suffix=".pkt") as pkt:  # bpffs holds pins only
        pkt.write(build_packet(s.packet))
        pkt.flush()
        run = bpftool.call(["prog", "run", "pinned", str(scratch / "progs" / snake(s.program)),
                            "data_in", pkt.name])
    if not run.ok:
        return TestResult(s.name, s.program, False, label, "run failed", [bpftool.error_text(run)])
    out = json.loads(run.stdout)
    got, problems = int(out["retval"]) & 0xFFFFFFFF, []
    if got != want:
        problems.append(f"verdict {got}, expected {want} ({label})")
    for e in s.maps_after:
        problems += _check_map(project, scratch, e)
    return TestResult(s.name, s.program, not problems, label, str(got), problems,
                      int(out.get("duration", 0)))


def entry_bytes(project: Project, m, role: str, val) -> bytes:
    """A test's key or value: a record given by field (model/records.py), or a number/hex."""
    if isinstance(val, dict):
        return records.encode(project.struct(getattr(m, f"{role}_struct")).spec, val)
    return encode(str(val), getattr(m, f"{role}_size"), role)


def _check_record(project: Project, m, e, entry: dict | None) -> list[str]:
    """Compare the fields a test names; per-CPU numbers are summed over CPUs."""
    spec = project.struct(m.value_struct).spec
    raws = [bytes(int(b, 16) for b in v["value"]) for v in entry.get("values", [entry])] \
        if entry else [bytes(records.layout(spec).size)]
    got = [records.decode(spec, raw) for raw in raws]
    want = records.decode(spec, records.encode(spec, e.value))
    problems = []
    for name in e.value:
        vals = [g[name] for g in got]
        have = sum(vals) if all(isinstance(v, int) for v in vals) else vals[0]  # type: ignore[arg-type]
        if have != want[name]:
            problems.append(f"map {e.map}[{e.key}].{name} = {have}, expected {want[name]}")
    return problems


def _check_map(project: Project, scratch: Path, e) -> list[str]:
    m = project.map(e.map).spec  # type: ignore[union-attr]
    key = entry_bytes(project, m, "key", e.key)
    res = bpftool.call(["map", "lookup", "pinned", str(scratch / "maps" / snake(e.map)), "key",
                        *bpftool.hex_bytes(key)])
    if isinstance(e.value, dict):
        return _check_record(project, m, e, json.loads(res.stdout) if res.ok else None)
    want = int.from_bytes(encode(str(e.value), m.value_size, "value"), "little")
    if not res.ok:
        return [f"map {e.map}[{e.key}]: absent, expected {e.value}"] if want else []
    got = _value_sum(json.loads(res.stdout))
    per_cpu = " (summed over CPUs)" if MAP_KINDS[m.kind].per_cpu else ""
    return [] if got == want else [f"map {e.map}[{e.key}] = {got}{per_cpu}, expected {e.value}"]


def run_tests(project: Project, objects: dict[str, list[dict]], names: list[str] | None = None
              ) -> list[TestResult]:
    """`objects`: policy -> manifest objects (with a `path`)."""
    results = []
    for t in project.tests:
        if names and t.spec.name not in names:
            continue
        found = _object_for(objects, t.spec.program)
        if found is None:
            results.append(TestResult(t.spec.name, t.spec.program, False, str(t.spec.expect),
                                      "not built", ["the program's object was not built"]))
            continue
        with scratch_pins("tatara-test-") as scratch:
            results.append(run_one(project, t, found[1], scratch))
    return results
