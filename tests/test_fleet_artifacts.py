"""Self-contained artifacts: the manifest carries the policy's wire-form spec, so the
runtime verbs work from `--artifacts` alone, and a carried spec edited after the build is
refused."""

from __future__ import annotations

import json
import shutil

import pytest

from tatara_build.fleet.artifacts import project_from_manifest
from tests.conftest import EXAMPLES, run_cli

pytestmark = [pytest.mark.compile]


def test_manifest_carries_the_policy_spec(built):
    data = json.loads((built / "artifacts" / "edge_protection" / "tatara.manifest.json").read_text())
    spec = data["spec"]
    assert spec["policy"]["name"] == "edge_protection"
    progs = {p["name"]: p for p in spec["programs"]}
    assert progs["drop_syn_flood"]["attach"]["target"] == "eth0"
    assert progs["rate_limit_tcp"]["attach"]["direction"] == "egress"
    assert {m["name"] for m in spec["maps"]} == {"syn_counter", "tcp_budget"}
    assert spec["tests"] and all(t["program"] in progs for t in spec["tests"])


def test_carried_project_hashes_like_the_sources(built):
    from tatara_build.cli.common import load_project

    carried = project_from_manifest(built / "artifacts" / "edge_protection")
    sources = load_project([EXAMPLES]).project
    assert carried.policy_hash("edge_protection") == sources.policy_hash("edge_protection")


def test_plan_from_artifacts_alone_in_an_empty_folder(built, tmp_path):
    arts = tmp_path / "artifacts"
    shutil.copytree(built / "artifacts" / "edge_protection", arts / "edge_protection")
    r = run_cli("plan", "edge_protection", "--artifacts", str(arts), "--runtime", "simulated",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "attach  drop_syn_flood  :xdp eth0" in r.stdout
    assert "attach  rate_limit_tcp  :tc eth0" in r.stdout


def test_carried_spec_edited_after_the_build_is_refused(built, tmp_path):
    arts = tmp_path / "artifacts"
    shutil.copytree(built / "artifacts" / "edge_protection", arts / "edge_protection")
    path = arts / "edge_protection" / "tatara.manifest.json"
    data = json.loads(path.read_text())
    data["spec"]["programs"][0]["attach"]["target"] = "eth9"
    path.write_text(json.dumps(data))
    r = run_cli("plan", "edge_protection", "--artifacts", str(arts), "--runtime", "simulated",
                cwd=tmp_path)
    assert r.returncode == 1
    assert "does not match the manifest's spec_hash" in r.stderr and str(path) in r.stderr


def test_malformed_carried_spec_is_a_clear_error(built, tmp_path):
    arts = tmp_path / "artifacts"
    shutil.copytree(built / "artifacts" / "openat_counter", arts / "openat_counter")
    path = arts / "openat_counter" / "tatara.manifest.json"
    data = json.loads(path.read_text())
    data["spec"]["maps"][0]["kind"] = ":nonsense"
    data.pop("spec_hash")
    path.write_text(json.dumps(data))
    r = run_cli("plan", "openat_counter", "--artifacts", str(arts), "--runtime", "simulated",
                cwd=tmp_path)
    assert r.returncode == 1 and "the carried spec is malformed" in r.stderr
    assert "Traceback" not in r.stderr
