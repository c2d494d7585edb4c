"""The kernel through bpfman 0.6 (crates.io `bpfman`, its CLI; no daemon): load from a file
or an OCI image, attach, detach, unload, list — and the seed's BpfRuntime operations on top.

bpfman prints tables, not JSON: `list programs|links` tables are read by the columns of
their header line. Every program is tagged `--application tatara-<policy>`, so listing
finds exactly ours. Kinds bpfman 0.6 cannot load (model/kinds.py BPFMAN_PROGRAMS with no
`load_type`) are refused before anything loads. `:tc` attaches through tcx (one bpf_link,
no dispatcher); xdp goes through bpfman's dispatcher, which needs freplace — a kernel
without trampolines refuses it, and the error says so.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from tatara_build.backends.proc import run
from tatara_build.errors import EnvironmentProblem, SpecError
from tatara_build.lower.naming import snake
from tatara_build.model.ir import MapSpec, ProgramSpec
from tatara_build.model.kinds import BPFMAN_PROGRAMS
from tatara_build.runtime.base import AttachFailed, Io, LoadedProgram, Unsupported, VerifierRejected

VERSION = "0.6.0"
CACHED = Path.home() / ".cache" / "tatara-build" / f"bpfman-{VERSION}" / "bin" / "bpfman"
PRIORITY = 500


def bpfman_path() -> str:
    found = os.environ.get("TATARA_BPFMAN") or shutil.which("bpfman") or (
        str(CACHED) if CACHED.exists() else None)
    if not found:
        raise EnvironmentProblem("--runtime bpfman needs the bpfman CLI (scripts/setup-bpfman.sh "
                                 f"builds bpfman {VERSION} into {CACHED.parent})")
    return found


def application(policy: str) -> str:
    return f"tatara-{policy}"


def refuse_unsupported(programs: list[ProgramSpec]) -> None:
    """Before anything loads: every program must be a kind bpfman 0.6 loads."""
    bad = [p for p in programs if BPFMAN_PROGRAMS[p.kind].load_type is None]
    if bad:
        ok = sorted(k for k, row in BPFMAN_PROGRAMS.items() if row.load_type)
        names = ", ".join(f"`{p.name}` ({p.kind})" for p in bad)
        raise SpecError(f"bpfman {VERSION} cannot load {names}: it loads {', '.join(ok)} "
                        "programs; use --runtime bpftool for these")


def table(text: str) -> list[dict[str, str]]:
    """Rows of a comfy-table (preset NOTHING) by the column starts of its header line."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return []
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]
    names = [header[s:e].strip() for s, e in zip(starts, starts[1:] + [None], strict=True)]
    return [{n: ln[s:e].strip() if e else ln[s:].strip()
             for n, s, e in zip(names, starts, starts[1:] + [None], strict=True)}
            for ln in lines[1:]]


def _message(text: str) -> str:
    """anyhow's `Error: ...` and `Caused by:` lines, without a stack backtrace."""
    head = text.split("Stack backtrace:", 1)[0]
    lines = [ln.strip() for ln in head.splitlines() if ln.strip() and ln.strip() != "Caused by:"]
    lines = [re.sub(r"^(Error:|\d+:)\s*", "", ln) for ln in lines if not ln.startswith("[")]
    return "; ".join(lines)[:400] or "bpfman failed"


def _error(stderr: str, what: str, program: str | None = None, dispatcher: bool = False):
    text = stderr.strip()
    last = _message(text)
    if "must be privileged" in text:
        return EnvironmentProblem("bpfman refused to start: it raises RLIMIT_MEMLOCK to "
                                  "infinity, which needs CAP_SYS_RESOURCE")
    if "tracefs" in text:
        return EnvironmentProblem("bpfman needs tracefs: mount -t tracefs tracefs "
                                  "/sys/kernel/tracing")
    if re.search(r"sigstore|tuf|TUF", text):
        return EnvironmentProblem("bpfman verifies image signatures through sigstore (network); "
                                  "for unsigned images set [signing] verify_enabled = false in "
                                  "/etc/bpfman/bpfman.toml")
    if dispatcher and re.search(r"dispatcher|extension|EPERM|[Pp]ermission", text):
        return Unsupported(f"{what}: bpfman loads xdp (and tc) programs as freplace extensions "
                           "of its dispatcher, which this kernel refuses (no BPF trampolines); "
                           f"use --runtime bpftool for xdp. bpfman: {last}", program)
    if what.startswith("load") and "verifier" in text.lower():
        return VerifierRejected(f"{what}: {last}", program, log=text)
    if what.startswith("attach"):
        return AttachFailed(f"{what}: {last}", program)
    return Io(f"bpfman {what}: {last}")


class Bpfman:
    """The bpfman CLI, one subprocess per operation (it keeps its state in /run/bpfman)."""

    def __init__(self, binary: str | None = None, env: dict[str, str] | None = None):
        self.binary = binary or bpfman_path()
        self.env = env
        self.calls = 0

    def _run(self, args: list[str], what: str, program: str | None = None,
             dispatcher: bool = False) -> str:
        self.calls += 1
        env = {**(self.env or {}), "RUST_BACKTRACE": "0", "RUST_LIB_BACKTRACE": "0"}
        res = run([self.binary, *args], env=env)
        if not res.ok:
            raise _error(res.stderr + res.stdout, what, program, dispatcher)
        return res.stdout

    def load(self, source: str, programs: list[tuple[str, str]], app: str,
             map_owner: int | None = None, globals_: dict[str, bytes] | None = None
             ) -> dict[str, int]:
        """`source`: an object path, or `image:<url>`; programs: (load type, function);
        `globals_`: `.rodata` symbol -> its bytes (bpfman's `--global NAME=HEX`).
        Returns function -> program id."""
        kind, url = ("image", source[6:]) if source.startswith("image:") else ("file", source)
        args = ["load", kind, *(["--image-url", url, "--pull-policy", "Always"] if kind == "image"
                                else ["--path", url])]
        args += ["--programs", *[f"{t}:{fn}" for t, fn in programs], "--application", app]
        if map_owner:
            args += ["--map-owner-id", str(map_owner)]
        if globals_:
            args += ["--global", *[f"{n}={v.hex()}" for n, v in sorted(globals_.items())]]
        fns = ", ".join(fn for _, fn in programs)
        self._run(args, f"load {fns} from {url}", programs[0][1],
                  dispatcher=any(t in ("xdp", "tc") for t, _ in programs))
        return self.ids(app, [fn for _, fn in programs])

    def ids(self, app: str, fns: list[str]) -> dict[str, int]:
        rows = self.programs(app)
        out = {}
        for fn in fns:  # the kernel name is the function name cut to 15 bytes
            hit = [r for r in rows if r.get("Function Name") == fn[:15]]
            if hit:
                out[fn] = max(int(r["Program ID"]) for r in hit)
        return out

    def programs(self, app: str) -> list[dict[str, str]]:
        return table(self._run(["list", "programs", "--application", app], "list programs"))

    def links(self, app: str) -> list[dict[str, str]]:
        return table(self._run(["list", "links", "--application", app], "list links"))

    def map_pin_path(self, prog_id: int) -> Path | None:
        out = self._run(["get", "program", str(prog_id)], "get program")
        m = re.search(r"Map Pin Path:\s+(\S+)", out)
        return Path(m.group(1)) if m and m.group(1) != "None" else None

    def attach(self, prog_id: int, spec: ProgramSpec, netns: str | None = None) -> int:
        row = BPFMAN_PROGRAMS[spec.kind]
        ns = ["--netns", f"/run/netns/{netns}"] if netns else []
        target = spec.attach.target
        if row.load_type == "tracepoint":
            how = ["tracepoint", "--tracepoint", target]
        elif row.load_type == "tcx":
            how = ["tcx", "--direction", spec.attach.direction or "ingress", "--iface", target,
                   "--priority", str(PRIORITY), *ns]
        elif row.load_type == "xdp":
            how = ["xdp", "--iface", target, "--priority", str(PRIORITY), *ns]
        elif row.load_type == "kprobe":
            how = ["kprobe", "--fn-name", target]
        else:
            raise Unsupported(f"attaching `{spec.kind}` through bpfman", spec.name)
        out = self._run(["attach", str(prog_id), *how], f"attach {spec.name} ({spec.kind} "
                        f"{target})", spec.name)
        m = re.search(r"Link ID:\s+(\d+)", out)
        if not m:
            raise Io(f"bpfman attach printed no link id: {out.strip()[:200]}")
        return int(m.group(1))

    def detach(self, link_id: int) -> None:
        self._run(["detach", str(link_id)], f"detach link {link_id}")

    def unload(self, prog_id: int) -> None:
        self._run(["unload", str(prog_id)], f"unload program {prog_id}")


class BpfmanRuntime:
    """The seed's BpfRuntime over bpfman: load_program loads the object holding the program
    (from the artifacts), attach_program is idempotent, detach_program of a program that is
    not attached fails, create_map is checked at load (bpfman creates an object's maps)."""

    def __init__(self, target, bpfman: Bpfman | None = None, netns: str | None = None):
        self.t, self.b, self.netns = target, bpfman or Bpfman(), netns
        self.links: dict[str, int] = {}
        self.maps: list[MapSpec] = []

    def create_map(self, spec: MapSpec) -> None:
        if all(m.name != spec.name for m in self.maps):
            self.maps.append(spec)

    def load_program(self, spec: ProgramSpec) -> LoadedProgram:
        refuse_unsupported([spec])
        file = self.t.owner.get(snake(spec.name))
        if file is None:
            raise Io(f"no built object holds program `{spec.name}`")
        load_type = BPFMAN_PROGRAMS[spec.kind].load_type or ""
        ids = self.b.load(str(self.t.object_path(file).resolve()), [(load_type, snake(spec.name))],
                          application(self.t.policy))
        return LoadedProgram(spec.name, ids[snake(spec.name)])

    def attach_program(self, prog: LoadedProgram) -> None:
        if prog.name in self.links:
            return
        spec = next(p for p in self.t.programs if p.name == prog.name)
        self.links[prog.name] = self.b.attach(prog.token, spec, self.netns)

    def detach_program(self, prog: LoadedProgram) -> None:
        link = self.links.pop(prog.name, None)
        if link is None:
            raise AttachFailed(f"program `{prog.name}` is not attached")
        self.b.detach(link)

    def unload_program(self, prog: LoadedProgram) -> None:
        self.b.unload(prog.token)
