"""`status`: the policy compared with what is live — missing, extra, different tag."""

from __future__ import annotations

from pathlib import Path

from tatara_build.model.kinds import PROGRAM_KINDS
from tatara_build.runtime.kernel import Kernel, tc_pref
from tatara_build.runtime.state import Journal
from tatara_build.runtime.target import Target


def drift(t: Target, k: Kernel) -> dict:
    journal = Journal(t.policy)
    applied = journal.data.get("applied", {})
    out: list[dict] = []
    if journal.interrupted:
        out.append({"what": "journal", "kind": "state", "name": t.policy,
                    "detail": "an apply was interrupted; the next apply repairs it"})
    for m in t.maps:
        if not t.map_pin(m).exists():
            out.append({"what": "missing", "kind": "map", "name": m.name})
    for p in t.programs:
        pin = t.prog_pin(p)
        info = k.prog_info(pin) if pin.exists() else None
        if info is None:
            out.append({"what": "missing", "kind": "program", "name": p.name})
            continue
        want = applied.get("programs", {}).get(p.name, {}).get("tag")
        if want and info.get("tag") != want:
            out.append({"what": "different", "kind": "program", "name": p.name,
                        "detail": f"tag {info.get('tag')} (applied {want})"})
        if not _attached(t, k, p, info["id"], applied):
            out.append({"what": "missing", "kind": "attach", "name": p.name,
                        "detail": f"{p.kind} {p.attach.target}"})
    out += _extra(t)
    state = "absent" if journal.status == "absent" and not _anything(t) else \
        ("in sync" if not out else "drift")
    return {"policy": t.policy, "state": state, "drift": out}


def _attached(t: Target, k: Kernel, p, prog_id: int, applied: dict) -> bool:
    k.netns = applied.get("netns")
    how = PROGRAM_KINDS[p.kind].attach
    if how == "netlink-xdp":
        try:
            return k.xdp_attached(p.attach.target) == prog_id
        except Exception:
            return False
    if how == "tc":
        res = k.tc(["-j", "filter", "show", "dev", p.attach.target, p.attach.direction or "ingress"])
        return res.ok and f'"pref":{tc_pref(p.name)}' in res.stdout.replace(" ", "") \
            and f'"id":{prog_id}' in res.stdout.replace(" ", "")
    if how == "cgroup":
        res = k.bpftool(["cgroup", "show", p.attach.target])
        return res.ok and f'"id":{prog_id}' in res.stdout.replace(" ", "")
    recs = applied.get("attach", {}).get(p.name, [])
    return all(Path(r["path"]).exists() for r in recs if r["op"] == "unpin") and (
        bool(recs) or how == "socket")


def _extra(t: Target) -> list[dict]:
    known = {t.prog_pin(p) for p in t.programs} | {t.map_pin(m) for m in t.maps}
    out = []
    for d, kind in ((t.layout.progs, "program"), (t.layout.maps, "map")):
        if d.exists():
            out += [{"what": "extra", "kind": kind, "name": f.name, "detail": str(f)}
                    for f in sorted(d.iterdir()) if f not in known]
    return out


def _anything(t: Target) -> bool:
    return t.layout.base.exists()
