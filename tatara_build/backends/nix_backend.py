"""The nix backend: `nix build` of the rendered flake, every policy in one call.

The rendered flake (templates/nix/flake.nix.j2) has one input, nixpkgs (pinned in the
rendered flake.lock), and carries the Nix library (nix/) in `tatara-nix/`. `--nixpkgs`
overrides that input: `standin` names the test stand-in that scripts/setup.sh prepares
(tests/nixpkgs-standin/ plus the host tools it wraps), a folder is taken as `path:`, and
anything else as a flake reference. With the stand-in the build is sandboxed and sees
only the host paths the stand-in names (host.json `sandboxPaths`).

The Nix outputs (objects and `.b3`) are copied into OUT/artifacts/<policy>/ and the
manifest is written from the objects, as `tatara-build package` does inside Nix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from tatara_build.backends import manifest
from tatara_build.backends.cargo_backend import compiler_errors
from tatara_build.backends.proc import run
from tatara_build.errors import BuildError, EnvironmentProblem

NIX_FLAGS = ["--extra-experimental-features", "nix-command flakes"]
STANDIN = "standin"


def standin_dir() -> Path:
    """Where scripts/setup-nix-standin.sh puts the prepared stand-in."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "tatara-build" / "nixpkgs-standin"


def nixpkgs_options(nixpkgs: str | None) -> list[str]:
    """nix options for `--nixpkgs`: the input override and, for the stand-in, a sandbox
    that sees the host tools it wraps and nothing else."""
    if nixpkgs is None:
        return []
    if nixpkgs == STANDIN:
        folder = standin_dir()
        if not (folder / "host.json").exists():
            raise EnvironmentProblem(f"--nixpkgs standin: {folder} is not prepared "
                                     "(run scripts/setup.sh, which runs scripts/setup-nix-standin.sh)")
    else:
        folder = Path(nixpkgs)
    if not folder.is_dir():
        return ["--override-input", "nixpkgs", nixpkgs]
    opts = ["--override-input", "nixpkgs", f"path:{folder.resolve()}"]
    host = folder / "host.json"
    if host.exists():
        paths = json.loads(host.read_text())["sandboxPaths"]
        opts += ["--option", "sandbox", "true", "--option", "extra-sandbox-paths", " ".join(paths),
                 "--option", "substituters", "", "--option", "build-users-group", ""]
    return opts


def nix_exe() -> str:
    nix = shutil.which("nix")
    if nix is None:
        raise EnvironmentProblem("--backend nix needs nix (Debian: apt-get install nix-bin)")
    return nix


def build_policies(crates_root: Path, policies: list[str], nixpkgs: str | None,
                   echo: bool = False) -> dict[str, Path]:
    """`nix build` every policy of the rendered flake; policy -> its store output."""
    flake = f"path:{crates_root.resolve()}"
    argv = [nix_exe(), *NIX_FLAGS, "build", "--no-link", "--json", "--no-write-lock-file", "-L",
            *nixpkgs_options(nixpkgs), *(f"{flake}#{p}" for p in policies)]
    res = run(argv, echo=echo)
    if not res.ok:
        raise BuildError(failure_message(res.stderr, policies, nixpkgs))
    outs = [Path(r["outputs"]["out"]) for r in json.loads(res.stdout)]
    return dict(zip(policies, outs, strict=True))


def failure_message(stderr: str, policies: list[str], nixpkgs: str | None) -> str:
    """rustc's own messages when a crate failed to compile; else Nix's log tail."""
    failed = [p for p in policies if re.search(rf"bpf-{re.escape(p)}(-0\.1\.0)?\.drv' failed", stderr)]
    for policy in failed:
        prefix = re.compile(rf"^bpf-{re.escape(policy)}(?:-0\.1\.0)?> ?", re.M)
        log = "\n".join(prefix.sub("", ln) for ln in stderr.splitlines() if prefix.match(ln))
        errors = compiler_errors(log)
        if "error" in errors:
            return f"policy `{policy}`: the crate does not compile under Nix:\n{errors}"
    where = ("nixpkgs from the rendered flake.lock (network)" if nixpkgs is None
             else f"nixpkgs = {nixpkgs}")
    tail = "\n".join(stderr.strip().splitlines()[-20:])
    name = f"policy `{failed[0]}`" if failed else "nix build"
    return f"{name}: nix build failed ({where}):\n{tail}"


def collect(store: Path, dest: Path, policy: str, spec_hash: str, nixpkgs: str | None) -> list[dict]:
    """Copy a policy's Nix outputs into `dest` and write its manifest from the objects."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in store.iterdir():
        shutil.copyfile(f, dest / f.name)
    entries = [manifest.object_entry(obj, "crate" if obj.name == f"{policy}.bpf.o" else "carried")
               for obj in sorted(dest.glob("*.bpf.o"))]
    toolchain = {"route": "nix", "nixpkgs": nixpkgs or "flake.lock",
                 "target": "bpfel-unknown-none", "store_path": str(store)}
    manifest.write_manifest(dest, policy, spec_hash, entries, toolchain)
    return entries
