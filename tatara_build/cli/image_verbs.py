"""`tatara-build image build|push|pull` and the `--image` source of plan/apply/status/detach.

build: artifacts -> OCI layout (image/layout.py); push/pull: through skopeo
(image/registry.py); pull unpacks into an artifacts folder after checking every digest
(image/unpack.py), so `apply --artifacts` works on it with no spec sources.
"""

from pathlib import Path
from typing import Annotated

import typer

from tatara_build.errors import SpecError


def run_verb(fn, as_json: bool) -> None:
    """cli.common.run_verb, imported when a verb runs (keeps `--version` fast)."""
    from tatara_build.cli.common import run_verb as run

    run(fn, as_json)


def emit_json(data: dict) -> None:
    from tatara_build.cli.common import emit_json as emit

    emit(data)

image_app = typer.Typer(no_args_is_help=True,
                        help="OCI bytecode images (bpfman's format): build, push, pull.")
Json = Annotated[bool, typer.Option("--json", help="machine-readable output for CI")]
Insecure = Annotated[bool, typer.Option("--insecure", help="skip TLS verification of the registry")]
CertDir = Annotated[Path | None, typer.Option("--cert-dir", help="folder of *.crt CA files trusted for the registry")]
TAG = "latest"


def build(policy: str, artifacts: Path, out: Path, tag: str, as_json: bool) -> int:
    from tatara_build.fleet.artifacts import read_manifest
    from tatara_build.image import layout
    from tatara_build.lower.naming import snake
    from tatara_build.runtime.safety import check_objects

    folder = artifacts / snake(policy)
    data = read_manifest(folder)
    if "spec" not in data:
        raise SpecError(f"{folder}: the manifest carries no spec (built by an older "
                        "tatara-build): rebuild before making an image")
    check_objects(folder, {o["file"]: o for o in data["objects"]})
    if out.exists() and any(out.iterdir()) and not (out / "oci-layout").exists():
        raise SpecError(f"{out} exists and is not an OCI image layout: choose an empty folder")
    blobs, index = layout.build(folder, tag)
    layout.write(blobs, index, out)
    top = index["manifests"][0]
    images = _images(blobs, top)
    if as_json:
        emit_json({"ok": True, "layout": str(out), "tag": tag, "digest": top["digest"],
                   "images": images})
    else:
        print(f"image {out}:{tag}  {top['digest']}")
        for obj, digest in images.items():
            print(f"  {obj:<28} {digest}")
    return 0


def _images(blobs, top: dict) -> dict[str, str]:
    import json

    from tatara_build.image.layout import MEDIA_INDEX, OBJECT_ANNOTATION

    if top["mediaType"] != MEDIA_INDEX:
        image = json.loads(blobs.data[top["digest"]])
        return {image["annotations"][OBJECT_ANNOTATION]: top["digest"]}
    index = json.loads(blobs.data[top["digest"]])
    return {m["annotations"][OBJECT_ANNOTATION]: m["digest"] for m in index["manifests"]}


def push(layout_dir: Path, ref: str, tag: str, insecure: bool, cert_dir: Path | None,
         as_json: bool) -> int:
    from tatara_build.image import registry

    if not (layout_dir / "index.json").exists():
        raise SpecError(f"{layout_dir} is not an OCI image layout (no index.json): run "
                        "`tatara-build image build` first")
    registry.push(layout_dir, tag, ref, insecure, cert_dir)
    if as_json:
        emit_json({"ok": True, "pushed": ref})
    else:
        print(f"pushed {layout_dir}:{tag} -> {ref}")
    return 0


def fetch(ref: str, out: Path, insecure: bool = False, cert_dir: Path | None = None) -> Path:
    """Pull `ref`, check it, unpack it into `out/<policy>/`; returns that folder."""
    import shutil
    import tempfile

    from tatara_build.image import registry, unpack

    with tempfile.TemporaryDirectory(prefix="tatara-pull-") as tmp:
        registry.pull(ref, Path(tmp) / "layout", "image", insecure, cert_dir)
        staged = Path(tmp) / "artifacts"
        folder = unpack.unpack(Path(tmp) / "layout", "image", staged, ref)
        dest = out / folder.name
        if dest.exists():
            shutil.rmtree(dest)
        out.mkdir(parents=True, exist_ok=True)
        shutil.move(str(folder), dest)
    return dest


def pull(ref: str, out: Path, insecure: bool, cert_dir: Path | None, as_json: bool) -> int:
    dest = fetch(ref, out, insecure, cert_dir)
    if as_json:
        emit_json({"ok": True, "artifacts": str(dest), "policy": dest.name})
    else:
        print(f"pulled {ref} -> {dest} (apply with: tatara-build apply {dest.name} "
              f"--artifacts {out})")
    return 0


def image_artifacts(ref: str, policy: str, insecure: bool = False,
                    cert_dir: Path | None = None, refresh: bool = True) -> Path:
    """The artifacts root for `--image REF`: pulled into the state folder (kept, so status
    and detach find what apply used)."""
    import hashlib

    from tatara_build.lower.naming import snake
    from tatara_build.runtime.state import state_dir

    root = state_dir() / "images" / hashlib.sha256(ref.encode()).hexdigest()[:16]
    if refresh or not (root / snake(policy)).exists():
        folder = fetch(ref, root, insecure, cert_dir)
        if folder.name != snake(policy):
            raise SpecError(f"image {ref} holds policy `{folder.name}`, not `{policy}`")
    return root


@image_app.command("build")
def build_cmd(policy: Annotated[str, typer.Argument(help="policy name")],
              artifacts: Annotated[Path, typer.Option("--artifacts", help="the build's artifacts folder")] = Path("out/artifacts"),
              out: Annotated[Path, typer.Option("-o", "--out", help="OCI image layout folder to write")] = Path("out/image"),
              tag: Annotated[str, typer.Option("--tag", help="tag inside the layout")] = TAG,
              as_json: Json = False) -> None:
    """Write the policy's objects as an OCI image layout that bpfman loads."""
    run_verb(lambda: build(policy, artifacts, out, tag, as_json), as_json)


@image_app.command("push")
def push_cmd(layout_dir: Annotated[Path, typer.Argument(help="OCI image layout folder")],
             ref: Annotated[str, typer.Argument(help="registry reference, e.g. registry:5000/policies/web:1")],
             tag: Annotated[str, typer.Option("--tag", help="tag inside the layout")] = TAG,
             insecure: Insecure = False, cert_dir: CertDir = None, as_json: Json = False) -> None:
    """Push a layout to a registry (skopeo)."""
    run_verb(lambda: push(layout_dir, ref, tag, insecure, cert_dir, as_json), as_json)


@image_app.command("pull")
def pull_cmd(ref: Annotated[str, typer.Argument(help="registry reference (tag or @sha256:digest)")],
             out: Annotated[Path, typer.Option("-o", "--out", help="artifacts folder to write")] = Path("out/artifacts"),
             insecure: Insecure = False, cert_dir: CertDir = None, as_json: Json = False) -> None:
    """Pull an image, check every digest, unpack it as an artifacts folder."""
    run_verb(lambda: pull(ref, out, insecure, cert_dir, as_json), as_json)


def source(image: str | None, policy: str, artifacts: Path, refresh: bool = True) -> Path:
    """The artifacts folder a runtime verb works from: `--artifacts`, or the pulled `--image`."""
    return image_artifacts(image, policy, refresh=refresh) if image else artifacts
