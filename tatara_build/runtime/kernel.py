"""Kernel: the kernel through bpftool, tc and nsenter subprocesses, and libbpf (links.py).

Maps are created and pinned from their specs first (one `bpftool batch`, each pin
journaled before); objects are then loaded with `loadall` rebinding their maps to those
pins (runtime/objprep.py prepares C objects). bpftool does not check a reused pin's
type or size, so `check_map` does. What is attached is read back through `bpftool net
show` (xdp and tc of a device in one call), `cgroup show`, and program ids resolved to
name and tag with libbpf. Attaching and undoing are in runtime/attach.py; output of
every tool is decoded with replacement characters (runtime/bpftool.py `run_tool`).
"""

from __future__ import annotations

import os
import re
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path

from tatara_build.backends.proc import Result
from tatara_build.lower.naming import kernel_name
from tatara_build.model.ir import MapSpec
from tatara_build.model.kinds import MAP_KINDS, kernel_shape
from tatara_build.runtime import bpftool, links, objprep
from tatara_build.runtime.base import AttachFailed, Io, MapError
from tatara_build.runtime.records import Record, Unpin

_BATCH_SAFE = re.compile(r"^[A-Za-z0-9_./@+-]+$")  # what `bpftool batch` reads as one word


def no_journal(*_recs: Record) -> None:
    pass


Intend = Callable[..., None]  # journal.intend: write-ahead records, fsync'd


def _map_create_args(spec: MapSpec, pin: Path) -> list[str]:
    kind = MAP_KINDS[spec.kind]
    key, value, entries = kernel_shape(spec.kind, spec.key_size, spec.value_size,
                                       spec.max_entries)
    entries = entries or (os.cpu_count() or 1)
    args = ["map", "create", str(pin), "type", kind.bpftool_type, "key", str(key),
            "value", str(value), "entries", str(entries), "name", kernel_name(spec.name)]
    return args + (["flags", str(kind.flags)] if kind.flags else [])


def tc_pref(program: str) -> int:
    """A fixed tc filter priority per program name (stable across applies)."""
    return 1000 + zlib.crc32(program.encode()) % 30000


class Kernel:
    """Kernel operations for one policy; `netns` names a namespace under /run/netns."""

    def __init__(self, netns: str | None = None):
        self.netns = netns
        self.calls = 0  # bpftool/tc invocations (the benchmark and tests count them)
        self.clsact: set[tuple[str | None, str]] = set()  # (netns, dev) known to have clsact

    # --- plumbing ------------------------------------------------------------------------
    def _ns(self, argv: list[str]) -> list[str]:
        if self.netns:
            return ["nsenter", f"--net=/run/netns/{self.netns}", *argv]
        return argv

    def bpftool(self, args: list[str], json_out: bool = True, in_netns: bool = False) -> Result:
        self.calls += 1
        argv = [bpftool.bpftool_path()] + (["-j"] if json_out else []) + args
        return bpftool.run_tool(self._ns(argv) if in_netns else argv)

    def tc(self, args: list[str]) -> Result:
        self.calls += 1
        return bpftool.run_tool(self._ns(["tc", *args]))

    # --- maps ----------------------------------------------------------------------------
    def ensure_maps(self, wanted: list[tuple[MapSpec, Path]], intend: Intend = no_journal
                    ) -> list[Path]:
        """Create every missing map in one `bpftool batch` (one process, not one per map),
        check the ones already pinned; returns the pins created. Each pin is journaled
        (`intend`) before the batch runs. Pins whose path `bpftool batch` could misread
        (white space, quotes) are created by a call of their own instead. On a failure
        the maps this call created are removed again before MapError is raised."""
        missing: list[tuple[MapSpec, Path]] = []
        for spec, pin in wanted:
            if pin.exists():
                self.check_map(spec, pin)
            elif MAP_KINDS[spec.kind].standalone:  # map-in-map: the object creates it
                missing.append((spec, pin))
        if not missing:
            return []
        intend(*[Unpin(str(pin)) for _, pin in missing])
        batch = [(s, p) for s, p in missing if _BATCH_SAFE.match(str(p))]
        alone = [(s, p) for s, p in missing if not _BATCH_SAFE.match(str(p))]
        created: list[Path] = []
        try:
            if batch:
                created += self._map_batch(batch)
            for spec, pin in alone:
                res = self.bpftool(["-n", *_map_create_args(spec, pin)])
                if not res.ok:
                    raise MapError(f"create `{spec.name}`: {bpftool.error_text(res)}")
                created.append(pin)
        except MapError:
            for pin in created:
                pin.unlink(missing_ok=True)  # created by this call a moment ago
            raise
        return created

    def _map_batch(self, missing: list[tuple[MapSpec, Path]]) -> list[Path]:
        lines = []
        for spec, pin in missing:
            pin.parent.mkdir(parents=True, exist_ok=True)
            lines.append(" ".join(_map_create_args(spec, pin)))
        self.calls += 1
        res = bpftool.run_tool([bpftool.bpftool_path(), "-n", "-j", "batch", "file", "-"],
                               input="\n".join(lines) + "\n")
        parsed = bpftool.parse_json(res) if res.stdout.strip().startswith("[") else None
        done = len(parsed) if isinstance(parsed, list) else 0
        if res.ok:
            return [p for _, p in missing]
        for _, pin in missing[: max(0, done - 1)]:
            pin.unlink(missing_ok=True)
        bad = missing[max(0, done - 1)][0].name if done else missing[0][0].name
        raise MapError(f"create `{bad}`: {bpftool.error_text(res)}")

    def check_map(self, spec: MapSpec, pin: Path) -> None:
        """The pinned map has the spec's type and sizes (bpftool does not check a reuse)."""
        diff = self.map_diff(spec, pin)
        if diff:
            raise MapError(f"pinned map {pin} does not match spec `{spec.name}`: {diff}")

    def map_diff(self, spec: MapSpec, pin: Path) -> str:
        """'' when the map pinned at `pin` matches the spec, else what differs."""
        res = self.bpftool(["map", "show", "pinned", str(pin)])
        shown = bpftool.parse_json(res) if res.ok else None
        if not isinstance(shown, dict):
            raise MapError(f"`{pin}` exists but is not a map: {bpftool.error_text(res)}")
        key, value, entries = kernel_shape(spec.kind, spec.key_size, spec.value_size,
                                           spec.max_entries)
        want = {"type": MAP_KINDS[spec.kind].bpftool_type, "bytes_key": key, "bytes_value": value}
        if entries:
            want["max_entries"] = entries
        return ", ".join(f"{k} {shown.get(k)} (spec {v})" for k, v in want.items()
                         if shown.get(k) != v)

    # --- programs ------------------------------------------------------------------------
    def load_object(self, obj: Path, into: Path, rebind: dict[str, Path]) -> dict[str, Path]:
        """`loadall` into a fresh folder this call creates; program name -> pin. Raises
        VerifierRejected; on failure removes only the folder it created itself."""
        into.parent.mkdir(parents=True, exist_ok=True)
        try:
            into.mkdir()
        except FileExistsError:
            raise Io(f"cannot load {obj.name}: {into} exists already (pins are unique)") from None
        self.calls += 1
        res, shown = objprep.loadall(obj, into, rebind)  # C objects: runtime/objprep.py
        if not res.ok:
            shutil.rmtree(into, ignore_errors=True)
            raise bpftool.load_failure(res, shown)
        return {p.name: p for p in into.iterdir()}

    def prog_info(self, pin: Path) -> dict | None:
        """{id, tag, name} of a pinned program, through libbpf rather than a bpftool process."""
        return links.prog_info_pinned(pin)

    # --- what is attached ------------------------------------------------------------------
    def net_show(self, dev: str) -> dict | None:
        """`bpftool net show dev`: {"xdp": [...], "tc": [...]}; None if there is no `dev`."""
        res = self.bpftool(["net", "show", "dev", dev], in_netns=True)
        data = bpftool.parse_json(res) if res.ok else None
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            return None
        return data[0]

    def xdp_prog(self, dev: str) -> dict | None:
        """{id, tag, name} of the XDP program on `dev` (None if none); AttachFailed if no dev."""
        shown = self.net_show(dev)
        if shown is None:
            raise AttachFailed(f"no interface `{dev}`" + (f" in netns {self.netns}" if self.netns
                                                          else ""))
        xdp = shown.get("xdp") or []
        if not xdp:
            return None
        return links.prog_info_id(xdp[0]["id"]) or {"id": xdp[0]["id"], "tag": "", "name": ""}

    def xdp_attached(self, dev: str) -> int | None:
        got = self.xdp_prog(dev)
        return got["id"] if got else None

    def cgroup_progs(self, cgroup: str, direction: str) -> list[dict]:
        """{id, tag, name} of each program attached to (cgroup, direction)."""
        res = self.bpftool(["cgroup", "show", cgroup])
        data = bpftool.parse_json(res) if res.ok else None
        out = []
        for p in data if isinstance(data, list) else []:
            if isinstance(p, dict) and p.get("attach_type") in (direction,
                                                                f"cgroup_inet_{direction}"):
                out.append(links.prog_info_id(p["id"]) or {"id": p["id"], "tag": "",
                                                           "name": p.get("name", "")})
        return out

    def has_clsact(self, dev: str) -> bool:
        shown = self.tc(["-j", "qdisc", "show", "dev", dev])
        if not shown.ok:
            raise AttachFailed(f"tc on {dev}: {shown.stderr.strip()}")
        return '"clsact"' in shown.stdout

