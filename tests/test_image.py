"""OCI bytecode images: reproducible layouts with bpfman's labels, pushed to and pulled
from a real registry (Debian docker-registry over TLS, tests/registry_util.py), and every
failure on that path refused with a clear error."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tatara_build.image import layout as L
from tests.conftest import ROOT, build_cli, run_cli
from tests.registry_util import registry  # noqa: F401 (fixture)

pytestmark = [pytest.mark.compile]
COUNTER = ROOT / "examples" / "tracepoint-counter.tlisp"
UDP_OBJ = ROOT / "examples" / "precompiled" / "count_udp.bpf.o"


@pytest.fixture(scope="module")
def arts(tmp_path_factory) -> Path:
    """tracepoint-counter built once; the artifacts root."""
    out = tmp_path_factory.mktemp("imgbuild") / "out"
    r = build_cli([COUNTER], out)
    assert r.returncode == 0, r.stderr[-3000:]
    return out / "artifacts"


@pytest.fixture(scope="module")
def two_objects(tmp_path_factory) -> Path:
    """A policy of a compiled tracepoint program and a carried C object: two objects."""
    d = tmp_path_factory.mktemp("twoobj")
    shutil.copy(UDP_OBJ, d / "count_udp.bpf.o")
    (d / "pol.tlisp").write_text('''
(defbpf-map :name "tp_hits" :kind :array :key-size 4 :value-size 8 :max-entries 1)
(defbpf-map :name "udp_packets" :kind :array :key-size 4 :value-size 8 :max-entries 1)
(defbpf-program :name "tp_count" :kind :tracepoint :attach (:target "syscalls/sys_enter_openat")
  :source "pol.tlisp:tp-count" :uses-maps ("tp_hits"))
(defbpf-program :name "count_udp" :kind :xdp :attach (:target "eth0") :source "count_udp.bpf.o"
  :uses-maps ("udp_packets"))
(defbpf-policy :name "two_objs" :description "two objects" :programs ("tp_count" "count_udp")
  :maps ("tp_hits" "udp_packets"))
(bpf-fn tp-count (ctx) (map-incr tp_hits 0) (return :ok))
''')
    r = build_cli([d / "pol.tlisp"], d / "out")
    assert r.returncode == 0, r.stderr[-3000:]
    return d / "out" / "artifacts"


def image_build(arts: Path, policy: str, out: Path, *extra: str, env_epoch: str | None = None):
    env = dict(os.environ)
    if env_epoch is not None:
        env["SOURCE_DATE_EPOCH"] = env_epoch
    return subprocess.run([sys.executable, "-m", "tatara_build", "image", "build", policy,
                           "--artifacts", str(arts), "-o", str(out), "--json", *extra],
                          capture_output=True, text=True, env=env, cwd=out.parent)


def digest_of(r) -> str:
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["digest"]


# --- layout --------------------------------------------------------------------------
def test_same_artifacts_give_the_same_digest_in_any_folder(arts, tmp_path):
    copy = tmp_path / "elsewhere" / "artifacts"
    shutil.copytree(arts, copy)
    a = digest_of(image_build(arts, "openat_counter", tmp_path / "a"))
    b = digest_of(image_build(copy, "openat_counter", tmp_path / "b"))
    assert a == b
    assert digest_of(image_build(arts, "openat_counter", tmp_path / "c", env_epoch="0")) == a
    later = digest_of(image_build(arts, "openat_counter", tmp_path / "d", env_epoch="1700000000"))
    assert later != a  # the created date is the only thing SOURCE_DATE_EPOCH changes


def test_layout_has_bpfman_labels_and_one_object_at_root(arts, tmp_path):
    out = tmp_path / "img"
    digest_of(image_build(arts, "openat_counter", out))
    cfg = json.loads(subprocess.run(["skopeo", "inspect", "--config", f"oci:{out}:latest"],
                                    capture_output=True, text=True, check=True).stdout)
    labels = cfg["config"]["Labels"]
    assert json.loads(labels["io.ebpf.programs"]) == {"count_openat": "tracepoint"}
    assert json.loads(labels["io.ebpf.maps"]) == {"open_count": "per_cpu_array"}
    carried = json.loads(labels["io.tatara.manifest"])
    assert carried["spec"]["programs"][0]["attach"]["target"] == "syscalls/sys_enter_openat"
    image = json.loads(subprocess.run(["skopeo", "inspect", "--raw", f"oci:{out}:latest"],
                                      capture_output=True, text=True, check=True).stdout)
    assert image["annotations"]["org.opencontainers.image.title"] == "openat_counter/openat_counter.bpf.o"
    assert image["annotations"]["org.opencontainers.image.created"] == "1970-01-01T00:00:00Z"
    layer = (out / "blobs/sha256" / image["layers"][0]["digest"].split(":")[1]).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        members = tar.getmembers()
    assert [(m.name, m.mtime, m.uid, m.mode) for m in members] == [
        ("openat_counter.bpf.o", 0, 0, 0o644)]
    obj = arts / "openat_counter" / "openat_counter.bpf.o"
    assert members[0].size == obj.stat().st_size


def test_several_objects_give_one_image_each_under_one_index(two_objects, tmp_path):
    out = tmp_path / "img"
    r = image_build(two_objects, "two_objs", out)
    data = json.loads(r.stdout)
    assert set(data["images"]) == {"two_objs.bpf.o", "count_udp.bpf.o"}
    top = json.loads((out / "index.json").read_text())["manifests"][0]
    assert top["mediaType"] == L.MEDIA_INDEX and top["digest"] == data["digest"]
    for obj, digest in data["images"].items():
        cfg = json.loads(subprocess.run(["skopeo", "inspect", "--config", f"oci:{out}@{digest}"],
                                        capture_output=True, text=True).stdout or "{}")
        if not cfg:  # skopeo cannot address by digest inside a layout: read the blobs
            man = json.loads((out / "blobs/sha256" / digest.split(":")[1]).read_text())
            cfg = json.loads((out / "blobs/sha256" / man["config"]["digest"].split(":")[1]).read_text())
        progs = json.loads(cfg["config"]["Labels"]["io.ebpf.programs"])
        assert progs == ({"count_udp": "xdp"} if obj == "count_udp.bpf.o" else {"tp_count": "tracepoint"})
    assert digest_of(image_build(two_objects, "two_objs", tmp_path / "again")) == data["digest"]


def test_tampered_artifacts_are_not_imaged(arts, tmp_path):
    copy = tmp_path / "artifacts"
    shutil.copytree(arts, copy)
    obj = copy / "openat_counter" / "openat_counter.bpf.o"
    obj.write_bytes(obj.read_bytes()[:-10])
    r = image_build(copy, "openat_counter", tmp_path / "img")
    assert r.returncode == 4, r.stderr
    assert "openat_counter.bpf.o" in r.stdout and "tampered or truncated" in r.stdout


def test_output_folder_that_is_not_a_layout_is_refused(arts, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    r = image_build(arts, "openat_counter", out)
    assert r.returncode == 1 and "not an OCI image layout" in r.stdout
    assert (out / "keep.txt").read_text() == "user data"


# --- registry ------------------------------------------------------------------------
def push(layout: Path, ref: str):
    return run_cli("image", "push", str(layout), ref)


def test_push_pull_then_plan_with_no_spec_sources(arts, registry, tmp_path):  # noqa: F811
    out = tmp_path / "img"
    digest = digest_of(image_build(arts, "openat_counter", out))
    ref = f"{registry.host}/policies/openat:v1"
    r = push(out, ref)
    assert r.returncode == 0, r.stderr
    host = tmp_path / "host"  # a folder with no spec sources at all
    host.mkdir()
    r = run_cli("image", "pull", f"{registry.host}/policies/openat@{digest}", "-o", "pulled", cwd=host)
    assert r.returncode == 0, r.stderr
    pulled = host / "pulled" / "openat_counter"
    assert (pulled / "openat_counter.bpf.o").read_bytes() == \
        (arts / "openat_counter" / "openat_counter.bpf.o").read_bytes()
    r = run_cli("plan", "openat_counter", "--artifacts", "pulled", "--runtime", "simulated", cwd=host)
    assert r.returncode == 0, r.stderr
    assert "attach  count_openat  :tracepoint syscalls/sys_enter_openat" in r.stdout
    assert list(host.glob("*.tlisp")) == []


def test_registry_down_is_a_clear_error(tmp_path):
    from tests.registry_util import free_port, registry_skip_reason

    if registry_skip_reason():
        pytest.skip(registry_skip_reason())
    r = run_cli("image", "pull", f"127.0.0.1:{free_port()}/p/x:v1", "-o", str(tmp_path / "o"))
    assert r.returncode == 5, r.stderr
    assert "registry unreachable" in r.stderr and "connection refused" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "o").exists()


def test_unknown_digest_is_refused(arts, registry, tmp_path):  # noqa: F811
    r = run_cli("image", "pull", f"{registry.host}/policies/openat@sha256:{'0' * 64}", "-o",
                str(tmp_path / "o"))
    assert r.returncode == 1 and "no such image in the registry" in r.stderr


def test_blob_altered_in_the_registry_is_refused(arts, registry, tmp_path):  # noqa: F811
    out = tmp_path / "img"
    digest_of(image_build(arts, "openat_counter", out))
    ref = f"{registry.host}/policies/tampered:v1"
    assert push(out, ref).returncode == 0
    image = json.loads((out / "blobs/sha256" / json.loads((out / "index.json").read_text())
                        ["manifests"][0]["digest"].split(":")[1]).read_text())
    blob = registry.blob_path(image["layers"][0]["digest"])
    good = blob.read_bytes()
    data = bytearray(good)
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    try:
        r = run_cli("image", "pull", ref, "-o", str(tmp_path / "o"))
    finally:
        blob.write_bytes(good)  # the layer is shared with the other tests' images
    assert r.returncode == 4, r.stderr
    assert "digest did not match" in r.stderr
    assert not (tmp_path / "o" / "openat_counter").exists()


def rewrite(out: Path, config=None, layer_body: bytes | None = None) -> None:
    """Re-seal a one-image layout after changing its config or its object (valid OCI digests,
    so only tatara-build's own checks can catch what changed)."""
    index = json.loads((out / "index.json").read_text())
    desc = index["manifests"][0]
    blobs = L.Blobs()
    image = json.loads((out / "blobs/sha256" / desc["digest"].split(":")[1]).read_text())
    cfg = json.loads((out / "blobs/sha256" / image["config"]["digest"].split(":")[1]).read_text())
    if config:
        config(cfg)
    image["config"] = blobs.add(L.dumps(cfg), L.MEDIA_CONFIG)
    if layer_body is not None:
        name = json.loads(cfg["config"]["Labels"]["io.tatara.manifest"])["objects"][0]["file"]
        image["layers"] = [blobs.add(L.gzipped(L.layer_tar(name, layer_body, 0), 0), L.MEDIA_LAYER)]
    top = blobs.add(L.dumps(image), L.MEDIA_MANIFEST)
    index["manifests"] = [{**top, "annotations": desc["annotations"]}]
    L.write(blobs, index, out)


def test_image_without_bpfman_labels_is_refused(arts, registry, tmp_path):  # noqa: F811
    out = tmp_path / "img"
    digest_of(image_build(arts, "openat_counter", out))
    rewrite(out, config=lambda c: c["config"]["Labels"].pop("io.ebpf.programs"))
    ref = f"{registry.host}/policies/nolabel:v1"
    assert push(out, ref).returncode == 0
    r = run_cli("image", "pull", ref, "-o", str(tmp_path / "o"))
    assert r.returncode == 1, r.stderr
    assert "no `io.ebpf.programs` label: not a bpfman bytecode image" in r.stderr


def test_object_that_differs_from_the_manifest_is_refused(arts, registry, tmp_path):  # noqa: F811
    out = tmp_path / "img"
    digest_of(image_build(arts, "openat_counter", out))
    body = (arts / "openat_counter" / "openat_counter.bpf.o").read_bytes()
    rewrite(out, layer_body=body[:-1] + bytes([body[-1] ^ 1]))
    ref = f"{registry.host}/policies/swapped:v1"
    assert push(out, ref).returncode == 0
    r = run_cli("image", "pull", ref, "-o", str(tmp_path / "o"))
    assert r.returncode == 4, r.stderr
    assert "object openat_counter.bpf.o has sha256" in r.stderr and "tampered" in r.stderr
    assert hashlib.sha256(body).hexdigest()[:16] in r.stderr


def test_apply_image_with_the_registry_down_changes_nothing(tmp_path):
    from tests.registry_util import free_port, registry_skip_reason

    if registry_skip_reason():
        pytest.skip(registry_skip_reason())
    env = {**os.environ, "TATARA_STATE_DIR": str(tmp_path / "state")}
    r = subprocess.run([sys.executable, "-m", "tatara_build", "apply", "openat_counter", "--image",
                        f"127.0.0.1:{free_port()}/p/openat:v1", "--runtime", "simulated"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 5, r.stderr
    assert "registry unreachable" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "state" / "images").exists() or \
        not any((tmp_path / "state" / "images").rglob("*.bpf.o"))
