"""kill -9 soak: apply, replace and detach are killed at random instants, then the next
apply (or detach) must converge with zero orphans and the map contents kept.

Each operation runs in a forked child (its own process group, so the bpftool and tc
processes it started die with it) and is SIGKILLed after a random delay drawn from the
operation's measured length. Kills may pile up (a kill, then a kill of the next
attempt) before a convergence is checked. TATARA_SOAK_KILLS (default 200) sets how many
kills, TATARA_SOAK_SECONDS (default 420; 200 kills took 290 s on 2 cores shared with
~8 other jobs, load average 10) bounds the time, TATARA_SOAK_SEED the random
seed. Figures are printed and appended to $TATARA_RUNTIME_FIGURES when set.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time

import pytest

from tatara_build.runtime import lifecycle
from tatara_build.runtime.kernel import Kernel
from tatara_build.runtime.observe import drift
from tests.kernel_util import require_kernel
from tests.runtime_lab import Lab, build, sh, target

pytestmark = [pytest.mark.kernel, pytest.mark.compile]
MARK_KEY, MARK_VALUE = bytes([10, 11, 12, 13]), (4242).to_bytes(8, "little")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    require_kernel()
    tmp = tmp_path_factory.mktemp("soak")
    cg = f"/sys/fs/cgroup/unified/tatara-safe-{os.getpid() % 100000}"
    port = 40000 + 2 * (os.getpid() % 10000)  # code of its own: cargo's cache can't answer
    return build(tmp, cg, port), build(tmp, cg, port + 1)


def killed_run(op: str, t, netns: str, delay: float) -> bool:
    """Run `op` in a child and SIGKILL its process group after `delay`; True if killed."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.setpgid(0, 0)
        code = 0
        try:
            (lifecycle.detach if op == "detach" else lifecycle.apply)(t, Kernel(netns))
        except BaseException:
            code = 1
        os._exit(code)
    time.sleep(delay)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _, status = os.waitpid(pid, 0)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # its bpftool/tc children die a moment later
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.005)
    return os.WIFSIGNALED(status)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def set_mark(pin) -> None:
    sh("bpftool", "map", "update", "pinned", str(pin), "key", "hex",
       *(f"{b:02x}" for b in MARK_KEY), "value", "hex", *(f"{b:02x}" for b in MARK_VALUE))


def has_mark(pin) -> bool:
    r = sh("bpftool", "-j", "map", "lookup", "pinned", str(pin), "key", "hex",
           *(f"{b:02x}" for b in MARK_KEY), check=False)
    if r.returncode != 0:
        return False
    return bytes(int(b, 16) for b in json.loads(r.stdout)["value"]) == MARK_VALUE


def test_kill_9_soak_converges(builds, tmp_path):
    (spec1, arts1), (spec2, arts2) = builds
    want = int(os.environ.get("TATARA_SOAK_KILLS", "200"))
    budget = float(os.environ.get("TATARA_SOAK_SECONDS", "420"))
    rng = random.Random(int(os.environ.get("TATARA_SOAK_SEED", str(os.getpid()))))
    lab = Lab(tmp_path)
    lab.up()
    digest = lab.canary_digest()
    figs = {"kills_tried": 0, "kills_converged": 0, "orphans": 0, "lost_map_entries": 0,
            "converges": 0, "converged_by_detach": 0, "completed_unkilled": 0}
    try:
        versions = {1: target(spec1, arts1, lab.root), 2: target(spec2, arts2, lab.root)}
        flows = versions[1].layout.maps / "rt_flows"
        length = {"apply": timed(lambda: lifecycle.apply(versions[1], Kernel(lab.netns)))}
        set_mark(flows)
        length["replace"] = timed(lambda: lifecycle.apply(versions[2], Kernel(lab.netns)))
        length["detach"] = timed(lambda: lifecycle.detach(versions[2], Kernel(lab.netns)))
        lifecycle.apply(versions[1], Kernel(lab.netns))
        set_mark(flows)
        current, marked, pending = 1, True, 0
        start = time.monotonic()
        while figs["kills_tried"] < want and time.monotonic() - start < budget:
            op = rng.choice(["apply", "replace", "replace", "detach"])
            version = current if op == "apply" else (3 - current)
            killed = killed_run(op, versions[version], lab.netns,
                                rng.uniform(0, 0.8 * length[op]))
            figs["kills_tried"] += killed
            figs["completed_unkilled"] += not killed
            pending += killed
            if op == "detach":
                marked = False
            if op != "detach" and rng.random() < 0.7 and pending < 6:
                continue  # pile another kill on top before converging
            # a killed apply is followed by the next apply, or (issue 11 #3) by a detach
            mode = "detach" if op == "detach" or rng.random() < 0.2 else "apply"
            errors = converge(lab, versions, mode, version, marked, figs)
            if mode == "detach":
                marked = False
            elif not marked:
                set_mark(flows)
                marked = True
            current = version if op != "detach" else current
            figs["kills_converged"] += pending if not errors else 0
            figs["converges"] += 1
            figs["converged_by_detach"] += mode == "detach"
            assert not errors, (op, mode, errors, figs)
            pending = 0
        if pending:
            assert not converge(lab, versions, "apply", current, marked, figs)
            figs["kills_converged"] += pending
        lifecycle.detach(versions[current], Kernel(lab.netns))
        assert lab.empty()
        assert lab.canary_digest() == digest
    finally:
        figs["seconds"] = round(time.monotonic() - start, 1) if "start" in dir() else 0
        line = "kill -9 soak figures: " + ", ".join(f"{k}={v}" for k, v in figs.items())
        print("\n" + line)
        if os.environ.get("TATARA_RUNTIME_FIGURES"):
            with open(os.environ["TATARA_RUNTIME_FIGURES"], "a") as fh:
                fh.write(line + "\n")
        lab.down()
    assert figs["kills_tried"] >= want, f"only {figs['kills_tried']} kills within {budget}s"
    assert figs["kills_converged"] == figs["kills_tried"] and figs["orphans"] == 0
    assert figs["lost_map_entries"] == 0


def converge(lab: Lab, versions: dict, mode: str, version: int, marked: bool, figs: dict
             ) -> list[str]:
    """The next command after the kill(s) must converge; what is wrong afterwards."""
    t = versions[version]
    if mode == "detach":
        lifecycle.detach(t, Kernel(lab.netns))
        orphans = lab.orphans(t, applied=False)
        figs["orphans"] += len(orphans)
        return orphans + ([] if lab.empty() else ["not empty after detach"])
    lifecycle.apply(t, Kernel(lab.netns))
    errors = []
    report = drift(t, Kernel(lab.netns))
    if report["state"] != "in sync":
        errors.append(f"drift {report['drift']}")
    orphans = lab.orphans(t, applied=True)
    figs["orphans"] += len(orphans)
    if marked and not has_mark(t.layout.maps / "rt_flows"):
        figs["lost_map_entries"] += 1
        errors.append("map entry lost")
    return errors + orphans


def test_replace_killed_at_each_step_converges_to_the_new_policy(builds, tmp_path):
    """Issue 11 #2: a replace killed between any two steps; the next apply exits 0, the
    kernel holds the new policy, nothing is orphaned and the map contents are kept."""
    import subprocess
    import sys

    (spec1, arts1), (spec2, arts2) = builds
    lab = Lab(tmp_path, tag=f"r{os.getpid() % 10000}")
    lab.up()
    try:
        t1, t2 = target(spec1, arts1, lab.root), target(spec2, arts2, lab.root)
        argv = [sys.executable, "-m", "tatara_build", "apply", "rt_all", str(spec2),
                "--artifacts", str(arts2), "--pin-root", str(lab.root), "--netns", lab.netns]
        for step in range(1, 7):
            lifecycle.apply(t1, Kernel(lab.netns))
            set_mark(t1.layout.maps / "rt_flows")
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, "TATARA_PAUSE_AFTER_STEP": str(step)})
            try:
                assert f"paused after {step} steps" in p.stdout.readline()
            finally:
                p.send_signal(signal.SIGKILL)
                p.wait()
            r = subprocess.run(argv, capture_output=True, text=True)
            assert r.returncode == 0, (step, r.stderr[-1500:])
            assert drift(t2, Kernel(lab.netns))["state"] == "in sync", step
            assert lab.orphans(t2, applied=True) == [], step
            assert has_mark(t2.layout.maps / "rt_flows"), step
            lifecycle.apply(t1, Kernel(lab.netns))  # and back, for the next step
    finally:
        lifecycle.detach(target(spec1, arts1, lab.root), Kernel(lab.netns))
        empty = lab.empty()
        lab.down()
    assert empty
