"""Read a pulled OCI layout back into an artifacts folder, trusting nothing.

Every blob is re-hashed against its descriptor, each image must carry bpfman's labels and
our manifest, its layer must hold exactly one regular file, and that object must match
the sha256 the manifest records; any failure refuses the whole image (nothing written).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

from tatara_build.backends.manifest import MANIFEST
from tatara_build.errors import RuntimeFailure, SpecError
from tatara_build.image.layout import (
    LABEL_MANIFEST,
    LABEL_MAPS,
    LABEL_PROGRAMS,
    MEDIA_INDEX,
    REF_NAME,
)
from tatara_build.lower.naming import snake


class Layout:
    def __init__(self, root: Path, what: str):
        self.root, self.what = root, what

    def blob(self, desc: dict) -> bytes:
        digest = desc.get("digest", "")
        algo, _, hexd = digest.partition(":")
        try:
            body = (self.root / "blobs" / algo / hexd).read_bytes()
        except OSError:
            raise RuntimeFailure(f"{self.what}: blob {digest} is missing") from None
        if algo != "sha256" or hashlib.sha256(body).hexdigest() != hexd:
            raise RuntimeFailure(f"{self.what}: blob {digest} does not match its digest "
                                 "(tampered or truncated); nothing was applied")
        return body

    def json(self, desc: dict) -> dict:
        return json.loads(self.blob(desc))

    def top(self, tag: str) -> dict:
        index = json.loads((self.root / "index.json").read_text())
        found = [m for m in index.get("manifests", [])
                 if m.get("annotations", {}).get(REF_NAME) == tag] or index.get("manifests", [])
        if not found:
            raise SpecError(f"{self.what}: the image layout names no image")
        return found[0]

    def images(self, tag: str) -> list[dict]:
        """The image manifests under the tag (one, or each of an index)."""
        top = self.top(tag)
        if top.get("mediaType") == MEDIA_INDEX:
            return [self.json(m) for m in self.json(top)["manifests"]]
        return [self.json(top)]


def _labels(layout: Layout, image: dict) -> dict[str, str]:
    config = layout.json(image["config"])
    found = (config.get("config") or {}).get("Labels") or {}
    for label in (LABEL_PROGRAMS, LABEL_MAPS):
        if label not in found:
            raise SpecError(f"{layout.what}: the image config has no `{label}` label: not a "
                            "bpfman bytecode image (build it with `tatara-build image build`)")
    if LABEL_MANIFEST not in found:
        raise SpecError(f"{layout.what}: the image has no `{LABEL_MANIFEST}` label, so it "
                        "carries no policy spec: apply it with bpfman, or rebuild with "
                        "`tatara-build image build`")
    return found


def _object(layout: Layout, image: dict) -> tuple[str, bytes]:
    layers = image.get("layers") or []
    if len(layers) != 1:
        raise SpecError(f"{layout.what}: a bytecode image has one layer, this one {len(layers)}")
    raw = gzip.decompress(layout.blob(layers[0]))
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        files = [m for m in tar.getmembers() if m.isfile()]
        if len(files) != 1:
            raise SpecError(f"{layout.what}: the layer holds {len(files)} files, not one object")
        name = Path(files[0].name).name
        fh = tar.extractfile(files[0])
        assert fh is not None
        return name, fh.read()


def unpack(root: Path, tag: str, out: Path, what: str) -> Path:
    """Write `out/<policy>/` (objects + manifest) from the layout; returns that folder."""
    layout = Layout(root, what)
    manifest: dict | None = None
    objects: dict[str, bytes] = {}
    for image in layout.images(tag):
        labels = _labels(layout, image)
        carried = json.loads(labels[LABEL_MANIFEST])
        if manifest is not None and carried != manifest:
            raise SpecError(f"{what}: the images of one index carry different manifests")
        manifest = carried
        name, body = _object(layout, image)
        entry = next((o for o in carried["objects"] if o["file"] == name), None)
        if entry is None:
            raise SpecError(f"{what}: object {name} is not in the image's manifest")
        got = hashlib.sha256(body).hexdigest()
        if got != entry["sha256"]:
            raise RuntimeFailure(f"{what}: object {name} has sha256 {got[:16]}.. but the "
                                 f"manifest records {entry['sha256'][:16]}.. (tampered); "
                                 "nothing was applied")
        programs = json.loads(labels[LABEL_PROGRAMS])
        missing = [p["name"] for p in entry["programs"] if p["name"] not in programs]
        if missing:
            raise SpecError(f"{what}: label `{LABEL_PROGRAMS}` lacks {', '.join(missing)}")
        objects[name] = body
    assert manifest is not None
    if set(objects) != {o["file"] for o in manifest["objects"]}:
        raise SpecError(f"{what}: the image holds {sorted(objects)}, the manifest names "
                        f"{sorted(o['file'] for o in manifest['objects'])}")
    dest = out / snake(manifest["policy"])
    dest.mkdir(parents=True, exist_ok=True)
    for name, body in objects.items():
        (dest / name).write_bytes(body)
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return dest
