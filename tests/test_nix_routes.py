"""The cargo backend's two routes on one machine: bpf-linker (aya's own, chosen when its
LLVM matches rustc's) and asm (the fallback). Objects from each load in the kernel and
give the same defbpf-test verdicts; the manifest says which route built them. Also: a
fresh output folder reuses the compiled dependencies of the shared per-toolchain target."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tatara_build.backends.toolchain import detect, linked_llvm
from tests.conftest import EXAMPLES
from tests.kernel_util import require_kernel

pytestmark = [pytest.mark.nix, pytest.mark.compile]


def cli(*args: str, route: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if route:
        env["TATARA_BUILD_ROUTE"] = route
    return subprocess.run([sys.executable, "-m", "tatara_build", *args], capture_output=True,
                          text=True, env=env)


def verdicts(out: dict) -> list[tuple[str, str, bool]]:
    return sorted((t["name"], t["got"], t["passed"]) for t in out["tests"])


def test_bpf_linker_found_with_rustc_llvm():
    tc = detect()
    assert tc.bpf_linker.found, tc.bpf_linker.note  # scripts/setup-bpf-linker.sh builds it
    assert linked_llvm(Path(tc.bpf_linker.path)).split(".")[0] == tc.llvm.split(".")[0]
    assert tc.route == "bpf-linker", tc.problems


def test_mismatched_llvm_falls_back_to_asm(tmp_path, monkeypatch):
    from tatara_build.backends import toolchain

    monkeypatch.setattr(toolchain, "find_bpf_linker",
                        lambda: (toolchain.Tool("bpf-linker", "/x/bpf-linker", "bpf-linker 0.9"), "19.1"))
    tc = toolchain.detect()
    assert tc.route == "asm"
    assert any("LLVM 19.1" in p and "asm route" in p for p in tc.problems)


def test_both_routes_load_and_give_the_same_test_verdicts(tmp_path):
    require_kernel()
    runs = {}
    for route in ("bpf-linker", "asm"):
        out = tmp_path / route
        r = cli("test", str(EXAMPLES), "-o", str(out), "--json", route=route)
        assert r.returncode == 0, r.stderr[-4000:]
        runs[route] = json.loads(r.stdout)
        m = json.loads((out / "artifacts/edge_protection/tatara.manifest.json").read_text())
        assert m["toolchain"]["route"] == route
        assert (m["toolchain"]["bpf_linker"] != "") == (route == "bpf-linker")
        assert m["objects"][0]["btf_error"] is None
    assert runs["asm"]["passed"] >= 5 and runs["asm"]["failed"] == 0
    assert verdicts(runs["asm"]) == verdicts(runs["bpf-linker"])


def test_fresh_output_folder_reuses_compiled_dependencies(tmp_path):
    from tatara_build.backends.cargo_backend import shared_target_dir

    spec = str(EXAMPLES / "tracepoint-counter.tlisp")
    first = cli("build", spec, "-o", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr[-4000:]
    deps = shared_target_dir(detect()) / "bpfel-unknown-none" / "release" / "deps"
    before = {p.name: p.stat().st_mtime_ns for p in deps.glob("libaya_ebpf*.rlib")}
    assert before  # aya-ebpf compiled into the shared per-toolchain target, not under -o
    assert not (tmp_path / "a" / "target").exists()
    fresh = cli("build", spec, "-o", str(tmp_path / "b"), "--json")
    assert fresh.returncode == 0, fresh.stderr[-4000:]
    assert json.loads(fresh.stdout)["policies"][0]["compiled"] is True
    after = {p.name: p.stat().st_mtime_ns for p in deps.glob("libaya_ebpf*.rlib")}
    assert after == before  # the new folder's build reused them


def test_cargo_json_messages_give_artifact_and_rendered_errors():
    from tatara_build.backends.cargo_backend import read_messages

    lines = [
        json.dumps({"reason": "compiler-artifact", "target": {"name": "aya_ebpf", "kind": ["lib"]},
                    "executable": None, "fresh": True}),
        json.dumps({"reason": "compiler-message", "message": {
            "rendered": "error[E0308]: mismatched types\n --> src/main.rs:3:5\n", "level": "error"}}),
        json.dumps({"reason": "compiler-artifact", "target": {"name": "edge", "kind": ["bin"]},
                    "executable": "/t/bpfel-unknown-none/release/edge", "fresh": False}),
        "not json: cargo's own text",
        json.dumps({"reason": "build-finished", "success": True}),
    ]
    exe, rendered = read_messages("\n".join(lines), "edge")
    assert exe == "/t/bpfel-unknown-none/release/edge"
    assert rendered == ["error[E0308]: mismatched types\n --> src/main.rs:3:5"]
