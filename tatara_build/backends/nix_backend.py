"""The nix backend: `nix build` of the rendered flake, one policy at a time.

The rendered flake (templates/nix/flake.nix.j2) takes nixpkgs and tatara-build as
inputs; its packages call nix/buildBpfPolicy.nix, which writes the object, `.b3` files
and the manifest. Those outputs are copied into OUT/artifacts/<policy>/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tatara_build.backends.proc import run
from tatara_build.errors import BuildError, EnvironmentProblem

NIX_FLAGS = ["--extra-experimental-features", "nix-command flakes"]


def build_policy(crates_root: Path, policy: str, dest: Path, echo: bool = False) -> None:
    nix = shutil.which("nix")
    if nix is None:
        raise EnvironmentProblem("--backend nix needs nix (Debian: apt-get install nix-bin)")
    link = crates_root.parent / f".nix-result-{policy}"
    res = run([nix, *NIX_FLAGS, "build", f"path:{crates_root.resolve()}#{policy}",
               "--out-link", str(link), "-L"], echo=echo)
    if not res.ok:
        tail = "\n".join(res.stderr.strip().splitlines()[-15:])
        raise BuildError(f"policy `{policy}`: nix build failed (the rendered flake needs its "
                         f"inputs, nixpkgs and tatara-build, from the network):\n{tail}")
    store = link.resolve()
    link.unlink()
    dest.mkdir(parents=True, exist_ok=True)
    for f in store.iterdir():
        shutil.copyfile(f, dest / f.name)
