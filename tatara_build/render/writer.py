"""Writing a rendered tree: atomic, confined to the output root, only changed files.

Unchanged files are not touched (their mtimes stay, so cargo and nix don't
rebuild). A render lock (`tatara.render.json`, copier-style) records what was
written, so files a spec no longer produces are removed on the next render, and
nothing else in the folder ever is. `check` mode writes nothing and reports.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from tatara_build.errors import TataraError
from tatara_build.render.cache import output_stats

LOCK = "tatara.render.json"


@dataclass
class WriteReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[str]:
        return sorted(self.written + self.removed)


def confined(root: Path, rel: str, cache: dict[Path, bool] | None = None) -> Path:
    """`root/rel`, refusing anything that would land outside `root` (also through a
    symlinked folder). `cache` remembers folders already checked, so a tree of many
    files resolves each folder once."""
    if rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in rel.split("/")):
        raise TataraError(f"refusing to write `{rel}`: not a plain relative path")
    path = root / rel
    parent = path.parent
    ok = cache.get(parent) if cache is not None else None
    if ok is None:
        ok = parent.resolve().is_relative_to(root.resolve()) and not (
            path.is_symlink() and not path.resolve().is_relative_to(root.resolve()))
        if cache is not None:
            cache[parent] = ok
    elif path.is_symlink():
        ok = path.resolve().is_relative_to(root.resolve())
    if not ok:
        raise TataraError(f"refusing to write `{rel}`: it resolves outside {root}")
    return path


def atomic_write(path: Path, data: bytes, made: set[Path] | None = None) -> None:
    """Write beside the target, then rename over it: readers see old or new, never half.
    The temporary name carries our pid (one writer per render); `made` caches folders."""
    parent = path.parent
    if made is None or parent not in made:
        parent.mkdir(parents=True, exist_ok=True)
        if made is not None:
            made.add(parent)
    tmp = parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


def _previous(root: Path) -> dict[str, str]:
    """The lock's `files` (relative path -> sha256), keeping only well-formed entries:
    a lock someone edited (`{"files": "abc"}`, paths like `..`) removes nothing."""
    try:
        files = json.loads((root / LOCK).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not isinstance(files, dict):
        return {}
    return {rel: digest for rel, digest in files.items()
            if isinstance(digest, str) and _SHA256.match(digest) and _plain(rel)}


def _plain(rel: str) -> bool:
    return bool(rel) and not rel.startswith("/") and "\\" not in rel and "\0" not in rel \
        and not any(p in ("", ".", "..") for p in rel.split("/"))


def _ours(root: Path, rel: str, digest: str) -> Path | None:
    """`root/rel` if it is still the regular file we wrote (same sha256), else None:
    a folder, a symlink, or a file someone changed since is never removed."""
    try:
        path = confined(root, rel)
        if path.is_symlink() or not path.is_file():
            return None
        return path if hashlib.sha256(path.read_bytes()).hexdigest() == digest else None
    except (OSError, TataraError):
        return None


def write_tree(root: Path, files: dict[str, bytes], check: bool = False,
               cache: dict | None = None) -> WriteReport:
    """Make `root` hold exactly `files` (plus anything we never wrote). A folder we
    cannot write (a file in the way, read-only, full) is a user error (exit 1). `cache`,
    from render/cache.py, goes into the lock with the written files' sizes and mtimes."""
    for folder in (root, *root.parents):  # the nearest existing one must be a folder
        if folder.exists():
            if not folder.is_dir():
                raise TataraError(f"output {folder} exists and is not a folder (pick another -o)")
            break
    try:
        return _write_tree(root, files, check, cache)
    except OSError as exc:
        where = exc.filename2 or exc.filename or root
        raise TataraError(f"cannot write the output under {root}: {where}: {exc.strerror} "
                          "(check -o, the folder's permissions and free space)") from None


def _write_tree(root: Path, files: dict[str, bytes], check: bool,
                cache: dict | None) -> WriteReport:
    report = WriteReport()
    made: set[Path] = set()
    checked: dict[Path, bool] = {}
    for rel in sorted(files):
        path = confined(root, rel, checked)
        data = files[rel]
        try:
            same = path.read_bytes() == data
        except OSError:
            same = False
        if same:
            report.unchanged.append(rel)
            continue
        report.written.append(rel)
        if not check:
            atomic_write(path, data, made)
    previous = _previous(root)
    for rel in sorted(set(previous) - set(files)):
        path = _ours(root, rel, previous[rel])
        if path is not None:
            report.removed.append(rel)
            if not check:
                path.unlink()
    if not check:
        lock = {"generator": "tatara-build", "files": {
            rel: hashlib.sha256(data).hexdigest() for rel, data in sorted(files.items())}}
        if cache is not None:
            lock["cache"] = {**cache, "outputs": output_stats(root, sorted(files))}
        text = (json.dumps(lock, indent=2, sort_keys=True) + "\n").encode()
        if not (root / LOCK).is_file() or (root / LOCK).read_bytes() != text:
            atomic_write(root / LOCK, text)
    return report
