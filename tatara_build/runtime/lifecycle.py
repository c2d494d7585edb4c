"""plan / apply / status / detach for one policy, over a Kernel (bpftool) runtime.

fetch (journal + what is pinned) -> compute (actions as data) -> execute (one
executor, an undo record per change, all undone in reverse on any failure). A
journal written after each change lets the next apply repair a killed one.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from tatara_build.lower.naming import snake
from tatara_build.model.globals import to_write
from tatara_build.runtime.kernel import Kernel
from tatara_build.runtime.state import Journal, policy_lock
from tatara_build.runtime.target import Target


@dataclass(frozen=True)
class Action:
    kind: str  # create-map | reuse-map | load | attach | replace | nothing | repair
    target: str
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def desired(t: Target) -> dict[str, str]:
    return {f: o["sha256"] for f, o in sorted(t.objects.items())}


def is_current(t: Target, journal: Journal) -> bool:
    """Applied with these very objects, and every pin still there (no bpftool call)."""
    applied = journal.data.get("applied", {})
    if journal.status != "applied" or applied.get("objects") != desired(t):
        return False
    if applied.get("globals", {}) != _config(t):  # loaded with other --set values
        return False
    pins = [t.map_pin(m) for m in t.maps] + [t.prog_pin(p) for p in t.programs]
    pins += [Path(r["path"]) for recs in applied.get("attach", {}).values() for r in recs
             if r["op"] == "unpin"]
    return all(p.exists() for p in pins)


def plan(t: Target, journal: Journal) -> list[Action]:
    if journal.interrupted:
        return [Action("repair", t.policy, f"undo {len(journal.data['steps'])} steps of an "
                                           "interrupted apply"), *_fresh(t)]
    if is_current(t, journal):
        return [Action("nothing", t.policy, "applied and unchanged")]
    if journal.status == "applied":
        return [Action("replace", p.name, f"new object for {p.kind} program") for p in t.programs]
    return _fresh(t)


def _fresh(t: Target) -> list[Action]:
    out = [Action("reuse-map" if t.map_pin(m).exists() else "create-map", m.name,
                  str(t.map_pin(m))) for m in t.maps]
    out += [Action("load", f, f"{len(o['programs'])} programs") for f, o in sorted(t.objects.items())]
    out += [Action("attach", p.name, f"{p.kind} {p.attach.target}".strip()) for p in t.programs]
    return out


class Fault(Exception):
    """Raised by fault injection (tests) at a chosen step."""


def apply(t: Target, k: Kernel, fault_at: int | None = None) -> list[Action]:
    """Make the kernel hold the policy; on any failure undo everything done here."""
    with policy_lock(t.policy):
        journal = Journal(t.policy)
        actions = plan(t, journal)
        if journal.interrupted:
            repair(journal, k)
        if is_current(t, journal):
            return [Action("nothing", t.policy, "applied and unchanged")]
        old = journal.data.get("applied", {}) if journal.status == "applied" else {}
        journal.begin()
        counter = _Steps(fault_at)
        try:
            applied = _replace(t, k, journal, counter, old) if old else _install(t, k, journal,
                                                                                  counter)
        except BaseException:
            repair(journal, k)
            if old:
                journal.finish(old)
            raise
        journal.finish(applied)
        return actions


class _Steps:
    def __init__(self, fault_at: int | None):
        self.n, self.fault_at = 0, fault_at
        env = os.environ.get("TATARA_PAUSE_AFTER_STEP")
        self.pause_after = int(env) if env else None

    def tick(self) -> None:
        """Before each kernel change: fault injection and the kill -9 test's pause."""
        if self.pause_after is not None and self.n == self.pause_after:
            import time
            print(f"paused after {self.n} steps", flush=True)
            time.sleep(3600)
        if self.fault_at is not None and self.n == self.fault_at:
            raise Fault(f"injected fault before step {self.n}")
        self.n += 1


def _own_dirs(t: Target, journal: Journal) -> None:
    """Record the pin folders this apply creates, so an undo removes them too."""
    dirs = [d for d in (t.layout.base, t.layout.maps, t.layout.progs, t.layout.links,
                        t.layout.staging) if not d.exists()]
    if dirs:
        journal.record({"op": "rmdir-empty", "paths": [str(d) for d in dirs]})


def _maps(t: Target, k: Kernel, journal: Journal, steps: _Steps) -> None:
    steps.tick()
    for undo in k.ensure_maps([(m, t.map_pin(m)) for m in t.maps]):
        journal.record(undo)


def _install(t: Target, k: Kernel, journal: Journal, steps: _Steps) -> dict:
    _own_dirs(t, journal)
    _maps(t, k, journal, steps)
    pins = _load_all(t, k, journal, steps)
    attach: dict[str, list[dict]] = {}
    for p in t.programs:
        steps.tick()
        recs = k.attach(p, pins[p.name], t.layout.links)
        for r in recs:
            journal.record(r)
        attach[p.name] = recs
    return _applied(t, k, attach)


def _load_all(t: Target, k: Kernel, journal: Journal, steps: _Steps, staging: bool = False
              ) -> dict[str, Path]:
    """Load every object; program pins moved to progs/<name> (or left in staging)."""
    rebind = {snake(m.name): t.map_pin(m) for m in t.maps}
    pins: dict[str, Path] = {}
    for file, obj in sorted(t.objects.items()):
        steps.tick()
        where = t.layout.staging / file.removesuffix(".bpf.o")
        names = {p["name"] for p in obj["programs"]}
        loaded = k.load_object(t.object_path(file), where,
                               {n: pin for n, pin in rebind.items() if _in_object(obj, n)},
                               to_write(t.globals))
        journal.record({"op": "unpin", "path": str(where)})
        for spec in t.programs:
            name = snake(spec.name)
            if name not in names or name not in loaded:
                continue
            final = loaded[name] if staging else t.prog_pin(spec)
            if not staging:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.rename(loaded[name], final)
                journal.record({"op": "unpin", "path": str(final)})
            pins[spec.name] = final
    return pins


def _in_object(obj: dict, map_name: str) -> bool:
    return any(m["name"] == map_name for m in obj.get("maps", [])) or not obj.get("maps")


def _replace(t: Target, k: Kernel, journal: Journal, steps: _Steps, old: dict) -> dict:
    """Load the new objects beside the old, switch each hook atomically where it can,
    then move the new pins over the old ones."""
    _maps(t, k, journal, steps)
    staged = _load_all(t, k, journal, steps, staging=True)
    attach: dict[str, list[dict]] = {}
    for p in t.programs:
        steps.tick()
        prev = old.get("programs", {}).get(p.name, {})
        if p.kind in (":tracepoint", ":perf-event"):
            _drop_old(k, old, p.name, links_only=True)  # link pins share the new names
        recs = k.attach(p, staged[p.name], t.layout.links, replace_id=prev.get("id"))
        # a clsact qdisc this policy created earlier is still ours to remove on detach
        recs = [r for r in old.get("attach", {}).get(p.name, [])
                if r["op"] == "tc-qdisc-del" and r not in recs] + recs
        if p.kind == ":xdp":
            journal.record({"op": "xdp-restore", "dev": p.attach.target, "pin": str(t.prog_pin(p)),
                            "netns": k.netns})
        attach[p.name] = recs
    for p in t.programs:
        if p.kind == ":cgroup-skb":
            _drop_old(k, old, p.name, links_only=False)  # old pin still names the old program
        os.rename(staged[p.name], t.prog_pin(p))  # atomic on bpffs; the old program is released
    return _applied(t, k, {n: [_repin(r, t) for r in recs] for n, recs in attach.items()})


def _drop_old(k: Kernel, old: dict, name: str, links_only: bool) -> None:
    for r in old.get("attach", {}).get(name, []):
        if (r["op"] == "unpin" and "/links/" in r["path"]) or \
                (not links_only and r["op"] == "cgroup-detach"):
            k.undo(r)


def _repin(rec: dict, t: Target) -> dict:
    if rec["op"] == "cgroup-detach":
        name = Path(rec["pin"]).name
        return {**rec, "pin": str(t.layout.progs / name)}
    return rec


def _applied(t: Target, k: Kernel, attach: dict[str, list[dict]]) -> dict:
    shutil.rmtree(t.layout.staging, ignore_errors=True)
    progs = {}
    for p in t.programs:
        info = k.prog_info(t.prog_pin(p)) or {}
        progs[p.name] = {"pin": str(t.prog_pin(p)), "id": info.get("id"), "tag": info.get("tag")}
    return {"objects": desired(t), "programs": progs, "attach": attach,
            "maps": {m.name: str(t.map_pin(m)) for m in t.maps}, "netns": k.netns,
            "globals": _config(t)}


def _config(t: Target) -> dict[str, int]:
    """The load-time config applied (defbpf-global values), recorded for `status`."""
    return {name: c["value"] for name, c in t.globals.items()}


def repair(journal: Journal, k: Kernel) -> int:
    """Undo every recorded step in reverse; returns how many."""
    steps = journal.data.get("steps", [])
    for rec in reversed(steps):
        try:
            k.undo(rec)
        except Exception:  # keep undoing the rest; a gone object is fine
            pass
    n = len(steps)
    journal.data["steps"] = []
    journal.data["status"] = "absent"
    journal.save()
    return n


def detach(t: Target, k: Kernel) -> int:
    """Remove everything the policy owns (attachments, links, programs, maps) and nothing else."""
    with policy_lock(t.policy):
        journal = Journal(t.policy)
        n = repair(journal, k) if journal.interrupted else 0
        applied = journal.data.get("applied", {})
        k.netns = applied.get("netns", k.netns)
        for recs in applied.get("attach", {}).values():
            for r in reversed(recs):
                k.undo(r)
                n += 1
        for p in t.programs:
            t.prog_pin(p).unlink(missing_ok=True)
        for m in t.maps:
            t.map_pin(m).unlink(missing_ok=True)
        for d in (t.layout.links, t.layout.progs, t.layout.maps, t.layout.staging, t.layout.base):
            if d.exists():
                shutil.rmtree(d, ignore_errors=True)
        journal.clear()
        return n
