"""BpfApplication / ClusterBpfApplication manifests for bpfman-operator (bpfman.io/v1alpha1,
operator v0.6.0, the release paired with bpfman 0.6; schema kept in
tests/fixtures/bpfman-operator/).

Pure: spec + image reference (+ per-object image digests) in, Kubernetes objects out.
One program entry per spec program with its attach info; the kind of each program maps to
the operator's `type` through model/kinds.py (BPFMAN_PROGRAMS). The namespaced
BpfApplication only takes XDP, TC(X) and uprobes, so a policy with tracepoints needs the
cluster-scoped form. A policy of several objects gives one application per object, each
pinned to that object's image digest (an index without platforms is not pullable by
bpfman).
"""

from __future__ import annotations

import re

from tatara_build.errors import SpecError
from tatara_build.lower.naming import snake
from tatara_build.model.ir import ProgramSpec
from tatara_build.model.kinds import BPFMAN_PROGRAMS

API_VERSION = "bpfman.io/v1alpha1"
DEFAULT_PRIORITY = 500  # bpfman-operator: 0..1000, lower runs first


def k8s_name(name: str) -> str:
    """A DNS-1123 name from a policy or object name."""
    out = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return out[:63] or "policy"


def program_entry(p: ProgramSpec, namespaced: bool, priority: int) -> dict:
    row = BPFMAN_PROGRAMS[p.kind]
    if row.crd_type is None:
        raise SpecError(f"program `{p.name}` is `{p.kind}`: bpfman-operator has no form for it "
                        "(xdp, tc, tracepoint and kprobe programs only)")
    if namespaced and not row.namespaced:
        raise SpecError(f"program `{p.name}` is `{p.kind}`: a namespaced BpfApplication takes "
                        "xdp and tc programs only; use --cluster for a ClusterBpfApplication")
    field = row.crd_type.lower()
    pods = {"networkNamespaces": {"pods": {}}} if namespaced else {}
    if row.crd_type == "XDP":
        link = {"interfaceSelector": {"interfaces": [p.attach.target]}, "priority": priority,
                **pods}
    elif row.crd_type == "TCX":
        link = {"direction": (p.attach.direction or "ingress").capitalize(),
                "interfaceSelector": {"interfaces": [p.attach.target]}, "priority": priority,
                **pods}
    elif row.crd_type == "TracePoint":
        link = {"name": p.attach.target}
    else:  # KProbe
        link = {"function": p.attach.target}
    return {"name": snake(p.name), "type": row.crd_type, field: {"links": [link]}}


def application(name: str, url: str, programs: list[ProgramSpec], cluster: bool,
                node_selector: dict[str, str], namespace: str, priority: int,
                policy: str) -> dict:
    meta = {"name": k8s_name(name),
            "labels": {"app.kubernetes.io/name": k8s_name(policy),
                       "app.kubernetes.io/managed-by": "tatara-build"}}
    if not cluster:
        meta["namespace"] = namespace
    return {"apiVersion": API_VERSION,
            "kind": "ClusterBpfApplication" if cluster else "BpfApplication",
            "metadata": meta,
            "spec": {"nodeSelector": {"matchLabels": dict(node_selector)} if node_selector else {},
                     "byteCode": {"image": {"url": url, "imagePullPolicy": "IfNotPresent"}},
                     "programs": [program_entry(p, not cluster, priority) for p in programs]}}


def repository(ref: str) -> str:
    """`host/repo:tag` or `host/repo@sha256:..` -> `host/repo`."""
    ref = ref.removeprefix("docker://").split("@", 1)[0]
    head, _, last = ref.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def applications(policy: str, programs: list[ProgramSpec], owner: dict[str, str], image: str,
                 digests: dict[str, str], cluster: bool | None, node_selector: dict[str, str],
                 namespace: str = "default", priority: int = DEFAULT_PRIORITY) -> list[dict]:
    """`owner`: program function name -> object file; `digests`: object file -> image digest
    (used when the policy has several objects)."""
    if cluster is None:
        cluster = not all(BPFMAN_PROGRAMS[p.kind].namespaced for p in programs)
    files = sorted(set(owner.values()))
    if len(files) <= 1:
        return [application(policy, image, programs, cluster, node_selector, namespace,
                            priority, policy)]
    out = []
    for f in files:
        progs = [p for p in programs if owner.get(snake(p.name)) == f]
        url = f"{repository(image)}@{digests[f]}"
        out.append(application(f"{policy}-{f.removesuffix('.bpf.o')}", url, progs, cluster,
                               node_selector, namespace, priority, policy))
    return out


def parse_selector(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SpecError(f"--node-selector `{item}`: expected key=value")
        out[key] = value
    return out
