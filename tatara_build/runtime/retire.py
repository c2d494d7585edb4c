"""Re-apply converges: what an earlier apply attached that the new one no longer has
(another `--netns`, a renamed or dropped program) is removed before the journal says
`applied` again.

Only records of our own journal are retired: the *previous* apply's `applied.attach`
(keyed by the program name it attached), checked here before anything acts on them,
because a journal read back is untrusted (runtime/records.py):

* the record's hook is not one the new apply holds (same interface, netns, direction
  and tc pref; a cgroup copy the new apply attached is never touched);
* it names the program it is filed under: xdp by kernel name *and* tag, the tc filter
  at that program's fixed pref (runtime/kernel.py `tc_pref`) and running a program of
  that kernel name, a cgroup copy by id and kernel name, a clsact qdisc only when our
  mark for it exists and no filter is left on it, links only inside our pin folder.

Crash safety comes from the write-ahead journal (runtime/state.py): `applied` keeps
the previous apply's records until `finish`, so an apply killed while retiring finds
them again and the next apply retires what is left (every undo tolerates a change
already undone). The old program pins go too, and the mark of a netns no longer used.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tatara_build.lower.naming import kernel_name
from tatara_build.runtime import attach as hooks
from tatara_build.runtime.attach import qdisc_mark
from tatara_build.runtime.kernel import Kernel, tc_pref
from tatara_build.runtime.observe import netns_mark
from tatara_build.runtime.records import CgroupDetach, Record, TcFilterDel, TcQdiscDel, Unpin, XdpDetach
from tatara_build.runtime.safety import Owner
from tatara_build.runtime.target import Target


def _hook(rec: Record) -> tuple | None:
    """What a record occupies in the kernel (None: a pin, not a hook)."""
    if isinstance(rec, XdpDetach):
        return ("xdp", rec.netns, rec.dev)
    if isinstance(rec, TcFilterDel):
        return ("tc", rec.netns, rec.dev, rec.dir, rec.pref)
    if isinstance(rec, TcQdiscDel):
        return ("qdisc", rec.netns, rec.dev)
    if isinstance(rec, CgroupDetach):
        return ("cgroup", rec.cgroup, rec.dir, rec.id)
    return None


def stale(old: dict, new: dict[str, list[Record]]) -> list[tuple[str, Record]]:
    """(program, record) of the previous apply whose hook the new apply does not hold,
    filters before qdiscs (a qdisc goes only once no filter is left on it)."""
    held = {_hook(r) for recs in new.values() for r in recs}
    held |= {("qdisc", r.netns, r.dev) for recs in new.values() for r in recs
             if isinstance(r, TcFilterDel)}  # a qdisc the new apply's filters sit on
    attach = old.get("attach")
    out = [(name, r) for name, recs in (attach if isinstance(attach, dict) else {}).items()
           if isinstance(recs, list) for r in recs
           if _hook(r) not in held and not (isinstance(r, Unpin) and r in new.get(name, []))]
    return sorted(out, key=lambda nr: isinstance(nr[1], TcQdiscDel))


def retire(k: Kernel, t: Target, old: dict, new: dict[str, list[Record]], owner: Owner) -> int:
    """Undo what `old` (the previous `applied`) holds that `new` does not; returns how
    many records were retired. A failure is a warning: the rest is still retired."""
    saved, n = k.netns, 0
    try:
        for name, rec in stale(old, new):
            try:
                if _ours(k, name, rec, owner, t.layout.marks):
                    hooks.undo(k, rec, owner, t.layout.marks)
                    n += 1
            except Exception as exc:  # noqa: BLE001  keep retiring the rest
                print(f"warning: retire {rec}: {exc}", file=sys.stderr)
    finally:
        k.netns = saved
    _old_pins(t, old, owner)
    if old.get("netns") and old.get("netns") != k.netns:
        owner.rmdir(netns_mark(t.layout.marks, old["netns"]))
    return n


def _ours(k: Kernel, name: str, rec: Record, owner: Owner, marks: Path) -> bool:
    """The record names the program it is filed under, and the kernel agrees."""
    kname = kernel_name(name)
    k.netns = getattr(rec, "netns", k.netns)
    if isinstance(rec, Unpin):
        return owner.owns(rec.path)
    if isinstance(rec, XdpDetach):
        cur = _quiet(lambda: k.xdp_prog(rec.dev))
        return rec.name == kname and bool(cur) and cur["name"] == kname and cur["tag"] == rec.tag
    if isinstance(rec, TcFilterDel):
        return rec.pref == tc_pref(name) and _tc_name(k, rec) == kname
    if isinstance(rec, CgroupDetach):
        return rec.name == kname  # undo detaches only the copy with this id and name
    if isinstance(rec, TcQdiscDel):
        return qdisc_mark(marks, rec.netns, rec.dev).exists()
    return False


def _tc_name(k: Kernel, rec: TcFilterDel) -> str | None:
    info = hooks.tc_filter_prog(k, rec.dev, rec.dir, rec.pref)
    return info["name"] if info else None


def _quiet(f):
    try:
        return f()
    except Exception:  # noqa: BLE001  the interface or namespace is gone: nothing to retire
        return None


def _old_pins(t: Target, old: dict, owner: Owner) -> None:
    """Program pins of the previous apply that no program of the new spec uses."""
    keep = {str(t.prog_pin(p)) for p in t.programs}
    for prog in (old.get("programs") or {}).values():
        pin = prog.get("pin") if isinstance(prog, dict) else None
        if isinstance(pin, str) and pin.startswith("/") and pin not in keep and owner.owns(pin):
            owner.remove(pin)
