"""`build`: render -> compile each policy's crate -> artifacts + manifest.

Incremental: a policy's build key hashes its rendered files, carried objects, the
toolchain and tatara-build's version; when the key and the artifacts are already
there, no compiler runs. Nothing is left half-done: artifacts are assembled in a
scratch folder and moved into place only when every check passed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tatara_build import __version__
from tatara_build.backends import cargo_backend, manifest
from tatara_build.backends.toolchain import Toolchain, detect
from tatara_build.errors import BuildError
from tatara_build.lower.aya import CrateContext
from tatara_build.lower.cargo_lock import aya_ebpf_version
from tatara_build.lower.linetable import line_table
from tatara_build.model.ir import Project
from tatara_build.outlayout import OutLayout
from tatara_build.render.writer import write_tree

KEY_FILE = ".build-key"


@dataclass
class PolicyResult:
    policy: str
    dest: Path
    compiled: bool
    objects: list[dict] = field(default_factory=list)


def toolchain_record(tc: Toolchain) -> dict:
    return {"rustc": tc.rustc.version, "llvm": tc.llvm, "route": tc.route,
            "assembler": tc.assembler.version if tc.route == "asm" else "",
            "bpf_linker": tc.bpf_linker.version if tc.route == "bpf-linker" else "",
            "aya_ebpf": aya_ebpf_version(), "target": cargo_backend.TARGET,
            "core": "sysroot" if tc.bpf_sysroot else "build-std"}


def build_key(files: dict[str, bytes], prefix: str, tc: Toolchain) -> str:
    h = hashlib.sha256(f"tatara-build {__version__}\n".encode())
    h.update(json.dumps(toolchain_record(tc), sort_keys=True).encode())
    for rel in sorted(files):
        if rel.startswith(prefix):
            h.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    return h.hexdigest()


def build_policy(project: Project, crate: CrateContext, out: OutLayout,
                 files: dict[str, bytes], tc: Toolchain, echo: bool = False,
                 target_dir: Path | None = None) -> PolicyResult:
    dest = out.artifact(crate.policy)
    key = build_key(files, f"{crate.policy}/", tc)
    if (dest / KEY_FILE).exists() and (dest / KEY_FILE).read_text() == key \
            and (dest / manifest.MANIFEST).exists():
        data = json.loads((dest / manifest.MANIFEST).read_text())
        spec = manifest.policy_spec(project, crate.policy)
        if data.get(manifest.SPEC_KEY) != spec:  # built before specs were carried, or tests changed
            manifest.add_spec(dest / manifest.MANIFEST, spec)
        return PolicyResult(crate.policy, dest, False, data["objects"])
    scratch = Path(tempfile.mkdtemp(prefix=f".{crate.policy}.", dir=dest.parent if dest.parent.exists()
                                    else _mk(dest.parent)))
    scratch.chmod(0o755)
    try:
        objects, expected = _make_objects(crate, out.crates,
                                          target_dir or cargo_backend.shared_target_dir(tc),
                                          scratch, tc, echo)
        diags = manifest.check_against_spec(project, crate.policy, objects, expected)
        if diags:
            raise BuildError(f"policy `{crate.policy}`: the built object does not match its spec",
                             diags)
        _add_line_table(crate, files, objects)
        manifest.write_manifest(scratch, crate.policy, crate.spec_hash, objects,
                                toolchain_record(tc), manifest.policy_spec(project, crate.policy))
        (scratch / KEY_FILE).write_text(key)
        if dest.exists():
            shutil.rmtree(dest)
        scratch.rename(dest)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch)
    return PolicyResult(crate.policy, dest, True, objects)


def _add_line_table(crate: CrateContext, files: dict[str, bytes], objects: list[dict]) -> None:
    """The crate object's `line_table` (lower/linetable.py): verifier logs name spec forms."""
    text = files.get(f"{crate.policy}/src/bodies.rs")
    table = line_table(crate, text.decode()) if text else {}
    for entry in objects:
        if entry["origin"] == "crate" and table:
            entry["line_table"] = table


def _mk(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def _make_objects(crate: CrateContext, crates_root: Path, target_dir: Path, scratch: Path,
                  tc: Toolchain, echo: bool) -> tuple[list[dict], dict[str, list[str]]]:
    objects: list[dict] = []
    expected: dict[str, list[str]] = {}
    if crate.has_crate:
        obj = scratch / f"{crate.policy}.bpf.o"
        cargo_backend.build_crate(tc, crates_root / crate.policy, crate.bin, crate.policy,
                                  target_dir, obj, echo)
        expected[obj.name] = [p.spec_name for p in crate.programs]
        objects.append(manifest.object_entry(obj, "crate"))
    for carried in crate.objects:
        obj = scratch / f"{carried.name}.bpf.o"
        shutil.copyfile(crates_root / crate.policy / "objects" / obj.name, obj)
        expected[obj.name] = list(carried.spec_names)
        objects.append(manifest.object_entry(obj, "carried", carried.shown))
    for entry in objects:
        manifest.write_b3(scratch / entry["file"])
    return objects, expected


def build_all(project: Project, crates: list[CrateContext], files: dict[str, bytes],
              out: OutLayout, on_policy: Callable[[str], None] | None = None, echo: bool = False,
              tc: Toolchain | None = None, target_dir: Path | None = None,
              backend: str = "cargo", nixpkgs: str | None = None) -> list[PolicyResult]:
    out = out.resolved()
    target_dir = target_dir.resolve() if target_dir else None
    write_tree(out.crates, files)
    if backend == "nix":
        return _nix_all(project, crates, out, on_policy, echo, nixpkgs, files)
    tc = tc or detect()
    results = []
    for crate in crates:
        if on_policy:
            on_policy(crate.policy)
        results.append(build_policy(project, crate, out, files, tc, echo, target_dir))
    return results


def _nix_all(project: Project, crates: list[CrateContext], out: OutLayout, on_policy,
             echo: bool, nixpkgs: str | None, files: dict[str, bytes]) -> list[PolicyResult]:
    """`nix build` every policy at once, then check each Nix-built object against its spec."""
    from tatara_build.backends import nix_backend

    if on_policy:
        on_policy(", ".join(c.policy for c in crates))
    stores = nix_backend.build_policies(out.crates, [c.policy for c in crates], nixpkgs, echo)
    results = []
    for crate in crates:
        dest = out.artifact(crate.policy)
        if dest.exists():
            shutil.rmtree(dest)
        objects = nix_backend.collect(stores[crate.policy], dest, crate.policy, crate.spec_hash,
                                      nixpkgs)
        expected = {f"{crate.policy}.bpf.o": [p.spec_name for p in crate.programs]}
        expected.update({f"{o.name}.bpf.o": list(o.spec_names) for o in crate.objects})
        diags = manifest.check_against_spec(project, crate.policy, objects, expected)
        if diags:
            raise BuildError(f"policy `{crate.policy}`: the built object does not match its spec",
                             diags)
        _add_line_table(crate, files, objects)
        manifest.add_spec(dest / manifest.MANIFEST, manifest.policy_spec(project, crate.policy),
                          objects)
        results.append(PolicyResult(crate.policy, dest, True, objects))
    return results
