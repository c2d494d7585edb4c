"""Write a policy's artifacts as an OCI image layout that bpfman loads.

Per object, one image: a single gzip tar layer holding the object at `/` (bpfman reads the
first entry of the first layer), a config whose labels are bpfman's `io.ebpf.programs`
({function: type}) and `io.ebpf.maps` ({map: type}) plus `io.tatara.manifest` (our whole
manifest, spec included, so a pulled image applies without sources), and
`org.opencontainers.image.*` annotations. One object: `index.json` names that image; several:
it names an image index listing one image per object.

Reproducible: every byte comes from the artifacts and SOURCE_DATE_EPOCH (default 0) — tar
entries with fixed mtime, owner and mode, gzip with a fixed header time, sorted JSON — so
the same artifacts give the same digest in any folder, on any day.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tatara_build.backends.manifest import MANIFEST
from tatara_build.model.kinds import BPFMAN_MAP_TYPES, BPFMAN_PROGRAMS

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
LABEL_PROGRAMS, LABEL_MAPS, LABEL_MANIFEST = "io.ebpf.programs", "io.ebpf.maps", "io.tatara.manifest"
REF_NAME = "org.opencontainers.image.ref.name"
OBJECT_ANNOTATION = "io.tatara.object"
GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64le", "riscv64": "riscv64"}


def dumps(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def source_date_epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH", "0") or 0)


@dataclass
class Blobs:
    """Content-addressed blobs of one layout, in memory until written."""

    data: dict[str, bytes] = field(default_factory=dict)

    def add(self, body: bytes, media_type: str, annotations: dict | None = None) -> dict:
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.data[digest] = body
        desc = {"mediaType": media_type, "digest": digest, "size": len(body)}
        if annotations:
            desc["annotations"] = annotations
        return desc


def layer_tar(name: str, body: bytes, epoch: int) -> bytes:
    """An uncompressed tar with one regular file at `/name`: fixed owner, mode and time."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(body), epoch, 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def gzipped(raw: bytes, epoch: int) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=epoch, compresslevel=9) as gz:
        gz.write(raw)
    return buf.getvalue()


def labels(entry: dict, manifest: dict) -> dict[str, str]:
    """bpfman's labels for one object, from the manifest's reading of it."""
    progs = {p["name"]: BPFMAN_PROGRAMS[p["kind"]].prog_type for p in entry["programs"]}
    maps = {m["name"]: BPFMAN_MAP_TYPES.get(m["type"], m["type"]) for m in entry["maps"]}
    return {LABEL_PROGRAMS: dumps(progs).decode(), LABEL_MAPS: dumps(maps).decode(),
            LABEL_MANIFEST: dumps(manifest).decode()}


def annotations(entry: dict, manifest: dict, created: str) -> dict[str, str]:
    policy = manifest.get("spec", {}).get("policy", {})
    return {"org.opencontainers.image.title": f"{manifest['policy']}/{entry['file']}",
            "org.opencontainers.image.description": policy.get("description", ""),
            "org.opencontainers.image.created": created,
            "org.opencontainers.image.licenses": entry.get("license") or "",
            "org.opencontainers.image.vendor": manifest.get("generator", "tatara-build"),
            "io.tatara.policy": manifest["policy"], "io.tatara.spec-hash": manifest["spec_hash"],
            OBJECT_ANNOTATION: entry["file"]}


def object_image(blobs: Blobs, folder: Path, entry: dict, manifest: dict, epoch: int) -> dict:
    """Add one object's layer, config and image manifest; returns the manifest descriptor."""
    body = (folder / entry["file"]).read_bytes()
    tar = layer_tar(entry["file"], body, epoch)
    created = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    layer = blobs.add(gzipped(tar, epoch), MEDIA_LAYER)
    config = {"architecture": GOARCH.get(platform.machine(), platform.machine()), "os": "linux",
              "created": created, "config": {"Labels": labels(entry, manifest)},
              "rootfs": {"type": "layers",
                         "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}
    cfg = blobs.add(dumps(config), MEDIA_CONFIG)
    notes = annotations(entry, manifest, created)
    image = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST, "config": cfg, "layers": [layer],
             "annotations": notes}
    return blobs.add(dumps(image), MEDIA_MANIFEST, {OBJECT_ANNOTATION: entry["file"]})


def build(folder: Path, tag: str = "latest") -> tuple[Blobs, dict]:
    """Blobs and index.json for the artifacts in `folder` (pure: reads, writes nothing)."""
    manifest = json.loads((folder / MANIFEST).read_text())
    epoch = source_date_epoch()
    blobs = Blobs()
    images = [object_image(blobs, folder, e, manifest, epoch)
              for e in sorted(manifest["objects"], key=lambda o: o["file"])]
    if len(images) == 1:
        top = {**images[0], "annotations": {REF_NAME: tag}}
    else:
        index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": images,
                 "annotations": {"io.tatara.policy": manifest["policy"]}}
        top = blobs.add(dumps(index), MEDIA_INDEX, {REF_NAME: tag})
    return blobs, {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [top]}


def write(blobs: Blobs, index: dict, out: Path) -> None:
    """The layout on disk: oci-layout, index.json and blobs/sha256/<hex> (only new blobs)."""
    d = out / "blobs" / "sha256"
    d.mkdir(parents=True, exist_ok=True)
    for digest, body in sorted(blobs.data.items()):
        path = d / digest.split(":", 1)[1]
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(body)
            os.replace(tmp, path)
    (out / "oci-layout").write_bytes(dumps({"imageLayoutVersion": "1.0.0"}))
    (out / "index.json").write_bytes(dumps(index))
