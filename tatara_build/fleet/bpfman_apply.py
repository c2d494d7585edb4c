"""plan / apply / status / detach of a policy through bpfman (runtime/bpfman_runtime.py).

Same shape as the bpftool lifecycle (runtime/lifecycle.py): actions as data, a journal
with one undo record per change (its own file, `<state>/<policy>.bpfman.json`, beside the
bpftool runtime's; the lock in runtime/state.py is shared), everything undone in reverse
on any failure. Per object: one `bpfman load` of all its programs (maps shared within the object;
a later object whose maps overlap is loaded with `--map-owner-id`), then one attach per
program; each map is pinned again under the policy's pin root so `map` and `status` read
it where the bpftool runtime puts it. A changed policy, or one applied again with another
`--netns`, is detached (from the journal's undo records), then applied again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tatara_build.errors import SpecError
from tatara_build.lower.naming import snake
from tatara_build.model.kinds import BPFMAN_PROGRAMS
from tatara_build.runtime import kbtf, links
from tatara_build.runtime.base import Io
from tatara_build.runtime.bpfman_runtime import Bpfman, application, refuse_unsupported
from tatara_build.runtime.lifecycle import Action, desired
from tatara_build.runtime.safety import check_objects
from tatara_build.runtime.state import Journal, policy_lock, state_dir
from tatara_build.runtime.target import Target

RUNTIME = "bpfman"


class BpfmanJournal:
    """`{"status": absent|applying|applied, "applied": {...}, "steps": [undo records]}`,
    rewritten atomically after each change (bpfman returns ids only once it is done)."""

    def __init__(self, policy: str):
        self.path = state_dir() / f"{policy}.bpfman.json"
        try:
            self.data = json.loads(self.path.read_text())
            assert isinstance(self.data, dict) and isinstance(self.data.get("steps"), list)
        except (OSError, ValueError, AssertionError):
            self.data = {"status": "absent", "applied": {}, "steps": []}

    @property
    def status(self) -> str:
        return self.data.get("status", "absent")

    @property
    def interrupted(self) -> bool:
        return self.status == "applying"

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True))
        os.replace(tmp, self.path)

    def begin(self) -> None:
        self.data.update(status="applying", steps=[])
        self.save()

    def record(self, undo: dict) -> None:
        self.data["steps"].append(undo)
        self.save()

    def finish(self, applied: dict) -> None:
        self.data.update(status="applied", applied=applied, steps=[])
        self.save()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
        self.data = {"status": "absent", "applied": {}, "steps": []}


def plan(t: Target, journal: BpfmanJournal) -> list[Action]:
    refuse_unsupported(t.programs)
    applied = journal.data.get("applied", {})
    if journal.status == "applied" and applied.get("objects") == desired(t):
        return [Action("nothing", t.policy, "applied and unchanged")]
    out = [Action("detach", t.policy, "the policy applied before")] if journal.status == "applied" \
        else []
    return out + _fresh(t)


def _fresh(t: Target) -> list[Action]:
    out = [Action("load", f, f"bpfman load file ({len(o['programs'])} programs)")
           for f, o in sorted(t.objects.items())]
    out += [Action("attach", p.name, f"{BPFMAN_PROGRAMS[p.kind].load_type} {p.attach.target}")
            for p in t.programs]
    return out + [Action("pin-map", m.name, str(t.map_pin(m))) for m in t.maps]


def apply(t: Target, b: Bpfman, netns: str | None = None) -> list[Action]:
    refuse_unsupported(t.programs)
    check_objects(t.folder, t.objects)
    with policy_lock(t.policy):
        if Journal(t.policy).status != "absent":
            raise SpecError(f"policy `{t.policy}` is applied through bpftool: detach it first")
        journal = BpfmanJournal(t.policy)
        if journal.interrupted:
            _undo(journal.data.get("steps", []), b)
        actions = plan(t, journal)
        moved = journal.data.get("applied", {}).get("netns") != netns
        if actions[0].kind == "nothing" and not moved and _live(t, b, journal.data["applied"]):
            return actions
        if moved and journal.status == "applied":  # another --netns: detach there, apply here
            was = journal.data["applied"].get("netns") or "(host)"
            actions = [Action("detach", t.policy, f"applied in netns {was}"), *_fresh(t)]
        if journal.status == "applied":
            _undo(journal.data["applied"].get("undo", []), b)
            journal.clear()
        journal.begin()
        try:
            applied = _install(t, b, journal, netns)
        except BaseException:
            _undo(journal.data.get("steps", []), b)
            journal.clear()
            raise
        journal.finish(applied)
        return actions


def _install(t: Target, b: Bpfman, journal: BpfmanJournal, netns: str | None) -> dict:
    app = application(t.policy)
    ids: dict[str, int] = {}
    map_home: dict[str, int] = {}  # map name -> program id whose pin folder holds it
    for file, obj in sorted(t.objects.items()):
        fns = [snake(p.name) for p in t.programs if t.owner.get(snake(p.name)) == file]
        if not fns:
            continue
        names = {m["name"] for m in obj.get("maps", [])}
        owner = next((map_home[n] for n in sorted(names) if n in map_home), None)
        kinds = {snake(p.name): BPFMAN_PROGRAMS[p.kind].load_type for p in t.programs}
        got = b.load(str(t.object_path(file).resolve()), [(kinds[f] or "", f) for f in fns], app,
                     owner, _task_offsets(t.object_path(file)))
        for pid in got.values():
            journal.record({"op": "bpfman-unload", "id": pid})
        if len(got) != len(fns):
            raise Io(f"bpfman loaded {file} but lists only {sorted(got)} of {fns}")
        ids.update(got)
        first = got[fns[0]]
        for n in names:
            map_home.setdefault(n, owner or first)
    link_ids = {}
    for p in t.programs:
        link = b.attach(ids[snake(p.name)], p, netns)
        journal.record({"op": "bpfman-detach", "link": link})
        link_ids[p.name] = link
    _pin_maps(t, b, journal, map_home)
    return {"runtime": RUNTIME, "objects": desired(t), "netns": netns,
            "programs": {p.name: {"id": ids[snake(p.name)], "link": link_ids[p.name]}
                         for p in t.programs},
            "maps": {m.name: str(t.map_pin(m)) for m in t.maps},
            "undo": list(journal.data["steps"])}


def _task_offsets(obj: Path) -> dict[str, bytes]:
    """The task-field offsets the object asks for (runtime/kbtf.py), as bpfman globals."""
    return kbtf.offsets_encoded(obj.read_bytes())


def _pin_maps(t: Target, b: Bpfman, journal: BpfmanJournal, map_home: dict[str, int]) -> None:
    """Pin each policy map again at the policy's own pin path (one more reference)."""
    folders: dict[int, Path | None] = {}
    for m in t.maps:
        home = map_home.get(snake(m.name))
        if home is None:
            continue
        if home not in folders:
            folders[home] = b.map_pin_path(home)
        src = folders[home]
        if src is None or not (src / snake(m.name)).exists():
            continue
        dest = t.map_pin(m)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd = links.obj_get(src / snake(m.name))
        try:
            links.obj_pin(fd, dest)
        finally:
            os.close(fd)
        journal.record({"op": "unpin", "path": str(dest)})


def _undo(steps: list[dict], b: Bpfman) -> int:
    for rec in reversed(steps):
        try:
            if rec["op"] == "bpfman-detach":
                b.detach(rec["link"])
            elif rec["op"] == "bpfman-unload":
                b.unload(rec["id"])
            elif rec["op"] == "unpin":
                Path(rec["path"]).unlink(missing_ok=True)
        except Exception:  # keep undoing; a link or program already gone is fine
            pass
    return len(steps)


def _live(t: Target, b: Bpfman, applied: dict) -> bool:
    return not drift_items(t, b, applied)


def drift_items(t: Target, b: Bpfman, applied: dict) -> list[dict]:
    app = application(t.policy)
    progs = {int(r["Program ID"]) for r in b.programs(app) if r.get("Program ID", "").isdigit()}
    lnks = {int(r["Link ID"]) for r in b.links(app) if r.get("Link ID", "").isdigit()}
    out = []
    for p in t.programs:
        rec = applied.get("programs", {}).get(p.name, {})
        if rec.get("id") not in progs:
            out.append({"what": "missing", "kind": "program", "name": p.name})
        elif rec.get("link") not in lnks:
            out.append({"what": "missing", "kind": "attach", "name": p.name,
                        "detail": f"{p.kind} {p.attach.target}"})
    out += [{"what": "missing", "kind": "map", "name": m.name} for m in t.maps
            if not t.map_pin(m).exists()]
    return out


def status(t: Target, b: Bpfman) -> dict:
    journal = BpfmanJournal(t.policy)
    if journal.status != "applied":
        return {"policy": t.policy, "state": "absent", "drift": [], "runtime": RUNTIME}
    items = drift_items(t, b, journal.data["applied"])
    if journal.data["applied"].get("objects") != desired(t):
        items.append({"what": "different", "kind": "object", "name": t.policy,
                      "detail": "applied from other objects"})
    return {"policy": t.policy, "state": "in sync" if not items else "drift", "drift": items,
            "runtime": RUNTIME}


def detach(t: Target, b: Bpfman) -> int:
    with policy_lock(t.policy):
        journal = BpfmanJournal(t.policy)
        steps = journal.data.get("steps", []) if journal.interrupted else []
        n = _undo(steps + journal.data.get("applied", {}).get("undo", []), b)
        for d in (t.layout.maps, t.layout.base):
            try:
                d.rmdir()
            except OSError:
                pass
        journal.clear()
        return n


def applied_by_bpfman(policy: str) -> bool:
    return BpfmanJournal(policy).status != "absent"
