"""plan / apply / detach for one policy, over a Kernel (bpftool) runtime.

apply converges: whatever the kernel holds (a clean install, a killed apply, a killed
replace, an attachment someone removed), it loads the objects into a staging folder
named per attempt, attaches each program (taking over hooks that hold a program of
ours, runtime/attach.py), then moves the new pins in place. Every kernel change is
journaled before it is made (runtime/state.py); an exception rolls this attempt back
from those records, and a kill -9 leaves a journal marked `applying` that the next
apply converges forward from (maps and their contents are reused, never recreated).
What the previous apply attached that this one does not (another netns, a renamed
program) is retired before the journal says `applied` (runtime/retire.py).
detach removes what the journal, the pin folder and the kernel show to be ours.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tatara_build.errors import EnvironmentProblem, RuntimeFailure
from tatara_build.lower.naming import snake
from tatara_build.model.globals import to_write
from tatara_build.runtime import attach as hooks
from tatara_build.runtime.kernel import Kernel
from tatara_build.runtime.observe import lost_attachments, marked_netns, netns_mark, observed_records, trusted
from tatara_build.runtime.records import Record, RmdirEmpty, TcQdiscDel, Unpin
from tatara_build.runtime.retire import retire
from tatara_build.runtime.safety import Owner, check_objects
from tatara_build.runtime.state import Journal, policy_lock
from tatara_build.runtime.target import Target


@dataclass(frozen=True)
class Action:
    kind: str  # create-map | reuse-map | load | attach | replace | reattach | nothing | repair
    target: str
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def desired(t: Target) -> dict[str, str]:
    return {f: o["sha256"] for f, o in sorted(t.objects.items())}


def is_current(t: Target, journal: Journal) -> bool:
    """Applied with these very objects, and every pin still there (no bpftool call)."""
    applied = journal.applied
    if journal.status != "applied" or journal.corrupt or applied.get("objects") != desired(t):
        return False
    if applied.get("globals", {}) != _config(t):  # loaded with other --set values
        return False
    pins = [t.map_pin(m) for m in t.maps] + [t.prog_pin(p) for p in t.programs]
    pins += [Path(r.path) for recs in applied.get("attach", {}).values() for r in recs
             if isinstance(r, Unpin)]
    return all(p.exists() for p in pins)


def plan(t: Target, journal: Journal) -> list[Action]:
    if journal.corrupt:
        return [Action("repair", t.policy, f"unreadable journal ({journal.corrupt}): "
                                           "converge from what the kernel holds"), *_fresh(t)]
    if journal.interrupted:
        return [Action("repair", t.policy, "converge after an interrupted apply"), *_fresh(t)]
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


def owner_of(t: Target, journal: Journal) -> Owner:
    """The policy's pin folder, plus spec pin paths outside it the journal says we created."""
    spec_pins = {str(t.map_pin(m)) for m in t.maps} | {str(t.prog_pin(p)) for p in t.programs}
    claimed = set(journal.applied.get("created", [])) | {
        r.path for r in journal.data["steps"] if isinstance(r, Unpin)}
    return Owner(t.layout.base, claimed & spec_pins)


def apply(t: Target, k: Kernel, fault_at: int | None = None) -> list[Action]:
    """Make the kernel hold the policy; on any failure undo everything done here."""
    check_objects(t.folder, t.objects)
    with policy_lock(t.policy):
        journal = Journal(t.policy)
        owner = owner_of(t, journal)
        _foreign_pins(t, owner)
        owner.remove(t.layout.staging)  # a killed apply's staged pins: never in use
        actions = plan(t, journal)
        if actions[0].kind == "nothing":
            k.netns = k.netns or journal.applied.get("netns")
            lost = lost_attachments(t, k, journal.applied)
            if not lost:
                return actions
            actions = [Action("reattach", p.name, f"{p.kind} {p.attach.target}") for p in lost]
        broken = journal.interrupted or bool(journal.corrupt)
        old = journal.applied if journal.status == "applied" and not broken else {}
        carried = _carried(t, journal, owner)
        journal.begin()
        steps = _Steps(fault_at)
        try:
            applied = _converge(t, k, journal, steps, owner, carried)
            steps.tick()  # journal.applied still holds the previous apply's records
            retire(k, t, journal.applied, applied["attach"], owner)
        except BaseException:
            rollback(journal, k, owner, t)
            journal.data["status"] = "applying" if broken else ("applied" if old else "absent")
            try:
                journal.save()
            except EnvironmentProblem as exc:
                print(f"warning: {exc}", file=sys.stderr)
            raise
        journal.finish(applied)
        owner.remove(t.layout.staging)
        return actions


def _foreign_pins(t: Target, owner: Owner) -> None:
    """A spec `:pin-path` for a program that holds a pin we did not create: refused before
    anything changes (apply would otherwise replace someone else's program)."""
    for p in t.programs:
        pin = t.prog_pin(p)
        if pin.exists() and not owner.owns(pin):
            raise RuntimeFailure(f"program `{p.name}`: {pin} is pinned already and this policy "
                                 "did not create it; remove it or change :pin-path")


def _carried(t: Target, journal: Journal, owner: Owner) -> dict:
    """What earlier applies made that stays ours: pins created outside the pin folder."""
    return {"created": sorted(owner.created)}


class _Steps:
    def __init__(self, fault_at: int | None):
        self.n, self.fault_at = 0, fault_at
        env = os.environ.get("TATARA_PAUSE_AFTER_STEP")
        self.pause_after = int(env) if env else None

    def tick(self) -> None:
        """Before each kernel change: fault injection and the kill -9 test's pause."""
        if self.pause_after is not None and self.n == self.pause_after:
            print(f"paused after {self.n} steps", flush=True)
            time.sleep(3600)
        if self.fault_at is not None and self.n == self.fault_at:
            raise Fault(f"injected fault before step {self.n}")
        self.n += 1


def _own_dirs(t: Target, journal: Journal, netns: str | None) -> None:
    """Record the pin folders this apply creates, so an undo removes them too."""
    dirs = [t.layout.base, t.layout.maps, t.layout.progs, t.layout.links, t.layout.staging,
            t.layout.marks] + ([netns_mark(t.layout.marks, netns)] if netns else [])
    new = [d for d in dirs if not d.exists()]
    if new:
        journal.intend(RmdirEmpty(tuple(str(d) for d in new)))


def _converge(t: Target, k: Kernel, journal: Journal, steps: _Steps, owner: Owner,
              carried: dict) -> dict:
    _own_dirs(t, journal, k.netns)
    t.layout.marks.mkdir(parents=True, exist_ok=True)
    if k.netns:
        netns_mark(t.layout.marks, k.netns).mkdir(exist_ok=True)
    steps.tick()
    created = k.ensure_maps([(m, t.map_pin(m)) for m in t.maps], journal.intend)
    journal.confirm()
    owner.created |= {os.path.realpath(p) for p in created}
    attempt = t.layout.staging / f"a{os.getpid()}_{time.monotonic_ns()}"
    journal.intend(Unpin(str(attempt)))
    staged = _load_all(t, k, journal, steps, attempt)
    attach: dict[str, list[Record]] = {}
    for p in t.programs:
        steps.tick()
        prior = t.prog_pin(p) if t.prog_pin(p).exists() else None
        attach[p.name] = hooks.attach(k, p, staged[p.name], attempt / "links", journal.intend,
                                      prior, t.layout.marks)
        journal.confirm()
    fresh_outside = [Unpin(str(t.prog_pin(p))) for p in t.programs
                     if not t.prog_pin(p).exists() and not _inside(t.prog_pin(p), owner)]
    if fresh_outside:  # spec :pin-path programs: recorded as ours before they are pinned
        journal.intend(*fresh_outside)
    attach = _commit(t, staged, attempt, attach, owner)
    outside = {str(c) for c in owner.created if not _inside(Path(c), owner)}
    return _applied(t, k, attach, sorted(outside | set(carried["created"])))


def _inside(path: Path, owner: Owner) -> bool:
    return os.path.realpath(path).startswith(str(owner.base) + "/")


def _load_all(t: Target, k: Kernel, journal: Journal, steps: _Steps, attempt: Path
              ) -> dict[str, Path]:
    """Load every object into the attempt's staging folder; spec name -> staged pin."""
    rebind = {snake(m.name): t.map_pin(m) for m in t.maps}
    pins: dict[str, Path] = {}
    for i, (file, obj) in enumerate(sorted(t.objects.items())):
        steps.tick()
        names = {p["name"] for p in obj["programs"]}
        loaded = k.load_object(t.object_path(file), attempt / f"o{i}",
                               {n: pin for n, pin in rebind.items() if _in_object(obj, n)},
                               to_write(t.globals))
        journal.confirm()
        for spec in t.programs:
            if snake(spec.name) in names and snake(spec.name) in loaded:
                pins[spec.name] = loaded[snake(spec.name)]
    return pins


def _in_object(obj: dict, map_name: str) -> bool:
    return any(m["name"] == map_name for m in obj.get("maps", [])) or not obj.get("maps")


def _commit(t: Target, staged: dict[str, Path], attempt: Path,
            attach: dict[str, list[Record]], owner: Owner) -> dict[str, list[Record]]:
    """Move the new program and link pins over the old ones (atomic renames on bpffs:
    an old program or link is released as its pin is replaced); drop stale links."""
    out: dict[str, list[Record]] = {}
    for p in t.programs:
        t.prog_pin(p).parent.mkdir(parents=True, exist_ok=True)
        os.rename(staged[p.name], t.prog_pin(p))
        owner.created.add(os.path.realpath(t.prog_pin(p)))
        recs = []
        for r in attach[p.name]:
            if isinstance(r, Unpin) and Path(r.path).parent == attempt / "links":
                final = t.layout.links / Path(r.path).name
                final.parent.mkdir(parents=True, exist_ok=True)
                os.rename(r.path, final)
                r = Unpin(str(final))
            recs.append(r)
        out[p.name] = recs
    keep = {r.path for recs in out.values() for r in recs if isinstance(r, Unpin)}
    if t.layout.links.exists():
        for f in t.layout.links.iterdir():
            if str(f) not in keep:
                owner.remove(f)
    return out


def _applied(t: Target, k: Kernel, attach: dict[str, list[Record]], created: list[str]) -> dict:
    progs = {}
    for p in t.programs:
        info = k.prog_info(t.prog_pin(p)) or {}
        progs[p.name] = {"pin": str(t.prog_pin(p)), "id": info.get("id"), "tag": info.get("tag")}
    return {"objects": desired(t), "programs": progs, "attach": attach, "created": created,
            "maps": {m.name: str(t.map_pin(m)) for m in t.maps}, "netns": k.netns,
            "globals": _config(t)}


def _config(t: Target) -> dict[str, int]:
    """The load-time config applied (defbpf-global values), recorded for `status`."""
    return {name: c["value"] for name, c in t.globals.items()}


def rollback(journal: Journal, k: Kernel, owner: Owner, t: Target) -> int:
    """Undo this attempt's journaled steps in reverse; returns how many."""
    steps = journal.data.get("steps", [])
    for rec in reversed(steps):
        try:
            if trusted(rec, t, owner):
                hooks.undo(k, rec, owner, t.layout.marks)
        except Exception as exc:  # keep undoing the rest; a gone object is fine
            print(f"warning: undo {rec}: {exc}", file=sys.stderr)
    journal.data["steps"] = []
    return len(steps)


def detach(t: Target, k: Kernel) -> int:
    """Remove everything the policy owns (attachments, links, programs, maps, qdiscs it
    added) and nothing else: from the journal's records (each checked against the spec
    and the pin folder, or — for a program renamed since the apply — against the kernel,
    runtime/retire.py), then from what the kernel shows on the spec's hooks."""
    with policy_lock(t.policy):
        journal = Journal(t.policy)
        owner = owner_of(t, journal)
        n = 0
        spaces = {k.netns, journal.applied.get("netns")} | marked_netns(t.layout.marks)
        # first, records of programs the current spec no longer has (renamed since the
        # apply): their filters go before any qdisc they sit on is considered
        gone = {name: [r for r in rs if not trusted(r, t, owner)]
                for name, rs in journal.applied.get("attach", {}).items()}
        n += retire(k, t, {"attach": gone}, {}, owner)
        recs = list(reversed(journal.data["steps"]))
        recs += [r for rs in journal.applied.get("attach", {}).values() for r in reversed(rs)]
        for rec in recs:
            if trusted(rec, t, owner) and not isinstance(rec, (Unpin, RmdirEmpty)):
                hooks.undo(k, rec, owner, t.layout.marks)
                n += 1
        for ns in sorted(spaces, key=str):
            n += _sweep_hooks(t, k, ns, owner)
        for pin in sorted(owner.created):
            owner.remove(pin)
        owner.remove(t.layout.base)
        journal.clear()
        return n


def _sweep_hooks(t: Target, k: Kernel, netns: str | None, owner: Owner) -> int:
    """Detach, by kernel name and fixed tc pref, what is ours on the spec's hooks in
    `netns` (found without the journal), then the clsact qdiscs we marked as added."""
    n = 0
    k.netns = netns
    recs = observed_records(t, k)
    for rec in recs:
        hooks.undo(k, rec, owner, t.layout.marks)
        n += not isinstance(rec, TcQdiscDel)
    return n
