"""A kernel lab of one test process for the runtime safety and soak tests: its own netns
with a veth (`eth0` inside), its own cgroup, its own pin root, a state folder, and a
deletion canary (a watched folder outside the pin root, plus a pinned map on bpffs
outside it) that must be intact after every hostile case. Names carry the pid.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tatara_build.cli.common import load_project
from tatara_build.lower.naming import kernel_name
from tatara_build.runtime import links
from tatara_build.runtime.target import Target, load_target
from tests.conftest import ROOT

SPEC = ROOT / "tests" / "fixtures" / "runtime.tlisp"
FIXED_CGROUP = "/sys/fs/cgroup/unified/tatara-rt-test"
PROGRAMS = ("rt_xdp", "rt_tc", "rt_cg", "rt_tp", "rt_perf")


def sh(*argv: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(list(argv), capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{argv}: {r.stderr}")
    return r


def spec_text(cgroup: str, port: int = 9) -> str:
    text = SPEC.read_text().replace(FIXED_CGROUP, cgroup)
    return text.replace("(= (l4-dport ctx) 9)", f"(= (l4-dport ctx) {port})")


class Lab:
    def __init__(self, tmp: Path, tag: str | None = None):
        pid = str(os.getpid() % 100000)  # the cgroup is in the built spec: one per process
        tag = tag or pid
        self.netns, self.host_if = f"tbs{tag}", f"tbsh{tag}"
        self.root = Path(f"/sys/fs/bpf/tatara-safe-{tag}")
        self.cgroup = Path(f"/sys/fs/cgroup/unified/tatara-safe-{pid}")
        self.state = tmp / "state"
        self.canary = tmp / "canary"
        self.bpf_canary = Path(f"/sys/fs/bpf/tatara-canary-{tag}")
        self.mounted_tracefs = False

    # --- set up / tear down --------------------------------------------------------------
    def up(self) -> None:
        sh("ip", "netns", "add", self.netns)
        self.veth()
        self.cgroup.mkdir(exist_ok=True)
        if not Path("/sys/kernel/tracing/events").is_dir():
            sh("mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing")
            self.mounted_tracefs = True
        os.environ["TATARA_STATE_DIR"] = str(self.state)
        for d in ("v", "w/x"):
            (self.canary / d).mkdir(parents=True, exist_ok=True)
            (self.canary / d / "keep.txt").write_text("user data\n")
        (self.canary / "v.bpf.o").write_bytes(b"not an object")
        self.bpf_canary.mkdir(exist_ok=True)
        sh("bpftool", "map", "create", str(self.bpf_canary / "m"), "type", "array", "key", "4",
           "value", "4", "entries", "1", "name", "canary")

    def veth(self) -> None:
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", "eth0", "netns",
           self.netns)
        sh("ip", "link", "set", self.host_if, "up")
        sh("ip", "-n", self.netns, "link", "set", "eth0", "up")

    def down(self) -> None:
        sh("ip", "netns", "del", self.netns, check=False)
        sh("ip", "link", "del", self.host_if, check=False)
        for prog in self.cgroup_progs():
            sh("bpftool", "cgroup", "detach", str(self.cgroup), prog["attach_type"], "id",
               str(prog["id"]), check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.bpf_canary, ignore_errors=True)
        if self.cgroup.exists():
            self.cgroup.rmdir()
        if self.mounted_tracefs:
            sh("umount", "/sys/kernel/tracing", check=False)
        os.environ.pop("TATARA_STATE_DIR", None)

    # --- the canary ------------------------------------------------------------------------
    def canary_digest(self) -> str:
        h = hashlib.sha256()
        for p in sorted(self.canary.rglob("*")):
            h.update(str(p).encode() + (p.read_bytes() if p.is_file() else b"/"))
        h.update(b"bpf" if (self.bpf_canary / "m").exists() else b"gone")
        return h.hexdigest()

    # --- what the kernel holds ---------------------------------------------------------------
    def ns(self, *argv: str) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.netns}", *argv]

    def net(self) -> dict:
        r = sh(*self.ns("bpftool", "-j", "net", "show", "dev", "eth0"), check=False)
        return (json.loads(r.stdout or "[{}]") or [{}])[0] if r.returncode == 0 else {}

    def has_clsact(self) -> bool:
        return "clsact" in sh(*self.ns("tc", "qdisc", "show", "dev", "eth0"), check=False).stdout

    def cgroup_progs(self) -> list:
        r = sh("bpftool", "-j", "cgroup", "show", str(self.cgroup), check=False)
        return json.loads(r.stdout.strip() or "[]") if r.returncode == 0 else []

    def our_map_ids(self, t: Target) -> set[int]:
        infos = [links.map_info_pinned(t.map_pin(m)) for m in t.maps]
        return {i["id"] for i in infos if i}

    def programs_using(self, map_ids: set[int]) -> list[dict]:
        """Every program in the kernel bound to one of our maps (pinned or not)."""
        progs = json.loads(sh("bpftool", "-j", "prog", "show").stdout or "[]")
        return [p for p in progs if set(p.get("map_ids", [])) & map_ids]

    def orphans(self, t: Target, applied: bool, settle: float = 3.0) -> list[str]:
        """What is left that should not be: programs of ours neither pinned in progs/ nor
        the one attached, stray pins (staging), a qdisc without the policy. The kernel
        frees a program whose last link pin was replaced from a workqueue
        (bpf_link_put_deferred), so a just-released program may still be listed for a
        moment: look again for up to `settle` seconds before calling it an orphan."""
        deadline = time.monotonic() + settle
        while True:
            out = self._orphans(t, applied)
            if not out or time.monotonic() > deadline:
                return out
            time.sleep(0.05)

    def _orphans(self, t: Target, applied: bool) -> list[str]:
        out: list[str] = []
        pinned = {}
        for name in PROGRAMS:
            got = links.prog_info_pinned(t.layout.progs / name)
            if got:
                pinned[name] = got["id"]
        ids = self.our_map_ids(t)
        for p in self.programs_using(ids) if ids else []:
            if p["id"] not in pinned.values():
                out.append(f"program {p.get('name')} id {p['id']} not pinned")
        if not ids:  # no maps: look for our program names attached to our hooks
            net = self.net()
            out += [f"xdp {x['id']}" for x in net.get("xdp", [])]
            out += [f"tc {x['id']}" for x in net.get("tc", [])]
            out += [f"cgroup {p['name']}" for p in self.cgroup_progs()]
        stray = [str(p) for p in self.root.rglob("*") if "staging" in p.parts and
                 p.name != "staging"] if self.root.exists() else []
        out += [f"pin {p}" for p in stray]
        if applied and set(pinned) != set(PROGRAMS):
            out.append(f"pinned programs {sorted(pinned)}")
        if not applied and self.root.exists() and any(self.root.rglob("*")):
            out.append(f"pins left {sorted(str(p) for p in self.root.rglob('*'))[:5]}")
        if not applied and self.has_clsact():
            out.append("clsact qdisc left")
        return out

    def empty(self) -> bool:
        """Nothing of the policy left: pins, xdp, tc filter and qdisc, cgroup programs."""
        net = self.net()
        left = any(self.root.rglob("*")) if self.root.exists() else False
        return not left and not net.get("xdp") and not net.get("tc") and \
            not self.has_clsact() and not self.cgroup_progs()


def build(tmp: Path, cgroup: str, port: int) -> tuple[Path, Path]:
    spec = tmp / f"v{port}" / "runtime.tlisp"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(spec_text(cgroup, port))
    out = tmp / f"out{port}"
    target_dir = Path.home() / ".cache" / "tatara-build-tests" / "target"
    r = subprocess.run([sys.executable, "-m", "tatara_build", "build", str(spec), "-o", str(out),
                        "--target-dir", str(target_dir)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return spec, out / "artifacts"


def target(spec: Path, artifacts: Path, root: Path) -> Target:
    return load_target(load_project([spec]).project, "rt_all", artifacts, root)


def names() -> set[str]:
    return {kernel_name(n) for n in PROGRAMS}
