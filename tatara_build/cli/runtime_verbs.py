"""`plan`, `apply`, `status`, `detach`, `map`: the policy lifecycle from the command line."""

from __future__ import annotations

import os
from pathlib import Path

from tatara_build.cli.common import emit_json
from tatara_build.errors import EXIT_DRIFT, EnvironmentProblem, SpecError
from tatara_build.runtime import lifecycle
from tatara_build.runtime.kernel import Kernel
from tatara_build.runtime.layout import DEFAULT_ROOT
from tatara_build.runtime.probe import BPFFS, bpffs_mounted
from tatara_build.runtime.safety import check_name, check_pin_root
from tatara_build.runtime.simulated import SimulatedRuntime, spec_target
from tatara_build.runtime.state import Journal
from tatara_build.runtime.target import load_target


def preflight(runtime: str) -> None:
    """Refuse clearly, before touching anything, when the kernel can't be reached."""
    if runtime == "simulated":
        return
    if runtime not in ("bpftool", "bpfman"):
        raise SpecError(f"unknown runtime `{runtime}` (bpftool, bpfman or simulated)")
    if os.geteuid() != 0:
        raise EnvironmentProblem("loading BPF programs needs root (run with sudo)")
    if not bpffs_mounted():
        raise EnvironmentProblem(f"no BPF filesystem at {BPFFS}; mount it with: "
                                 f"mount -t bpf bpf {BPFFS}")


def _target(policy: str, paths: list[Path], artifacts: Path, root: Path | None):
    """The policy's target for the kernel runtime; the pin root is checked first (plain
    characters, on bpffs): nothing is read, loaded or removed under a root that fails."""
    check_pin_root(root or DEFAULT_ROOT)
    return load_target(_project(policy, paths, artifacts), policy, artifacts, root or DEFAULT_ROOT)


def _spec_target(policy: str, paths: list[Path], artifacts: Path, root: Path | None):
    return spec_target(_project(policy, paths, artifacts), policy, artifacts, root or DEFAULT_ROOT)


def _project(policy: str, paths: list[Path], artifacts: Path):
    """Spec paths when given, else the spec the artifacts carry (fleet/artifacts.py)."""
    from tatara_build.cli.common import project_for

    return project_for(policy, paths, artifacts)


def plan(policy: str, paths: list[Path], artifacts: Path, runtime: str, root: Path | None,
         as_json: bool) -> int:
    if runtime == "simulated":  # a strict dry run from the spec; artifacts are optional
        actions = SimulatedRuntime().plan(_spec_target(policy, paths, artifacts, root))
    elif runtime == "bpfman":  # refuses kinds bpfman can't load; needs no bpfman binary
        from tatara_build.fleet import bpfman_apply

        t = _target(policy, paths, artifacts, root)
        actions = bpfman_apply.plan(t, bpfman_apply.BpfmanJournal(t.policy))
    else:
        preflight(runtime)
        t = _target(policy, paths, artifacts, root)
        actions = lifecycle.plan(t, Journal(t.policy))
    _print_actions(actions, as_json, "plan")
    return 0


def apply(policy: str, paths: list[Path], artifacts: Path, runtime: str, root: Path | None,
          netns: str | None, as_json: bool) -> int:
    preflight(runtime)
    if netns is not None:
        check_name("--netns", netns)
    if runtime == "simulated":
        actions = SimulatedRuntime().apply(_spec_target(policy, paths, artifacts, root))
    elif runtime == "bpfman":
        from tatara_build.fleet import bpfman_apply
        from tatara_build.runtime.bpfman_runtime import Bpfman

        actions = bpfman_apply.apply(_target(policy, paths, artifacts, root), Bpfman(), netns)
    else:
        from tatara_build.fleet.bpfman_apply import applied_by_bpfman

        t = _target(policy, paths, artifacts, root)
        if applied_by_bpfman(t.policy):
            raise SpecError(f"policy `{t.policy}` is applied through bpfman: detach it first, "
                            "or apply with --runtime bpfman")
        k = Kernel(netns)
        actions = lifecycle.apply(t, k)
    _print_actions(actions, as_json, "applied")
    return 0


def status(policy: str, paths: list[Path], artifacts: Path, root: Path | None,
           as_json: bool) -> int:
    from tatara_build.runtime.observe import drift

    t = _target(policy, paths, artifacts, root)
    preflight("bpftool")
    report = _bpfman("status", t) or drift(t, Kernel(Journal(t.policy).applied.get("netns")))
    if as_json:
        emit_json(report)
    else:
        print(f"policy {t.policy}: {report['state']}")
        for d in report["drift"]:
            print(f"  {d['what']:<9} {d['kind']:<7} {d['name']}  {d.get('detail', '')}")
    return 0 if report["state"] in ("in sync", "absent") else EXIT_DRIFT


def detach(policy: str, paths: list[Path], artifacts: Path, root: Path | None,
           as_json: bool, netns: str | None = None) -> int:
    t = _target(policy, paths, artifacts, root)
    preflight("bpftool")
    applied_in = Journal(t.policy).applied.get("netns")
    if netns and applied_in and netns != applied_in:  # --netns, as apply takes it
        raise SpecError(f"policy `{t.policy}` was applied in netns `{applied_in}`, not "
                        f"`{netns}`: detach --netns {applied_in}")
    n = _bpfman("detach", t)
    n = lifecycle.detach(t, Kernel(netns)) if n is None else n
    if as_json:
        emit_json({"ok": True, "policy": t.policy, "undone": n})
    else:
        print(f"detached policy {t.policy}: {n} attachments removed, pins under {t.layout.base} gone")
    return 0


def _bpfman(verb: str, t):
    """status/detach of a policy that bpfman applied (the journal says which runtime did)."""
    from tatara_build.fleet import bpfman_apply

    if not bpfman_apply.applied_by_bpfman(t.policy):
        return None
    from tatara_build.runtime.bpfman_runtime import Bpfman

    return getattr(bpfman_apply, verb)(t, Bpfman())


def _print_actions(actions, as_json: bool, verb: str) -> None:
    if as_json:
        emit_json({"ok": True, "actions": [a.as_dict() for a in actions]})
        return
    for a in actions:
        print(f"{a.kind:>10}  {a.target}  {a.detail}")
    print(f"{verb}: {len([a for a in actions if a.kind != 'nothing'])} changes")
