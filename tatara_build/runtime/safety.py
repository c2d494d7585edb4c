"""Trusted boundaries of the runtime: what may be removed, what may be loaded, where
state may be written. Every check here runs before the first kernel change.

- A pin root must be an absolute path of plain characters (it is passed to `bpftool
  batch`, which splits on white space) on a bpffs mount (statfs magic BPF_FS_MAGIC).
- `Owner.remove` deletes a path only when, resolved, it lies inside the policy's pin
  folder on bpffs, or is one exact pin (a spec `:pin-path`) the journal says we created.
- Objects are hashed and compared with the manifest's sha256 before anything is loaded.
- The state folder is probed (create, write, fsync, remove) before the kernel is touched.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import os
import re
import shutil
from pathlib import Path

from tatara_build.errors import EnvironmentProblem, RuntimeFailure, SpecError

BPF_FS_MAGIC = 0xCAFE4A11
_PIN_ROOT = re.compile(r"^/[A-Za-z0-9_./@+-]*$")
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


class NotOurs(RuntimeFailure):
    """A removal refused because the path is not provably the policy's."""


def fs_magic(path: Path) -> int | None:
    """f_type of statfs(2) for `path` (None if it does not exist)."""
    buf = ctypes.create_string_buffer(256)  # struct statfs: f_type is the first word
    if _libc.statfs(os.fsencode(str(path)), buf) != 0:
        return None
    return int.from_bytes(buf.raw[: ctypes.sizeof(ctypes.c_long)], "little")


def on_bpffs(path: Path) -> bool:
    return fs_magic(path) == BPF_FS_MAGIC


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_pin_root(root: Path) -> Path:
    """The pin root, refused (exit 1) unless plain, absolute and on bpffs."""
    text = str(root)
    if not _PIN_ROOT.match(text) or "/../" in text + "/" or text.endswith("/.."):
        raise SpecError(f"--pin-root {text!r}: use an absolute path of letters, digits and "
                        "`_ . / @ + -` (it is passed to bpftool batch)")
    real = Path(os.path.realpath(text))
    if not on_bpffs(_existing(real)):
        raise SpecError(f"--pin-root {text}: not on a BPF filesystem (statfs magic is not "
                        f"0x{BPF_FS_MAGIC:x}); pins live on bpffs, e.g. under /sys/fs/bpf")
    return root


def check_name(kind: str, value: str) -> str:
    if not re.match(r"^[A-Za-z0-9_.-]{1,64}$", value) or value in (".", ".."):
        raise SpecError(f"{kind} {value!r}: use letters, digits, `_ . -`")
    return value


class Owner:
    """What one policy may remove: its folder under the pin root, plus exact pins
    outside it that the journal records it created (maps/programs at a spec pin path)."""

    def __init__(self, base: Path, created: set[str] | None = None):
        self.base = Path(os.path.realpath(base))
        self.created = {os.path.realpath(p) for p in (created or set())}

    def owns(self, path: Path | str) -> bool:
        real = os.path.realpath(path)
        inside = os.path.commonpath([real, str(self.base)]) == str(self.base)
        if not (inside or real in self.created):
            return False
        return on_bpffs(_existing(Path(real)))

    def check(self, path: Path | str) -> Path:
        if not self.owns(path):
            raise NotOurs(f"refusing to remove {path}: not inside {self.base} on bpffs, "
                          "nor a pin this policy created")
        return Path(path)

    def remove(self, path: Path | str) -> bool:
        """Remove a pin or pin folder we own; False when it was not there."""
        p = self.check(path)
        if p.is_symlink() or not p.exists():
            return False
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        return True

    def rmdir(self, path: Path | str) -> None:
        try:
            self.check(path).rmdir()
        except OSError:
            pass  # not empty or gone


def check_objects(folder: Path, objects: dict[str, dict]) -> None:
    """Every object's sha256 as the manifest says, before anything is loaded (exit 4)."""
    for file, entry in sorted(objects.items()):
        try:
            got = hashlib.sha256((folder / file).read_bytes()).hexdigest()
        except OSError as exc:
            raise RuntimeFailure(f"object {folder / file}: {exc.strerror}") from None
        if got != entry.get("sha256"):
            raise RuntimeFailure(f"object {folder / file}: sha256 {got[:16]}… does not match the "
                                 f"manifest ({str(entry.get('sha256'))[:16]}…): tampered or truncated; "
                                 "nothing loaded. "
                                 "Rebuild with `tatara-build build`")


def probe_state_dir(folder: Path, need: int = 16 * 1024) -> None:
    """Create, write `need` bytes, fsync and remove a file in the state folder: an
    unwritable or full folder is found here (exit 5), not after the kernel changed."""
    probe = folder / f".probe-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * need)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        why = {errno.ENOSPC: "full", errno.EROFS: "read-only", errno.EACCES: "not writable",
               errno.EDQUOT: "over quota"}.get(exc.errno or 0, exc.strerror)
        raise EnvironmentProblem(f"state folder {folder} is {why} (TATARA_STATE_DIR): the "
                                 "journal must be written before the kernel is changed") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
