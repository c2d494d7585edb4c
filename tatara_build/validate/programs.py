"""Program rules: upstream's two checks (exact text), then attach points per kind."""

from __future__ import annotations

import re
from collections.abc import Iterable

from tatara_build.diagnostics import Diagnostic, error, note
from tatara_build.model.kinds import GPL_COMPATIBLE, PROGRAM_KINDS
from tatara_build.validate.context import Context

IFNAME = re.compile(r"(?!\.\.?\Z)[A-Za-z0-9_.\-]{1,15}\Z")
TRACEPOINT = re.compile(r"[a-z0-9_]+/[a-z0-9_]+\Z")
KSYM = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*(\+[0-9]+)?\Z")
LSM_HOOK = re.compile(r"[a-z_][a-z0-9_]*\Z")
CGROUP = re.compile(r"/sys/fs/cgroup(/[A-Za-z0-9_.\-]+)*/?\Z")
PERF_EVENTS = {
    "software": ("cpu-clock", "task-clock", "page-faults", "context-switches", "cpu-migrations"),
    "hardware": ("cpu-cycles", "instructions", "cache-references", "cache-misses",
                 "branch-instructions", "branch-misses"),
}
PERF_EVENT = re.compile(r"(software|hardware)/([a-z-]+)(@[0-9]+hz)?\Z")
DIRECTIONS = ("ingress", "egress")


def license_check(ctx: Context) -> Iterable[Diagnostic]:
    for prog in ctx.project.programs:
        s = prog.spec
        if s.uses_maps and s.license not in GPL_COMPATIBLE:
            yield error("BPF program declares `:uses-maps` but `:license` "
                        f"`{s.license}` is not GPL-compatible — kernel verifier will reject calls "
                        "to bpf_map_lookup_elem etc.", prog.span("license") or prog.span("name"),
                        "use one of " + ", ".join(f'"{x}"' for x in GPL_COMPATIBLE))
        if "\0" in s.license or not s.license.isprintable():
            yield error("`:license` must be printable text without NUL", prog.span("license"))


def target_check(ctx: Context) -> Iterable[Diagnostic]:
    """Upstream: xdp/tc need a non-empty attach target."""
    for prog in ctx.project.programs:
        s = prog.spec
        if PROGRAM_KINDS[s.kind].needs_target and not s.attach.target:
            yield error(f"BPF program kind `{s.kind}` requires `:attach (:target \"<iface>\")` — "
                        "got empty target", prog.span("attach") or prog.span("kind"))


def _target_problem(rule: str, target: str) -> tuple[str, str] | None:
    """(problem, help) for a non-empty target that does not fit the kind's `target_rule`."""
    if rule == "ifname" and not IFNAME.match(target):
        return ("is not an interface name (1-15 of letters, digits, `_`, `.`, `-`)",
                'e.g. :attach (:target "eth0")')
    if rule == "tracepoint" and not TRACEPOINT.match(target):
        return ("is not a tracepoint `category/name`", 'e.g. "syscalls/sys_enter_openat"')
    if rule == "ksym" and not KSYM.match(target):
        return ("is not a kernel symbol (optionally `+offset`)", 'e.g. "do_sys_openat2"')
    if rule == "lsm-hook" and not LSM_HOOK.match(target):
        return ("is not an LSM hook name", 'e.g. "file_open"')
    if rule == "cgroup" and (not CGROUP.match(target) or "/../" in target + "/"):
        return ("is not a cgroup v2 path under /sys/fs/cgroup", 'e.g. "/sys/fs/cgroup/unified/web"')
    if rule == "perf-event":
        m = PERF_EVENT.match(target)
        if not m or m.group(2) not in PERF_EVENTS[m.group(1)]:
            return ("is not a perf event `software|hardware/<event>[@<N>hz]`",
                    "e.g. \"software/cpu-clock@99hz\"; software events: "
                    + ", ".join(PERF_EVENTS["software"]))
    return None


def attach_check(ctx: Context) -> Iterable[Diagnostic]:
    for prog in ctx.project.programs:
        s = prog.spec
        k = PROGRAM_KINDS[s.kind]
        target, direction = s.attach.target, s.attach.direction
        tspan = prog.span("attach.target")
        if target and k.target_rule:
            problem = _target_problem(k.target_rule, target)
            if problem:
                yield error(f"program `{s.name}`: target `{target}` {problem[0]}", tspan, problem[1])
        elif not target and k.target_rule and not k.needs_target:
            yield error(f"program `{s.name}`: kind `{s.kind}` needs `:attach (:target ...)`",
                        prog.span("attach") or prog.span("kind"))
        dspan = prog.span("attach.direction")
        if k.direction and direction not in DIRECTIONS:
            got = "none" if direction is None else f"`{direction}`"
            yield error(f"program `{s.name}`: kind `{s.kind}` needs :direction \"ingress\" or "
                        f"\"egress\", got {got}", dspan, ':attach (:target "eth0" :direction "ingress")')
        elif not k.direction and direction is not None:
            yield error(f"program `{s.name}`: kind `{s.kind}` takes no :direction", dspan)
        if k.attach == "socket":
            yield note(f"program `{s.name}`: socket filters are loaded and pinned; a process "
                       "attaches them to its socket (SO_ATTACH_BPF)", prog.span("kind"))


RULES = [license_check, target_check, attach_check]
