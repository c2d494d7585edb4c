"""BpftoolRuntime: the kernel through bpftool, tc and nsenter subprocesses.

Every kernel change returns an undo record (plain data), so the executor can roll
back in reverse and a killed apply can be repaired from its journal. Maps are
created and pinned from their specs first; objects are then loaded with `loadall`
rebinding their maps to those pins. bpftool does not check a reused pin's type or
size, so `ensure_maps` does. Attach: xdp via `net attach` (`overwrite` only to replace
our own program), tc via clsact + `filter replace` at a fixed pref/handle,
cgroup-skb via `cgroup attach ... multi`, tracepoint/perf-event via pinned bpf_links
(links.py); socket filters are loaded and pinned; kprobe and lsm report what the
kernel lacks.
"""

from __future__ import annotations

import os
import shutil
import zlib
from pathlib import Path

from tatara_build.backends.proc import Result, run
from tatara_build.model.ir import MapSpec, ProgramSpec
from tatara_build.model.kinds import MAP_KINDS, PROGRAM_KINDS, kernel_shape
from tatara_build.runtime import bpftool, links, objprep
from tatara_build.runtime.base import AttachFailed, Io, MapError, Unsupported
from tatara_build.runtime.probe import program_types


def tc_pref(program: str) -> int:
    """A fixed tc filter priority per program name (stable across applies)."""
    return 1000 + zlib.crc32(program.encode()) % 30000


class Kernel:
    """Kernel operations for one policy; `netns` names a namespace under /run/netns."""

    def __init__(self, netns: str | None = None):
        self.netns = netns
        self.calls = 0  # bpftool/tc invocations (the benchmark and tests count them)
        self._clsact: set[tuple[str | None, str]] = set()  # devices known to have clsact

    # --- plumbing ------------------------------------------------------------------------
    def _ns(self, argv: list[str]) -> list[str]:
        if self.netns:
            return ["nsenter", f"--net=/run/netns/{self.netns}", *argv]
        return argv

    def bpftool(self, args: list[str], json_out: bool = True, in_netns: bool = False) -> Result:
        self.calls += 1
        argv = [bpftool.bpftool_path()] + (["-j"] if json_out else []) + args
        return run(self._ns(argv) if in_netns else argv)

    def tc(self, args: list[str]) -> Result:
        self.calls += 1
        return run(self._ns(["tc", *args]))

    # --- maps ----------------------------------------------------------------------------
    def ensure_maps(self, wanted: list[tuple[MapSpec, Path]]) -> list[dict]:
        """Create every missing map in one `bpftool batch` (one process, not one per map),
        check the ones already pinned; undo records of the created ones. On a failure the
        maps this call created are removed again before MapError is raised."""
        missing: list[tuple[MapSpec, Path]] = []
        for spec, pin in wanted:
            if pin.exists():
                self.check_map(spec, pin)
            elif MAP_KINDS[spec.kind].standalone:  # map-in-map: the object creates it
                missing.append((spec, pin))
        if not missing:
            return []
        lines = []
        for spec, pin in missing:
            pin.parent.mkdir(parents=True, exist_ok=True)
            kind = MAP_KINDS[spec.kind]
            key, value, entries = kernel_shape(spec.kind, spec.key_size, spec.value_size,
                                               spec.max_entries)
            entries = entries or (os.cpu_count() or 1)
            line = (f"map create {pin} type {kind.bpftool_type} key {key} value "
                    f"{value} entries {entries} name {spec.name[:15]}")
            lines.append(line + (f" flags {kind.flags}" if kind.flags else ""))
        self.calls += 1
        res = run([bpftool.bpftool_path(), "-n", "-j", "batch", "file", "-"],
                  input="\n".join(lines) + "\n")
        done = len(bpftool.parse_json(res) or []) if res.stdout.strip().startswith("[") else 0
        created = missing if res.ok else missing[: max(0, done - 1)]
        undo = [{"op": "unpin", "path": str(pin)} for _, pin in created]
        if not res.ok:
            for rec in undo:
                self.undo(rec)
            bad = missing[max(0, done - 1)][0].name if done else missing[0][0].name
            raise MapError(f"create `{bad}`: {bpftool.error_text(res)}")
        return undo

    def check_map(self, spec: MapSpec, pin: Path) -> None:
        res = self.bpftool(["map", "show", "pinned", str(pin)])
        shown = bpftool.parse_json(res) if res.ok else None
        if not isinstance(shown, dict):
            raise MapError(f"`{pin}` exists but is not a map: {bpftool.error_text(res)}")
        key, value, entries = kernel_shape(spec.kind, spec.key_size, spec.value_size,
                                           spec.max_entries)
        want = {"type": MAP_KINDS[spec.kind].bpftool_type, "bytes_key": key, "bytes_value": value}
        if entries:
            want["max_entries"] = entries
        diff = [f"{k} {shown.get(k)} (spec {v})" for k, v in want.items() if shown.get(k) != v]
        if diff:
            raise MapError(f"pinned map {pin} does not match spec `{spec.name}`: " + ", ".join(diff))

    # --- programs ------------------------------------------------------------------------
    def load_object(self, obj: Path, into: Path, rebind: dict[str, Path]) -> dict[str, Path]:
        """`loadall` into a fresh folder; program name -> pin. Raises VerifierRejected."""
        into.parent.mkdir(parents=True, exist_ok=True)
        self.calls += 1
        res, shown = objprep.loadall(obj, into, rebind)  # C objects: runtime/objprep.py
        if not res.ok:
            shutil.rmtree(into, ignore_errors=True)
            raise bpftool.load_failure(res, shown)
        return {p.name: p for p in into.iterdir()}

    def prog_info(self, pin: Path) -> dict | None:
        """{id, tag} of a pinned program, through bpf(2) rather than a bpftool process."""
        got = links.prog_id_tag(pin)
        return {"id": got[0], "tag": got[1]} if got else None

    # --- attach --------------------------------------------------------------------------
    def attach(self, spec: ProgramSpec, pin: Path, links_dir: Path, replace_id: int | None = None
               ) -> list[dict]:
        """Attach the program pinned at `pin`; the undo records of what changed."""
        how = PROGRAM_KINDS[spec.kind].attach
        if how == "netlink-xdp":
            return self._xdp(spec, pin, replace_id)
        if how == "tc":
            return self._tc(spec, pin)
        if how == "cgroup":
            return self._cgroup(spec, pin)
        if how == "socket":
            return []  # loaded and pinned: a process attaches it (SO_ATTACH_BPF)
        self._supported(spec)
        links_dir.mkdir(parents=True, exist_ok=True)
        if spec.kind == ":tracepoint":
            pins = links.attach_tracepoint(pin, spec.attach.target, links_dir / spec.name)
        elif spec.kind == ":perf-event":
            pins = links.attach_perf_event(pin, spec.attach.target, links_dir, spec.name)
        else:
            raise Unsupported(f"attaching `{spec.kind}` programs", spec.name)
        return [{"op": "unpin", "path": str(p)} for p in pins]

    def _supported(self, spec: ProgramSpec) -> None:
        feature = PROGRAM_KINDS[spec.kind].kernel_feature
        if program_types().get(feature) is False:
            raise Unsupported(f"`{spec.kind}` programs: this kernel lacks them "
                              f"(bpftool feature probe: {feature} is false)", spec.name)
        if spec.kind == ":kprobe" and not Path("/sys/bus/event_source/devices/kprobe").exists():
            raise Unsupported("`:kprobe` attach: the kernel has no kprobe PMU (CONFIG_KPROBE_EVENTS "
                              "off: /sys/bus/event_source/devices/kprobe is missing)", spec.name)
        if spec.kind in (":kprobe", ":lsm"):
            raise Unsupported(f"attaching `{spec.kind}` programs is not implemented yet", spec.name)

    def _xdp(self, spec: ProgramSpec, pin: Path, replace_id: int | None) -> list[dict]:
        dev = spec.attach.target
        current = self.xdp_attached(dev)
        if current and current != replace_id:
            raise AttachFailed(f"{dev} already has XDP program id {current}, which this policy "
                               "does not own; detach it first")
        args = ["-n", "net", "attach", "xdp", "pinned", str(pin), "dev", dev]
        res = self.bpftool(args + (["overwrite"] if current else []), in_netns=True)
        if not res.ok:
            raise AttachFailed(f"xdp on {dev}: {bpftool.error_text(res)}")
        return [{"op": "xdp-detach", "dev": dev, "netns": self.netns}]

    def xdp_attached(self, dev: str) -> int | None:
        res = self.bpftool(["net", "show", "dev", dev], in_netns=True)
        if not res.ok:
            raise AttachFailed(f"no interface `{dev}`" + (f" in netns {self.netns}" if self.netns
                                                          else "") + f": {bpftool.error_text(res)}")
        data = bpftool.parse_json(res) or [{}]
        xdp = data[0].get("xdp", []) if data else []
        return xdp[0]["id"] if xdp else None

    def _tc(self, spec: ProgramSpec, pin: Path) -> list[dict]:
        dev, direction = spec.attach.target, spec.attach.direction or "ingress"
        undo: list[dict] = []
        if (self.netns, dev) not in self._clsact:
            shown = self.tc(["-j", "qdisc", "show", "dev", dev])
            if not shown.ok:
                raise AttachFailed(f"tc on {dev}: {shown.stderr.strip()}")
            had_clsact = '"clsact"' in shown.stdout
            self._clsact.add((self.netns, dev))
        else:
            had_clsact = True
        if not had_clsact:
            res = self.tc(["qdisc", "replace", "dev", dev, "clsact"])
            if not res.ok:
                raise AttachFailed(f"tc qdisc clsact on {dev}: {res.stderr.strip()}")
            undo.append({"op": "tc-qdisc-del", "dev": dev, "netns": self.netns})
        pref = str(tc_pref(spec.name))
        res = self.tc(["filter", "replace", "dev", dev, direction, "pref", pref, "handle", "1",
                       "bpf", "direct-action", "pinned", str(pin)])
        if not res.ok:
            raise AttachFailed(f"tc filter on {dev} {direction}: {res.stderr.strip()}")
        undo.append({"op": "tc-filter-del", "dev": dev, "dir": direction, "pref": pref,
                     "netns": self.netns})
        return undo

    def _cgroup(self, spec: ProgramSpec, pin: Path) -> list[dict]:
        cg, direction = spec.attach.target, spec.attach.direction or "ingress"
        res = self.bpftool(["cgroup", "attach", cg, direction, "pinned", str(pin), "multi"])
        if not res.ok:
            raise AttachFailed(f"cgroup {cg} {direction}: {bpftool.error_text(res)}")
        return [{"op": "cgroup-detach", "cgroup": cg, "dir": direction, "pin": str(pin)}]

    # --- undo ----------------------------------------------------------------------------
    def undo(self, rec: dict) -> None:
        """Reverse one recorded change; tolerant of it being gone already."""
        op = rec["op"]
        ns, self.netns = self.netns, rec.get("netns", self.netns)
        try:
            if op == "unpin":
                p = Path(rec["path"])
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
            elif op == "xdp-detach":
                self.bpftool(["net", "detach", "xdp", "dev", rec["dev"]], in_netns=True)
            elif op == "tc-filter-del":
                self.tc(["filter", "del", "dev", rec["dev"], rec["dir"], "pref", rec["pref"],
                         "handle", "1", "bpf"])
            elif op == "tc-qdisc-del":
                self.tc(["qdisc", "del", "dev", rec["dev"], "clsact"])
            elif op == "cgroup-detach":
                self.bpftool(["cgroup", "detach", rec["cgroup"], rec["dir"], "pinned", rec["pin"]])
            elif op == "rmdir-empty":
                for d in sorted(rec["paths"], key=len, reverse=True):
                    try:
                        Path(d).rmdir()
                    except OSError:
                        pass  # not empty (not ours to remove) or already gone
            elif op == "xdp-restore":
                self.bpftool(["-n", "net", "attach", "xdp", "pinned", rec["pin"], "dev", rec["dev"],
                              "overwrite"], in_netns=True)
            else:
                raise Io(f"unknown undo record {rec}")
        finally:
            self.netns = ns
