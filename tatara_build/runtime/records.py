"""Typed journal records: one frozen dataclass per kernel change, discriminated by `op`.

Every change the runtime makes is written to the journal as one of these *before* it
is made (write-ahead), so a killed apply leaves the identity of what it may have done:
the undo of each record is tolerant of the change never having happened. Records read
back from disk are untrusted: `parse` checks the shape and the field types, and the
runtime checks each path against the policy's pin root before acting (runtime/safety.py).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

_NAME = re.compile(r"^[A-Za-z0-9_.@:-]{1,64}$")  # interface / program names
NETNS = re.compile(r"^(?!\.\.?$)[A-Za-z0-9_.@:-]{1,64}$")  # a name under /run/netns
_TAG = re.compile(r"^[0-9a-f]{16}$")
_DIRS = ("ingress", "egress")


class BadRecord(ValueError):
    """A journal record that is not one this runtime writes."""


@dataclass(frozen=True)
class Unpin:
    """A pin or pin folder this policy created (program, map, link, staging)."""
    op: ClassVar[str] = "unpin"
    path: str


@dataclass(frozen=True)
class RmdirEmpty:
    """Pin folders this apply created; removed only when empty."""
    op: ClassVar[str] = "rmdir-empty"
    paths: tuple[str, ...]


@dataclass(frozen=True)
class XdpDetach:
    """Our program (kernel name + tag) attached to `dev`: detached only if still ours."""
    op: ClassVar[str] = "xdp-detach"
    dev: str
    netns: str | None
    name: str
    tag: str


@dataclass(frozen=True)
class XdpRestore:
    """The program pinned at `pin` was on `dev` before a replace: put it back."""
    op: ClassVar[str] = "xdp-restore"
    dev: str
    netns: str | None
    pin: str


@dataclass(frozen=True)
class TcQdiscDel:
    """A clsact qdisc this policy added to `dev`."""
    op: ClassVar[str] = "tc-qdisc-del"
    dev: str
    netns: str | None


@dataclass(frozen=True)
class TcFilterDel:
    """Our filter at (dev, dir, pref, handle 1)."""
    op: ClassVar[str] = "tc-filter-del"
    dev: str
    dir: str
    pref: int
    netns: str | None


@dataclass(frozen=True)
class TcRestore:
    """The filter at (dev, dir, pref) ran the program pinned at `pin` before a replace."""
    op: ClassVar[str] = "tc-restore"
    dev: str
    dir: str
    pref: int
    netns: str | None
    pin: str


@dataclass(frozen=True)
class CgroupDetach:
    """Our program (kernel name, tag, id) attached to a cgroup: that copy is detached."""
    op: ClassVar[str] = "cgroup-detach"
    cgroup: str
    dir: str
    name: str
    tag: str
    id: int


@dataclass(frozen=True)
class CgroupRestore:
    """The program pinned at `pin` was attached to the cgroup before a replace."""
    op: ClassVar[str] = "cgroup-restore"
    cgroup: str
    dir: str
    pin: str


Record = (Unpin | RmdirEmpty | XdpDetach | XdpRestore | TcQdiscDel | TcFilterDel | TcRestore
          | CgroupDetach | CgroupRestore)
KINDS: dict[str, type] = {c.op: c for c in (Unpin, RmdirEmpty, XdpDetach, XdpRestore, TcQdiscDel,
                                            TcFilterDel, TcRestore, CgroupDetach, CgroupRestore)}


def dump(rec: Record) -> dict:
    out = {"op": rec.op, **asdict(rec)}
    if isinstance(rec, RmdirEmpty):
        out["paths"] = list(rec.paths)
    return out


def parse(data: object) -> Record:
    """A record from untrusted JSON data; BadRecord on anything else."""
    if not isinstance(data, dict) or not isinstance(data.get("op"), str):
        raise BadRecord(f"not a record: {str(data)[:80]!r}")
    cls = KINDS.get(data["op"])
    if cls is None:
        raise BadRecord(f"unknown record op {data['op'][:40]!r}")
    names = {f.name for f in fields(cls)}
    extra = set(data) - names - {"op"}
    if extra or names - set(data):
        raise BadRecord(f"`{cls.op}` record with fields {sorted(data)}")
    values = {n: data[n] for n in names}
    if cls is RmdirEmpty:
        if not isinstance(values["paths"], list):
            raise BadRecord("`rmdir-empty` paths is not a list")
        values["paths"] = tuple(values["paths"])
    for n, v in values.items():
        _check_field(cls.op, n, v)
    return cls(**values)


def _check_field(op: str, name: str, v: object) -> None:
    ok: bool
    if name in ("path", "pin", "cgroup"):
        ok = isinstance(v, str) and v.startswith("/") and "\0" not in v and "\n" not in v
    elif name == "paths":
        ok = all(isinstance(p, str) and p.startswith("/") and "\0" not in p for p in v)  # type: ignore[union-attr]
    elif name == "netns":
        ok = v is None or (isinstance(v, str) and bool(NETNS.match(v)))
    elif name in ("dev", "name"):
        ok = isinstance(v, str) and bool(_NAME.match(v))
    elif name == "tag":
        ok = isinstance(v, str) and bool(_TAG.match(v))
    elif name == "dir":
        ok = v in _DIRS
    elif name == "pref":
        ok = isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 65535
    elif name == "id":
        ok = isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**32
    else:
        ok = False
    if not ok:
        raise BadRecord(f"`{op}` record: bad `{name}` {str(v)[:80]!r}")
