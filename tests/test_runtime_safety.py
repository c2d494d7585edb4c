"""Issue 11 in the real kernel: the runtime never deletes what is not its own, checks what
it loads, survives a bad journal and converges. Every case runs in a lab of its own
(tests/runtime_lab.py) and is followed by the deletion canary check.

Figures (hostile manifests / journals tried and refused, canary deletions) are printed
and appended to $TATARA_RUNTIME_FIGURES when set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tatara_build.errors import TataraError
from tatara_build.runtime import lifecycle
from tatara_build.runtime.kernel import Kernel
from tatara_build.runtime.observe import drift
from tatara_build.runtime.state import Journal
from tests.kernel_util import require_kernel
from tests.runtime_lab import Lab, build, sh, target

pytestmark = [pytest.mark.kernel, pytest.mark.compile]
FIGURES: dict[str, int] = {}


def figure(name: str, n: int = 1) -> None:
    FIGURES[name] = FIGURES.get(name, 0) + n


@pytest.fixture(scope="module", autouse=True)
def report_figures():
    yield
    line = "runtime safety figures: " + ", ".join(f"{k}={v}" for k, v in sorted(FIGURES.items()))
    print("\n" + line)
    if os.environ.get("TATARA_RUNTIME_FIGURES"):
        with open(os.environ["TATARA_RUNTIME_FIGURES"], "a") as fh:
            fh.write(line + "\n")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    require_kernel()
    tmp = tmp_path_factory.mktemp("safe")
    cg = f"/sys/fs/cgroup/unified/tatara-safe-{os.getpid() % 100000}"
    port = 20000 + 2 * (os.getpid() % 20000)  # code of its own: cargo's cache can't answer
    return build(tmp, cg, port), build(tmp, cg, port + 1)


@pytest.fixture
def lab(tmp_path, builds):
    lab = Lab(tmp_path)
    try:
        lab.up()
        lab.digest = lab.canary_digest()
        yield lab
        assert lab.canary_digest() == lab.digest, "a file outside the pin root was removed"
    finally:
        lab.down()


def cli(lab: Lab, verb: str, spec: Path, artifacts: Path, *extra: str, root: str | None = None
        ) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "tatara_build", verb, "rt_all", str(spec), "--artifacts",
            str(artifacts), "--pin-root", root or str(lab.root), *extra]
    if verb == "apply":
        args += ["--netns", lab.netns]
    return subprocess.run(args, capture_output=True, text=True,
                          env={**os.environ, "TATARA_STATE_DIR": str(lab.state)})


def clean_refusal(r: subprocess.CompletedProcess, codes: tuple[int, ...], *words: str) -> None:
    assert r.returncode in codes, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)


def copy_artifacts(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


# --- 1. ownership: manifests, pin roots, journals --------------------------------------------
def hostile_manifests(lab: Lab) -> list[tuple[str, object]]:
    """(label, what to put in objects[0]) pairs; a callable gets the whole manifest."""
    c = str(lab.canary)
    return [("absolute", {"file": f"{c}/v.bpf.o"}), ("dotdot", {"file": f"../../../../{c}/v.bpf.o"}),
            ("subdir", {"file": "sub/rt_all.bpf.o"}), ("empty", {"file": ""}),
            ("dot", {"file": "."}), ("dotdot-only", {"file": ".."}),
            ("newline", {"file": "rt_all\n.bpf.o"}), ("nul", {"file": "rt\u0000all.bpf.o"}),
            ("not-a-string", {"file": 7}), ("sha-short", {"sha256": "abc"}),
            ("sha-missing", {"sha256": None}), ("programs-not-list", {"programs": "rt_xdp"}),
            ("maps-bad", {"maps": [1, 2]}), ("objects-not-list", "objects"),
            ("manifest-list", "list"), ("non-utf8", "bytes"), ("duplicate", "dup")]


def write_manifest(folder: Path, label: str, patch) -> None:
    path = folder / "tatara.manifest.json"
    data = json.loads(path.read_text())
    if patch == "objects":
        data["objects"] = {"x": 1}
    elif patch == "list":
        data = [data]
    elif patch == "bytes":
        path.write_bytes(b'{"objects": ["\xff\xfe"]}')
        return
    elif patch == "dup":
        data["objects"].append(dict(data["objects"][0]))
    else:
        data["objects"][0].update(patch)
    path.write_text(json.dumps(data))


def test_hostile_manifests_are_refused_before_anything(lab, builds):
    (spec, arts), _ = builds
    cases = hostile_manifests(lab)
    for label, patch in cases:
        folder = copy_artifacts(arts / "rt_all", lab.state.parent / f"arts-{label}" / "rt_all")
        write_manifest(folder, label, patch)
        r = cli(lab, "apply", spec, folder.parent)
        clean_refusal(r, (1, 4), "tatara.manifest.json")
        assert lab.empty(), label
        assert lab.canary_digest() == lab.digest, label
        figure("hostile_manifests_tried")
        figure("hostile_manifests_refused")
    assert FIGURES["hostile_manifests_refused"] >= len(cases)


def test_object_checked_against_manifest_sha256(lab, builds):
    (spec, arts), (_, arts2) = builds
    folder = copy_artifacts(arts / "rt_all", lab.state.parent / "a" / "rt_all")
    obj = folder / "rt_all.bpf.o"
    data = bytearray(obj.read_bytes())
    for label, change in (("other-policy", (arts2 / "rt_all" / "rt_all.bpf.o").read_bytes()),
                          ("byte-flip", bytes(data[:200]) + bytes([data[200] ^ 0xFF]) +
                           bytes(data[201:]))):
        obj.write_bytes(change)
        r = cli(lab, "apply", spec, folder.parent)
        clean_refusal(r, (4,), "rt_all.bpf.o", "does not match the manifest")
        assert lab.empty(), label
        figure("hostile_objects_refused")


def test_corrupt_object_with_matching_hash_fails_cleanly(lab, builds):
    """Corrupt bytes that the manifest vouches for: bpftool prints raw bytes; exit 4, not 70,
    and nothing left pinned or attached."""
    import hashlib
    (spec, arts), _ = builds
    folder = copy_artifacts(arts / "rt_all", lab.state.parent / "c" / "rt_all")
    obj = folder / "rt_all.bpf.o"
    good = obj.read_bytes()
    manifest = json.loads((folder / "tatara.manifest.json").read_text())
    tried = 0
    for off in range(64, len(good), max(1, len(good) // 24)):
        bad = good[:off] + bytes([good[off] ^ 0xA5]) + good[off + 1:]
        obj.write_bytes(bad)
        manifest["objects"][0]["sha256"] = hashlib.sha256(bad).hexdigest()
        (folder / "tatara.manifest.json").write_text(json.dumps(manifest))
        r = cli(lab, "apply", spec, folder.parent)
        assert r.returncode in (0, 4), (off, r.returncode, r.stderr[-1500:])
        assert "Traceback" not in r.stderr
        if r.returncode == 0:
            assert cli(lab, "detach", spec, folder.parent).returncode == 0
        assert lab.empty(), off
        tried += 1
    figure("corrupt_objects_tried", tried)


@pytest.mark.parametrize("verb", ["apply", "detach", "status"])
def test_pin_root_not_on_bpffs_is_refused(lab, builds, verb):
    (spec, arts), _ = builds
    victim = lab.canary / "rt_all"
    victim.mkdir()
    (victim / "precious.txt").write_text("mine")
    r = cli(lab, verb, spec, arts, root=str(lab.canary))
    clean_refusal(r, (1,), "not on a BPF filesystem")
    assert (victim / "precious.txt").read_text() == "mine"
    lab.digest = lab.canary_digest()


@pytest.mark.parametrize("root", ["{r}\nmap create {r}/INJECTED type array key 4 value 4 entries 1",
                                  "{r} x", "{r}/a'b", "{r}/../../etc", "relative/path"])
def test_pin_root_with_special_characters_is_refused(lab, builds, root):
    (spec, arts), _ = builds
    r = cli(lab, "apply", spec, arts, root=root.format(r=lab.root))
    clean_refusal(r, (1,), "--pin-root")
    assert not list(Path("/sys/fs/bpf").glob("**/INJECTED")) if lab.root.exists() else True
    assert lab.empty()


def test_reused_map_is_never_removed_by_detach(lab, builds):
    (spec, arts), _ = builds
    shared = lab.bpf_canary / "flows"
    sh("bpftool", "map", "create", str(shared), "type", "hash", "key", "4", "value", "8",
       "entries", "64", "name", "rt_flows")
    t = target(spec, arts, lab.root)
    t.maps = [replace(m, **{"pin_path": str(shared)}) if m.name == "rt_flows" else m
              for m in t.maps]
    actions = lifecycle.apply(t, Kernel(lab.netns))
    assert ("reuse-map", "rt_flows") in {(a.kind, a.target) for a in actions}
    lifecycle.detach(t, Kernel(lab.netns))
    assert shared.exists(), "detach removed a map the policy did not create"
    assert lab.empty()


def test_map_created_at_spec_pin_path_is_removed_by_detach(lab, builds):
    (spec, arts), _ = builds
    own = lab.bpf_canary / "own_flows"
    t = target(spec, arts, lab.root)
    t.maps = [replace(m, **{"pin_path": str(own)}) if m.name == "rt_flows" else m
              for m in t.maps]
    lifecycle.apply(t, Kernel(lab.netns))
    assert own.exists() and Journal("rt_all").applied["created"] == [str(own)]
    lifecycle.detach(t, Kernel(lab.netns))
    assert not own.exists() and lab.empty()


# --- hostile journals -------------------------------------------------------------------------
def hostile_journals(lab: Lab) -> list[tuple[str, str, bytes | None]]:
    """(label, file: json|steps, content) — None deletes the file."""
    c = str(lab.canary)
    unpin = json.dumps({"op": "unpin", "path": f"{c}/v"}).encode()
    return [("random", "json", os.urandom(300)), ("empty", "json", b""),
            ("truncated", "json", None), ("deleted", "json", None),
            ("list", "json", b"[1, 2, 3]"), ("non-utf8", "json", b'{"status": "\xff"}'),
            ("wrong-types", "json", b'{"status": "applied", "applied": {"objects": [1]}}'),
            ("applying-no-steps", "json", b'{"status": "applying", "applied": {}}'),
            ("unpin-canary", "steps", unpin + b"\n" + unpin + b"\n"),
            ("unpin-dotdot", "steps", json.dumps({"op": "unpin", "path":
                                                  f"{lab.root}/rt_all/../../../{c}"}).encode()
             + b"\n" + b'{"ok": 1}\n'),
            ("foreign-dev", "steps", b'{"op": "tc-qdisc-del", "dev": "lo", "netns": null}\n'
                                     b'{"op": "xdp-detach", "dev": "lo", "netns": null, '
                                     b'"name": "x", "tag": "0000000000000000"}\n'),
            ("unknown-op", "steps", b'{"op": "rm-rf", "path": "/"}\n{"op": "unpin"}\n'),
            ("steps-non-utf8", "steps", b"\xff\xfe\n\x00\n"),
            ("applied-attach-canary", "json", json.dumps(
                {"status": "applied", "applied": {"attach": {"rt_xdp": [
                    {"op": "unpin", "path": f"{c}/w"}]}, "created": [f"{c}/w/x"]}}).encode())]


def corrupt(lab: Lab, file: str, content: bytes | None, label: str) -> None:
    path = lab.state / ("rt_all.json" if file == "json" else "rt_all.steps.jsonl")
    if label == "truncated":
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
        return
    if content is None:
        path.unlink(missing_ok=True)
        return
    path.write_bytes(content)
    if file == "steps":  # a steps log is read only while an apply is marked as running
        state = json.loads((lab.state / "rt_all.json").read_text())
        state["status"] = "applying"
        (lab.state / "rt_all.json").write_text(json.dumps(state))


def test_hostile_journals_never_exit_70_and_detach_still_removes(lab, builds):
    """Each hostile journal after a real apply: status reports (no crash), then either
    apply repairs (in sync, no orphans) or detach removes everything we own. In-process
    (an exception that is not a TataraError would be exit 70), and through the CLI for
    the cases the issue names (exit codes as a user sees them)."""
    (spec, arts), _ = builds
    t = target(spec, arts, lab.root)
    cases = hostile_journals(lab)
    through_cli = {"random", "list", "non-utf8", "unpin-canary", "deleted"}
    for label, file, content in cases:
        for then in ("apply", "detach"):
            lifecycle.apply(t, Kernel(lab.netns))
            corrupt(lab, file, content, label)
            if label in through_cli:
                r = cli(lab, "status", spec, arts, "--json")
                assert r.returncode in (0, 6), (label, r.returncode, r.stderr[-1500:])
                r = cli(lab, then, spec, arts)
                assert r.returncode == 0, (label, then, r.stderr[-1500:])
            else:
                drift(t, Kernel(lab.netns))
                (lifecycle.apply if then == "apply" else lifecycle.detach)(t, Kernel(lab.netns))
            if then == "apply":
                assert drift(t, Kernel(lab.netns))["state"] == "in sync", label
                assert lab.orphans(t, applied=True) == [], label
                lifecycle.detach(t, Kernel(lab.netns))
            assert lab.empty(), (label, then, lab.net(), lab.cgroup_progs())
            assert lab.canary_digest() == lab.digest, label
        figure("hostile_journals_tried")
        figure("hostile_journals_refused")


# --- 2. reconcile -----------------------------------------------------------------------------
def test_apply_reattaches_lost_attachments(lab, builds):
    (spec, arts), _ = builds
    t = target(spec, arts, lab.root)
    assert cli(lab, "apply", spec, arts).returncode == 0
    sh(*lab.ns("bpftool", "net", "detach", "xdp", "dev", "eth0"))
    r = cli(lab, "status", spec, arts, "--json")
    assert r.returncode == 6
    assert ("missing", "attach", "rt_xdp") in {(d["what"], d["kind"], d["name"])
                                               for d in json.loads(r.stdout)["drift"]}
    r = cli(lab, "apply", spec, arts)
    assert r.returncode == 0 and "reattach" in r.stdout, r.stdout
    assert cli(lab, "status", spec, arts).returncode == 0
    # the interface is deleted and created again: xdp, tc filter and clsact are gone with it
    sh("ip", "link", "del", lab.host_if)
    lab.veth()
    assert cli(lab, "status", spec, arts).returncode == 6
    r = cli(lab, "apply", spec, arts)
    assert r.returncode == 0 and "reattach" in r.stdout, r.stdout + r.stderr
    assert cli(lab, "status", spec, arts).returncode == 0 and lab.has_clsact()
    lifecycle.detach(t, Kernel(lab.netns))
    assert lab.empty()


def test_status_compares_with_the_current_spec_and_artifacts(lab, builds):
    (spec, arts), (_, arts2) = builds
    t = target(spec, arts, lab.root)
    lifecycle.apply(t, Kernel(lab.netns))
    assert drift(t, Kernel(lab.netns))["state"] == "in sync"
    bigger = replace(t.maps[1], **{"value_size": 16})
    t_map = target(spec, arts, lab.root)
    t_map.maps = [bigger if m.name == bigger.name else m for m in t_map.maps]
    found = {(d["what"], d["kind"], d["name"]) for d in drift(t_map, Kernel())["drift"]}
    assert ("different", "map", "rt_flows") in found
    t_obj = target(spec, arts, lab.root)
    t_obj.objects = {f: {**o, "sha256": "0" * 64} for f, o in t_obj.objects.items()}
    found = {(d["what"], d["kind"], d["name"]) for d in drift(t_obj, Kernel())["drift"]}
    assert ("different", "object", "rt_all.bpf.o") in found
    lifecycle.detach(t, Kernel(lab.netns))
    assert lab.empty()


# --- 3. state folder faults -------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_state_folder_fault_is_found_before_the_kernel_changes(lab, builds, fault, tmp_path):
    (spec, arts), _ = builds
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    sh("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt))
    try:
        if fault == "full":
            subprocess.run(["dd", "if=/dev/zero", f"of={mnt}/fill", "bs=4k", "count=64"],
                           capture_output=True)
        else:
            sh("mount", "-o", "remount,ro", str(mnt))
        env = {**os.environ, "TATARA_STATE_DIR": str(mnt / "state")}
        r = subprocess.run([sys.executable, "-m", "tatara_build", "apply", "rt_all", str(spec),
                            "--artifacts", str(arts), "--pin-root", str(lab.root), "--netns",
                            lab.netns], capture_output=True, text=True, env=env)
        clean_refusal(r, (5,), str(mnt / "state"))
        assert lab.empty()
    finally:
        sh("umount", str(mnt), check=False)


def test_errors_are_typed_not_internal(lab, builds):
    """A journal unreadable in every way still yields a TataraError or success in-process."""
    (spec, arts), _ = builds
    t = target(spec, arts, lab.root)
    lab.state.mkdir(parents=True, exist_ok=True)
    (lab.state / "rt_all.json").write_bytes(b"\x00" * 10)
    try:
        lifecycle.apply(t, Kernel(lab.netns))
    except TataraError as exc:  # pragma: no cover - shown if it happens
        pytest.fail(f"apply refused: {exc}")
    assert drift(t, Kernel(lab.netns))["state"] == "in sync"
    lifecycle.detach(t, Kernel(lab.netns))
    assert lab.empty()
