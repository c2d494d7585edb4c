"""What of a policy the kernel holds, found without trusting the journal.

`status` compares the kernel with the *current* spec and artifacts (a changed map
shape, a changed object hash, a lost attachment) and names each difference;
`lost_attachments` lets apply re-attach what someone removed; `observed_records`
lets detach find our attachments on the spec's hooks by kernel name and tc pref
when the journal is gone; `trusted` checks a journal record against the spec and
the pin folder before anything acts on it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tatara_build.lower.naming import kernel_name
from tatara_build.model.ir import ProgramSpec
from tatara_build.model.kinds import PROGRAM_KINDS
from tatara_build.runtime import links, records
from tatara_build.runtime.attach import qdisc_mark
from tatara_build.runtime.base import RuntimeError_
from tatara_build.runtime.kernel import Kernel, tc_pref
from tatara_build.runtime.records import (
    CgroupDetach,
    CgroupRestore,
    Record,
    RmdirEmpty,
    TcFilterDel,
    TcQdiscDel,
    TcRestore,
    Unpin,
    XdpDetach,
    XdpRestore,
)
from tatara_build.runtime.safety import Owner
from tatara_build.runtime.state import Journal
from tatara_build.runtime.target import Target

_NETNS = records.NETNS


def _how(p: ProgramSpec) -> str:
    return PROGRAM_KINDS[p.kind].attach


def netns_mark(marks: Path, netns: str) -> Path:
    return marks / ("n" + netns.encode().hex())


def marked_netns(marks: Path) -> set[str]:
    """Network namespaces an apply of this policy used (from the pin folder's marks)."""
    out: set[str] = set()
    if not marks.is_dir():
        return out
    for f in marks.iterdir():
        try:
            name = bytes.fromhex(f.name[1:]).decode() if f.name.startswith("n") else ""
        except ValueError:
            continue
        if _NETNS.match(name):
            out.add(name)
    return out


def trusted(rec: Record, t: Target, owner: Owner) -> bool:
    """A journal record names only this policy's pins and the spec's own hooks."""
    devs = {p.attach.target for p in t.programs if _how(p) in ("netlink-xdp", "tc")}
    cgroups = {p.attach.target for p in t.programs if _how(p) == "cgroup"}
    prefs = {tc_pref(p.name) for p in t.programs if _how(p) == "tc"}
    if isinstance(rec, Unpin):
        return owner.owns(rec.path)
    if isinstance(rec, RmdirEmpty):
        return all(owner.owns(d) for d in rec.paths)
    if isinstance(rec, (XdpRestore, TcRestore, CgroupRestore)) and not owner.owns(rec.pin):
        return False
    if isinstance(rec, (XdpDetach, XdpRestore, TcQdiscDel)):
        return rec.dev in devs
    if isinstance(rec, (TcFilterDel, TcRestore)):
        return rec.dev in devs and rec.pref in prefs
    if isinstance(rec, (CgroupDetach, CgroupRestore)):
        return rec.cgroup in cgroups
    return False


def observed_records(t: Target, k: Kernel) -> list[Record]:
    """Detach records for what is ours on the spec's hooks in k.netns, found by kernel
    name (xdp, cgroup) and fixed pref (tc), plus the qdiscs marked as ours."""
    out: list[Record] = []
    shown = {d: _net(k, d) for d in {p.attach.target for p in t.programs
                                     if _how(p) in ("netlink-xdp", "tc")}}
    for p in t.programs:
        name, how = kernel_name(p.name), _how(p)
        if how == "netlink-xdp" and shown.get(p.attach.target):
            for x in shown[p.attach.target].get("xdp") or []:
                info = links.prog_info_id(x["id"])
                if info and info["name"] == name:
                    out.append(XdpDetach(p.attach.target, k.netns, name, info["tag"]))
        elif how == "tc" and shown.get(p.attach.target):
            direction = p.attach.direction or "ingress"
            for x in shown[p.attach.target].get("tc") or []:
                info = links.prog_info_id(x["id"])
                if x.get("kind") == f"clsact/{direction}" and info and info["name"] == name:
                    out.append(TcFilterDel(p.attach.target, direction, tc_pref(p.name), k.netns))
        elif how == "cgroup":
            for x in k.cgroup_progs(p.attach.target, p.attach.direction or "ingress"):
                if x["name"] == name:
                    out.append(CgroupDetach(p.attach.target, p.attach.direction or "ingress",
                                            name, x["tag"] or "0" * 16, x["id"]))
    for dev, net in shown.items():
        if net is not None and qdisc_mark(t.layout.marks, k.netns, dev).exists():
            out.append(TcQdiscDel(dev, k.netns))
    return out


def _net(k: Kernel, dev: str) -> dict | None:
    try:
        return k.net_show(dev)
    except RuntimeError_:
        return None


def lost_attachments(t: Target, k: Kernel, applied: dict) -> list[ProgramSpec]:
    """Programs whose pinned copy is not on its hook (someone detached it, the interface
    was recreated): one `bpftool net show` per interface, one `cgroup show` per cgroup."""
    nets: dict[str, dict | None] = {}
    groups: dict[tuple[str, str], set[int]] = {}
    lost = []
    for p in t.programs:
        info = k.prog_info(t.prog_pin(p))
        how, target = _how(p), p.attach.target
        if info is None:
            lost.append(p)
            continue
        if how in ("netlink-xdp", "tc"):
            if target not in nets:
                nets[target] = _net(k, target)
            ids = _hook_ids(nets[target], "xdp" if how == "netlink-xdp" else
                            f"clsact/{p.attach.direction or 'ingress'}")
            ok = info["id"] in ids or info["tag"] in {_tag(i) for i in ids}
        elif how == "cgroup":
            key = (target, p.attach.direction or "ingress")
            if key not in groups:
                groups[key] = {x["id"] for x in _cgroup(k, *key)}
            ok = info["id"] in groups[key]
        elif how == "socket":
            ok = True
        else:
            recs = applied.get("attach", {}).get(p.name, [])
            ok = bool(recs) and all(Path(r.path).exists() for r in recs if isinstance(r, Unpin))
        if not ok:
            lost.append(p)
    return lost


def _hook_ids(net: dict | None, kind: str) -> set[int]:
    if not net:
        return set()
    if kind == "xdp":
        return {x["id"] for x in net.get("xdp") or []}
    return {x["id"] for x in net.get("tc") or [] if x.get("kind") == kind}


def _tag(prog_id: int) -> str:
    info = links.prog_info_id(prog_id)
    return info["tag"] if info else ""


def _cgroup(k: Kernel, cg: str, direction: str) -> list[dict]:
    try:
        return k.cgroup_progs(cg, direction)
    except RuntimeError_:
        return []


def drift(t: Target, k: Kernel) -> dict:
    """The kernel against the current spec and artifacts; each difference named."""
    journal = Journal(t.policy)
    applied = journal.applied
    out: list[dict] = []
    if journal.corrupt:
        out.append({"what": "journal", "kind": "state", "name": t.policy,
                    "detail": f"unreadable ({journal.corrupt}); apply repairs, detach removes"})
    elif journal.interrupted:
        out.append({"what": "journal", "kind": "state", "name": t.policy,
                    "detail": "an apply was interrupted; the next apply converges"})
    out += _map_drift(t, k)
    want = {f: o["sha256"] for f, o in t.objects.items()}
    for f in sorted(want):
        if _sha256(t.object_path(f)) != want[f]:
            out.append({"what": "different", "kind": "object", "name": f,
                        "detail": f"{t.object_path(f)} does not match the manifest's sha256"})
    for f in sorted(set(want) | set(applied.get("objects", {}))):
        have = applied.get("objects", {}).get(f)
        if journal.status == "applied" and have != want.get(f):
            out.append({"what": "different", "kind": "object", "name": f,
                        "detail": f"sha256 applied {str(have)[:12]}, artifacts "
                                  f"{str(want.get(f))[:12]}: apply replaces it"})
    k.netns = k.netns or applied.get("netns")
    lost = {p.name for p in lost_attachments(t, k, applied)} if _anything(t) else set()
    for p in t.programs:
        if k.prog_info(t.prog_pin(p)) is None:
            out.append({"what": "missing", "kind": "program", "name": p.name})
        elif p.name in lost:
            out.append({"what": "missing", "kind": "attach", "name": p.name,
                        "detail": f"{p.kind} {p.attach.target}"})
    out += _extra(t)
    state = "absent" if journal.status == "absent" and not _anything(t) and not journal.corrupt \
        else ("in sync" if not out else "drift")
    return {"policy": t.policy, "state": state, "drift": out}


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _map_drift(t: Target, k: Kernel) -> list[dict]:
    out = []
    for m in t.maps:
        pin = t.map_pin(m)
        if not pin.exists():
            out.append({"what": "missing", "kind": "map", "name": m.name})
            continue
        try:
            diff = k.map_diff(m, pin)
        except RuntimeError_ as exc:
            diff = str(exc)
        if diff:
            out.append({"what": "different", "kind": "map", "name": m.name, "detail": diff})
    return out


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
