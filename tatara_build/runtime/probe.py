"""What the kernel side of this machine offers: bpftool, bpffs, root, program types.

`bpftool -j feature probe kernel` tells which program types the kernel accepts
(kprobes and BPF LSM are off on some kernels); tests skip those with that reason.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from tatara_build.backends.proc import first_line, run

BPFFS = Path("/sys/fs/bpf")


@contextmanager
def scratch_pins(prefix: str = "tatara-scratch-"):
    """A fresh folder on bpffs for a throw-away load, removed with every pin in it even
    when the caller fails (bpffs names may not contain dots: mkdtemp's suffix has none)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=BPFFS))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def bpffs_mounted(path: Path = BPFFS) -> bool:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    return any(ln.split()[1] == str(path) and ln.split()[2] == "bpf" for ln in mounts if ln.split())


@lru_cache(maxsize=1)
def program_types() -> dict[str, bool]:
    """`have_<type>_prog_type` -> bool, from bpftool's kernel probe ({} if unavailable)."""
    bpftool = shutil.which("bpftool")
    if not bpftool or os.geteuid() != 0:
        return {}
    res = run([bpftool, "-j", "feature", "probe", "kernel"])
    if not res.ok:
        return {}
    try:
        return dict(json.loads(res.stdout).get("program_types", {}))
    except ValueError:
        return {}


def runtime_facts() -> dict:
    bpftool = shutil.which("bpftool")
    rows, problems = [], []
    version = first_line(run([bpftool, "version"]).stdout) if bpftool else ""
    rows.append(("bpftool", bpftool, version, "load, pin, attach, map access"))
    for tool, note in (("tc", "attach :tc programs (clsact)"), ("nix", "the nix backend"),
                       ("nix-instantiate", "parse-check rendered Nix")):
        path = shutil.which(tool)
        rows.append((tool, path, first_line(run([path, "-V"]).stdout) if path else "", note))
    root = os.geteuid() == 0
    rows.append(("root", "yes" if root else None, "", "needed to load programs"))
    rows.append(("bpffs", str(BPFFS) if bpffs_mounted() else None, "",
                 "pins; mount with: mount -t bpf bpf /sys/fs/bpf"))
    if not bpftool:
        problems.append("bpftool not found (Debian: apt-get install bpftool)")
    types = program_types()
    missing = sorted(k for k, v in types.items() if not v)
    if missing:
        rows.append(("kernel", "probe", "", "missing program types: " + ", ".join(
            m.removeprefix("have_").removesuffix("_prog_type") for m in missing)))
    return {"rows": rows, "problems": problems}
