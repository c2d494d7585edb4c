"""`build --verify`: load every object into the kernel (scratch pins, then removed)
so the verifier judges it at build time; a rejection names policy, program and log."""

from __future__ import annotations

import os
from pathlib import Path

from tatara_build.diagnostics import SourceCache, error
from tatara_build.errors import BuildError, EnvironmentProblem
from tatara_build.model.kinds import PROGRAM_KINDS, section_feature
from tatara_build.runtime import bpftool, objprep, verifylog
from tatara_build.runtime.probe import bpffs_mounted, program_types, scratch_pins


def unsupported_kinds(programs: list[dict]) -> list[str]:
    """Program kinds in an object that this kernel cannot load (from feature probe); the
    section decides the kernel type (fentry/ is `tracing`, model/kinds.py SECTION_KINDS)."""
    types = program_types()
    out = set()
    for p in programs:
        feature = section_feature(p["section"]) or (
            PROGRAM_KINDS[p["kind"]].kernel_feature if p["kind"] else "")
        if types.get(feature) is False:
            out.add(f"{p['kind']} ({p['section']})")
    return sorted(out)


def verify_object(policy: str, obj: Path, programs: list[dict]) -> str | None:
    """Load `obj`; None when accepted, a skip reason when the kernel lacks a kind."""
    if os.geteuid() != 0 or not bpffs_mounted():
        raise EnvironmentProblem("--verify needs root and bpffs at /sys/fs/bpf "
                                 "(mount -t bpf bpf /sys/fs/bpf)")
    missing = unsupported_kinds(programs)
    if missing:
        return f"this kernel cannot load {', '.join(missing)} programs (bpftool feature probe)"
    with scratch_pins("tatara-verify-") as scratch:
        res, shown = objprep.loadall(obj, scratch / "progs", {}, scratch / "maps")
        if not res.ok:
            raise refusal(policy, bpftool.load_failure(res, shown))
        if "BTF is optional, ignoring" in res.stderr:
            raise BuildError(f"policy `{policy}`: the kernel refused the BTF of {obj.name} "
                             "(maps would have no formatted dumps):\n" + res.stderr[-2000:])
        return None


def refusal(policy: str, err: Exception) -> BuildError:
    """The build error for a refused object: at the spec form whose code the verifier
    refused when the line table knows it (runtime/verifylog.py), with the verifier's own
    last lines (the whole log is `bpftool -d prog load`'s to give)."""
    log = getattr(err, "log", "")
    where = getattr(err, "where", None)
    diags = []
    if where is not None:
        diags.append(error(f"the kernel's verifier refused the code lowered from this form "
                           f"(program `{err.program}`, {where.generated})", where.span,
                           "the verifier's last lines are below"))
    text = f"policy `{policy}`: {err}"
    if log:
        shown = verifylog.last_lines(log)
        cut = len([ln for ln in log.splitlines() if ln.strip()]) - len(shown.splitlines())
        text += "\nverifier log:\n" + (f"… {cut} earlier lines\n" if cut > 0 else "") + shown
    return BuildError(text, diags, SourceCache())
