"""`tatara-build package DIR --policy P`: manifest + .b3 for objects already in DIR.

The Nix builder (nix/buildBpfPolicy.nix) calls it inside the sandbox so a Nix build
writes the same tatara.manifest.json as `tatara-build build`, read from the objects.
"""

from __future__ import annotations

from pathlib import Path

from tatara_build.backends import manifest
from tatara_build.errors import BuildError


def package(folder: Path, policy: str, spec_hash: str, route: str) -> int:
    objects = sorted(folder.glob("*.bpf.o"))
    if not objects:
        raise BuildError(f"no *.bpf.o in {folder}")
    entries = []
    for obj in objects:
        manifest.write_b3(obj)
        origin = "crate" if obj.name == f"{policy}.bpf.o" else "carried"
        entries.append(manifest.object_entry(obj, origin))
    toolchain = {"route": route, "aya_ebpf": _aya_version(), "target": "bpfel-unknown-none"}
    path = manifest.write_manifest(folder, policy, spec_hash, entries, toolchain)
    print(f"wrote {path} ({len(entries)} objects)")
    return 0


def _aya_version() -> str:
    from tatara_build.lower.cargo_lock import aya_ebpf_version

    return aya_ebpf_version()
