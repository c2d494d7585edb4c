"""`tatara-build k8s`: bpfman-operator manifests, validated against the operator's published
CRD schema (tests/fixtures/bpfman-operator/, v0.6.0) including its CEL type rules."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import EXAMPLES, ROOT, build_cli, run_cli

pytestmark = [pytest.mark.compile]
CRDS = ROOT / "tests" / "fixtures" / "bpfman-operator"
RULE = re.compile(r"self\.type == '(\w+)' \?\s+has\(self\.(\w+)\)")
IMAGE = "registry.example:5000/policies/edge:v1"


def crd(kind: str) -> dict:
    name = {"BpfApplication": "bpfapplications",
            "ClusterBpfApplication": "clusterbpfapplications"}[kind]
    return yaml.safe_load((CRDS / f"bpfman.io_{name}.yaml").read_text())


def validate(doc: dict) -> None:
    """The CRD's openAPIV3Schema, its version and scope, and its x-kubernetes-validations."""
    c = crd(doc["kind"])
    version = c["spec"]["versions"][0]
    assert doc["apiVersion"] == f"{c['spec']['group']}/{version['name']}"
    assert ("namespace" in doc["metadata"]) == (c["spec"]["scope"] == "Namespaced")
    schema = version["schema"]["openAPIV3Schema"]
    jsonschema.Draft7Validator(schema).validate(doc)
    item = schema["properties"]["spec"]["properties"]["programs"]["items"]
    rules = [RULE.search(r["rule"]).groups() for r in item["x-kubernetes-validations"]]
    assert rules
    for prog in doc["spec"]["programs"]:
        for typ, field in rules:
            assert (prog["type"] == typ) == (field in prog), (prog, typ, field)


def k8s(*args: str, cwd: Path | None = None):
    return run_cli("k8s", *args, cwd=cwd)


def docs(r) -> list[dict]:
    assert r.returncode == 0, r.stderr
    return list(yaml.safe_load_all(r.stdout))


def test_xdp_and_tc_give_a_namespaced_bpfapplication(built):
    out = docs(k8s("edge_protection", "--artifacts", str(built / "artifacts"), "--image", IMAGE,
                   "--node-selector", "role=edge", "-n", "net"))
    assert len(out) == 1
    doc = out[0]
    validate(doc)
    assert doc["kind"] == "BpfApplication" and doc["metadata"]["namespace"] == "net"
    assert doc["spec"]["nodeSelector"] == {"matchLabels": {"role": "edge"}}
    assert doc["spec"]["byteCode"]["image"]["url"] == IMAGE
    progs = {p["name"]: p for p in doc["spec"]["programs"]}
    assert progs["drop_syn_flood"]["type"] == "XDP"
    assert progs["drop_syn_flood"]["xdp"]["links"][0]["interfaceSelector"] == {"interfaces": ["eth0"]}
    assert progs["rate_limit_tcp"]["type"] == "TCX"
    assert progs["rate_limit_tcp"]["tcx"]["links"][0]["direction"] == "Egress"


def test_cluster_form_of_the_same_policy_validates(built):
    doc = docs(k8s("edge_protection", "--artifacts", str(built / "artifacts"), "--image", IMAGE,
                   "--cluster"))[0]
    validate(doc)
    assert doc["kind"] == "ClusterBpfApplication" and "namespace" not in doc["metadata"]
    assert doc["spec"]["nodeSelector"] == {}


def test_tracepoint_needs_the_cluster_form(built, tmp_path):
    doc = docs(k8s("openat_counter", "--artifacts", str(built / "artifacts"), "--image", IMAGE,
                   cwd=tmp_path))[0]
    validate(doc)
    assert doc["kind"] == "ClusterBpfApplication"
    assert doc["spec"]["programs"] == [{"name": "count_openat", "type": "TracePoint",
                                        "tracepoint": {"links": [{"name": "syscalls/sys_enter_openat"}]}}]
    r = k8s("openat_counter", "--artifacts", str(built / "artifacts"), "--image", IMAGE,
            "--namespaced")
    assert r.returncode == 1
    assert "namespaced BpfApplication takes xdp and tc programs only; use --cluster" in r.stderr


def test_kinds_the_operator_lacks_are_refused(built):
    r = k8s("observability", "--artifacts", str(built / "artifacts"), "--image", IMAGE)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "bpfman-operator has no form for it" in r.stderr


def test_bad_node_selector_is_a_clear_error(built):
    r = k8s("openat_counter", "--artifacts", str(built / "artifacts"), "--image", IMAGE,
            "--node-selector", "nolabel")
    assert r.returncode == 1 and "expected key=value" in r.stderr


def test_several_objects_give_one_application_per_image_digest(tmp_path):
    d = tmp_path / "spec"
    d.mkdir()
    shutil.copy(EXAMPLES / "precompiled" / "count_udp.bpf.o", d)
    (d / "p.tlisp").write_text('''
(defbpf-map :name "udp_packets" :kind :array :key-size 4 :value-size 8 :max-entries 1)
(defbpf-map :name "hits" :kind :array :key-size 4 :value-size 8 :max-entries 1)
(defbpf-program :name "count_udp" :kind :xdp :attach (:target "eth1") :source "count_udp.bpf.o"
  :uses-maps ("udp_packets"))
(defbpf-program :name "tc_hits" :kind :tc :attach (:target "eth1" :direction "ingress")
  :source "p.tlisp:tc-hits" :uses-maps ("hits"))
(defbpf-policy :name "two_objs" :description "two" :programs ("count_udp" "tc_hits")
  :maps ("udp_packets" "hits"))
(bpf-fn tc-hits (ctx) (map-incr hits 0) (return :tc-act-ok))
''')
    assert build_cli([d / "p.tlisp"], tmp_path / "out").returncode == 0
    arts = tmp_path / "out" / "artifacts"
    r = run_cli("image", "build", "two_objs", "--artifacts", str(arts), "-o", str(tmp_path / "img"),
                "--json")
    images = __import__("json").loads(r.stdout)["images"]
    out = docs(k8s("two_objs", "--artifacts", str(arts), "--image", "reg:5000/p/two:v3"))
    assert len(out) == 2
    for doc in out:
        validate(doc)
    urls = sorted(doc["spec"]["byteCode"]["image"]["url"] for doc in out)
    assert urls == sorted(f"reg:5000/p/two@{dg}" for dg in images.values())
