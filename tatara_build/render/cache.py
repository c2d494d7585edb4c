"""The render cache: an unchanged project re-renders without reading, validating,
lowering or templating anything.

Rendering is a pure function of the input files (spec files, bpf-fn files, copied
`.rs` bodies and `.bpf.o` objects), the flake input and the generator (tatara-build's
version, its code and templates). After a full render the render lock records a key
over all of those plus the size and mtime of every file written; the next render
recomputes the key (hashing the inputs, stat-ing the generator and the outputs) and,
when nothing differs, reports every file unchanged. Any difference, including an
output edited by hand, falls back to the full render, which repairs it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tatara_build import __version__
from tatara_build.resources import templates_dir

_PKG = Path(__file__).resolve().parent.parent


def generator_fingerprint() -> str:
    """Version plus size and mtime of every module and template (a code edit is a miss)."""
    h = hashlib.sha256(f"tatara-build {__version__}\n".encode())
    for base in (_PKG, templates_dir()):
        for f in sorted(base.rglob("*")):
            if f.suffix in (".py", ".j2", ".json", ".rs") and "__pycache__" not in f.parts:
                st = f.stat()
                h.update(f"{f.relative_to(base)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def input_hashes(files: set[str]) -> dict[str, str] | None:
    """sha256 of each input file's bytes; None when one cannot be read."""
    out = {}
    for f in sorted(files):
        try:
            out[f] = hashlib.sha256(Path(f).read_bytes()).hexdigest()
        except OSError:
            return None
    return out


def output_stats(root: Path, rels: list[str]) -> dict[str, list[int]]:
    stats = {}
    for rel in rels:
        st = (root / rel).stat()
        stats[rel] = [st.st_size, st.st_mtime_ns]
    return stats


def entry(spec_files: list[Path], inputs: set[str], policies: list[str]) -> dict | None:
    """What a full render records (None when an input vanished meanwhile)."""
    hashes = input_hashes(inputs | {str(f) for f in spec_files})
    if hashes is None:
        return None
    return {"generator": generator_fingerprint(),
            "spec_files": [str(f) for f in spec_files], "inputs": hashes, "policies": policies}


def hit(root: Path, lock: dict, spec_files: list[Path]) -> dict | None:
    """The recorded entry when rendering again would write exactly what is there."""
    cached = lock.get("cache")
    if not isinstance(cached, dict) \
            or cached.get("spec_files") != [str(f) for f in spec_files]:
        return None
    inputs = cached.get("inputs")
    if not isinstance(inputs, dict) or input_hashes(set(inputs)) != inputs:
        return None
    files = lock.get("files", {})
    try:
        if output_stats(root, sorted(files)) != cached.get("outputs"):
            return None
    except OSError:
        return None
    if cached.get("generator") != generator_fingerprint():
        return None
    return cached


def read_lock(root: Path, name: str) -> dict:
    try:
        data = json.loads((root / name).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
