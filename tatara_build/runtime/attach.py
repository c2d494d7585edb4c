"""Attach a pinned program to its hook, and undo a journal record — both by identity.

A program of ours is recognised in the kernel by its kernel name (the spec name cut to
15 characters) and tag, so a hook that holds one of ours is taken over (xdp
`overwrite`, tc `filter replace` at the program's fixed pref, cgroup `multi` then the
older copies detached) and anything else is left alone. Each change is journaled
through `intend` before it is made; the returned records say how to detach it later.
Undo is tolerant: a record whose change never happened (or was already undone) does
nothing, and every path in a record is checked with `Owner` before it is touched.
"""

from __future__ import annotations

import json
from pathlib import Path

from tatara_build.lower.naming import kernel_name
from tatara_build.model.ir import ProgramSpec
from tatara_build.model.kinds import PROGRAM_KINDS
from tatara_build.runtime import bpftool, links
from tatara_build.runtime.base import AttachFailed, Io, Unsupported
from tatara_build.runtime.kernel import Intend, Kernel, tc_pref
from tatara_build.runtime.probe import program_types
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


def qdisc_mark(marks: Path, netns: str | None, dev: str) -> Path:
    """An empty folder in the policy's pin folder saying "we added clsact to dev": it
    survives a lost journal (bpffs names may not hold dots, hence hex)."""
    return marks / ("q" + f"{netns or ''}\0{dev}".encode().hex())


def attach(k: Kernel, spec: ProgramSpec, pin: Path, links_dir: Path, intend: Intend,
           prior: Path | None = None, marks: Path | None = None) -> list[Record]:
    """Attach the program pinned at `pin` (`prior`: the pin of the copy it replaces)."""
    ident = k.prog_info(pin)
    if ident is None:
        raise AttachFailed(f"`{spec.name}`: no program pinned at {pin}")
    how = PROGRAM_KINDS[spec.kind].attach
    if how == "netlink-xdp":
        return _xdp(k, spec, pin, ident, intend, prior)
    if how == "tc":
        return _tc(k, spec, pin, intend, prior, marks)
    if how == "cgroup":
        return _cgroup(k, spec, pin, ident, intend, prior)
    if how == "socket":
        return []  # loaded and pinned: a process attaches it (SO_ATTACH_BPF)
    _supported(spec)
    links_dir.mkdir(parents=True, exist_ok=True)
    rule = PROGRAM_KINDS[spec.kind].target_rule
    if rule == "tracepoint":
        pins = links.attach_tracepoint(pin, spec.attach.target, links_dir / spec.name)
    elif rule == "perf-event":
        pins = links.attach_perf_event(pin, spec.attach.target, links_dir, spec.name)
    else:
        raise Unsupported(f"attaching `{spec.kind}` programs is not implemented yet", spec.name)
    return [Unpin(str(p)) for p in pins]


def _supported(spec: ProgramSpec) -> None:
    kind = PROGRAM_KINDS[spec.kind]
    if program_types().get(kind.kernel_feature) is False:
        raise Unsupported(f"`{spec.kind}` programs: this kernel lacks them "
                          f"(bpftool feature probe: {kind.kernel_feature} is false)", spec.name)
    if kind.target_rule == "ksym" and not Path("/sys/bus/event_source/devices/kprobe").exists():
        raise Unsupported(f"`{spec.kind}` attach: the kernel has no kprobe PMU "
                          "(CONFIG_KPROBE_EVENTS off: /sys/bus/event_source/devices/kprobe is "
                          "missing)", spec.name)


def _xdp(k: Kernel, spec: ProgramSpec, pin: Path, ident: dict, intend: Intend,
         prior: Path | None) -> list[Record]:
    dev, name = spec.attach.target, kernel_name(spec.name)
    current = k.xdp_prog(dev)
    if current and current["name"] != name:
        raise AttachFailed(f"{dev} already has XDP program id {current['id']} "
                           f"(`{current['name']}`), which this policy does not own; detach it first")
    mine = XdpDetach(dev, k.netns, name, ident["tag"])
    held = k.prog_info(prior) if prior and prior.exists() else None
    back = XdpRestore(dev, k.netns, str(prior)) if current and held and \
        held["id"] == current["id"] else mine
    intend(back)
    args = ["-n", "net", "attach", "xdp", "pinned", str(pin), "dev", dev]
    res = k.bpftool(args + (["overwrite"] if current else []), in_netns=True)
    if not res.ok:
        raise AttachFailed(f"xdp on {dev}: {bpftool.error_text(res)}")
    return [mine]


def _tc(k: Kernel, spec: ProgramSpec, pin: Path, intend: Intend, prior: Path | None,
        marks: Path | None) -> list[Record]:
    dev, direction = spec.attach.target, spec.attach.direction or "ingress"
    out: list[Record] = []
    if (k.netns, dev) not in k.clsact and not k.has_clsact(dev):
        rec = TcQdiscDel(dev, k.netns)
        intend(rec)
        if marks is not None:
            marks.mkdir(parents=True, exist_ok=True)
            qdisc_mark(marks, k.netns, dev).mkdir(exist_ok=True)
        res = k.tc(["qdisc", "replace", "dev", dev, "clsact"])
        if not res.ok:
            raise AttachFailed(f"tc qdisc clsact on {dev}: {res.stderr.strip()}")
        out.append(rec)
    k.clsact.add((k.netns, dev))
    pref = tc_pref(spec.name)
    mine = TcFilterDel(dev, direction, pref, k.netns)
    held = k.prog_info(prior) if prior and prior.exists() else None
    running = tc_filter_prog(k, dev, direction, pref) if held else None
    # restore the prior copy only where it runs now (not after a --netns or dev change)
    intend(TcRestore(dev, direction, pref, k.netns, str(prior))
           if held and running and running["id"] == held["id"] else mine)
    res = k.tc(["filter", "replace", "dev", dev, direction, "pref", str(pref), "handle", "1",
                "bpf", "direct-action", "pinned", str(pin)])
    if not res.ok:
        raise AttachFailed(f"tc filter on {dev} {direction}: {res.stderr.strip()}")
    return [*out, mine]  # detach walks these in reverse: the filter, then the qdisc


def tc_filter_prog(k: Kernel, dev: str, direction: str, pref: int) -> dict | None:
    """{id, tag, name} of the program the filter at (dev, direction, pref) runs in
    k.netns, or None (no such filter, no such device)."""
    res = k.tc(["-j", "filter", "show", "dev", dev, direction, "pref", str(pref)])
    try:
        rows = json.loads(res.stdout) if res.ok and res.stdout.strip() else []
    except ValueError:
        return None
    for row in rows if isinstance(rows, list) else []:
        prog = (row.get("options") or {}).get("prog") if isinstance(row, dict) else None
        if isinstance(prog, dict) and isinstance(prog.get("id"), int):
            return links.prog_info_id(prog["id"])
    return None


def _cgroup(k: Kernel, spec: ProgramSpec, pin: Path, ident: dict, intend: Intend,
            prior: Path | None) -> list[Record]:
    """Attach the new copy (`multi`), then detach every other copy of this program."""
    cg, direction, name = spec.attach.target, spec.attach.direction or "ingress", \
        kernel_name(spec.name)
    mine = CgroupDetach(cg, direction, name, ident["tag"], ident["id"])
    ours = [p for p in k.cgroup_progs(cg, direction) if p["name"] == name]
    if not any(p["id"] == ident["id"] for p in ours):
        intend(mine)
        res = k.bpftool(["cgroup", "attach", cg, direction, "pinned", str(pin), "multi"])
        if not res.ok:
            raise AttachFailed(f"cgroup {cg} {direction}: {bpftool.error_text(res)}")
    held = k.prog_info(prior) if prior is not None and prior.exists() else None
    for old in ours:  # the copy it replaces, or one a killed apply left: ours
        if old["id"] == ident["id"]:
            continue
        if held and held["id"] == old["id"]:
            intend(CgroupRestore(cg, direction, str(prior)))
        k.bpftool(["cgroup", "detach", cg, direction, "id", str(old["id"])])
    return [mine]


def _other_filters(k: Kernel, dev: str) -> bool:
    """Filters of any kind (not only BPF) left on the clsact hooks of `dev`."""
    for direction in ("ingress", "egress"):
        res = k.tc(["-j", "filter", "show", "dev", dev, direction])
        if res.ok and res.stdout.strip() not in ("", "[]"):
            return True
    return False


# --- undo --------------------------------------------------------------------------------
def undo(k: Kernel, rec: Record, owner: Owner, marks: Path | None = None) -> None:
    """Reverse one recorded change; tolerant of it being gone already."""
    saved = k.netns
    k.netns = getattr(rec, "netns", k.netns)
    try:
        _undo(k, rec, owner, marks)
    except AttachFailed:
        pass  # the interface or cgroup is gone, and our attachment with it
    finally:
        k.netns = saved


def _undo(k: Kernel, rec: Record, owner: Owner, marks: Path | None) -> None:
    if isinstance(rec, Unpin):
        owner.remove(rec.path)
    elif isinstance(rec, RmdirEmpty):
        for d in sorted(rec.paths, key=len, reverse=True):
            owner.rmdir(d)
    elif isinstance(rec, XdpDetach):
        cur = k.xdp_prog(rec.dev)
        if cur and (cur["tag"] == rec.tag or cur["name"] == rec.name):
            k.bpftool(["net", "detach", "xdp", "dev", rec.dev], in_netns=True)
    elif isinstance(rec, XdpRestore):
        if owner.check(rec.pin).exists():
            k.bpftool(["-n", "net", "attach", "xdp", "pinned", rec.pin, "dev", rec.dev,
                       "overwrite"], in_netns=True)
    elif isinstance(rec, TcFilterDel):
        k.tc(["filter", "del", "dev", rec.dev, rec.dir, "pref", str(rec.pref), "handle", "1",
              "bpf"])
    elif isinstance(rec, TcRestore):
        if owner.check(rec.pin).exists():
            k.tc(["filter", "replace", "dev", rec.dev, rec.dir, "pref", str(rec.pref), "handle",
                  "1", "bpf", "direct-action", "pinned", rec.pin])
    elif isinstance(rec, TcQdiscDel):
        shown = k.net_show(rec.dev)
        busy = shown is not None and (bool(shown.get("tc")) or _other_filters(k, rec.dev))
        if shown is not None and not busy:
            k.tc(["qdisc", "del", "dev", rec.dev, "clsact"])
            k.clsact.discard((k.netns, rec.dev))
        if marks is not None and not busy:  # kept while filters sit on it: a later sweep
            owner.rmdir(qdisc_mark(marks, rec.netns, rec.dev))
    elif isinstance(rec, CgroupDetach):
        for p in k.cgroup_progs(rec.cgroup, rec.dir):
            if p["id"] == rec.id and p["name"] == rec.name:
                k.bpftool(["cgroup", "detach", rec.cgroup, rec.dir, "id", str(p["id"])])
    elif isinstance(rec, CgroupRestore):
        info = k.prog_info(owner.check(rec.pin))
        if info and info["id"] not in {p["id"] for p in k.cgroup_progs(rec.cgroup, rec.dir)}:
            k.bpftool(["cgroup", "attach", rec.cgroup, rec.dir, "pinned", rec.pin, "multi"])
    else:
        raise Io(f"unknown undo record {rec}")
