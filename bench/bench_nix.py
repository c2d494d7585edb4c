"""Benchmark: the examples built with `--backend nix` (on the stand-in nixpkgs that
scripts/setup.sh prepares, sandboxed) beside `--backend cargo`, first build and no-op
rebuild, in one run on this machine.

"First" means no compiled output of either: the Nix outputs of these policies are
deleted from the store first (fetched crates stay, as cargo's registry does), and cargo
builds into a new target folder (both take `core` from the same prebuilt sysroot). Nix
compiles aya-ebpf and its dependencies once per policy (each derivation is sealed);
cargo once for all of them (one target folder)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def timed(argv: list[str]) -> tuple[float, dict]:
    t = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{r.stderr[-3000:]}")
    return time.perf_counter() - t, json.loads(r.stdout)


def forget_nix_outputs(out: Path) -> None:
    """Delete this project's policy and crate outputs from the store (not the crates)."""
    stores = [json.loads(m.read_text())["toolchain"]["store_path"]
              for m in out.glob("artifacts/*/tatara.manifest.json")]
    drvs = subprocess.run(["nix-store", "-qd", *stores], capture_output=True, text=True).stdout.split()
    crates = subprocess.run(["nix-store", "-q", "--references", *drvs], capture_output=True,
                            text=True).stdout.split()
    crate_outs = subprocess.run(["nix-store", "-q", "--outputs",
                                 *[d for d in crates if "-bpf-" in d and d.endswith("-0.1.0.drv")]],
                                capture_output=True, text=True).stdout.split()
    for path in [*stores, *crate_outs]:
        subprocess.run(["nix-store", "--delete", path], capture_output=True)
    left = [p for p in [*stores, *crate_outs] if Path(p).exists()]
    if left:
        sys.exit(f"could not delete {left} from the store (still alive?)")


def main() -> int:
    cli = [sys.executable, "-m", "tatara_build", "build", str(EXAMPLES), "--json"]
    with tempfile.TemporaryDirectory() as tmp:
        nix_out, cargo_out = Path(tmp) / "nix", Path(tmp) / "cargo"
        nix = cli + ["-o", str(nix_out), "--backend", "nix", "--nixpkgs", "standin"]
        timed(nix)  # make sure the outputs exist, so that forgetting them is complete
        forget_nix_outputs(nix_out)
        nix_first, data = timed(nix)
        count = len(data["policies"])
        nix_noop, _ = timed(nix)
        cargo = cli + ["-o", str(cargo_out), "--target-dir", str(Path(tmp) / "target")]
        cargo_first, _ = timed(cargo)
        cargo_noop, _ = timed(cargo)
    print(f"first build ({count} policies): nix {nix_first:7.1f} s   cargo {cargo_first:7.1f} s   "
          f"ratio {nix_first / cargo_first:.2f}x")
    print(f"no-op rebuild:            nix {nix_noop:7.2f} s   cargo {cargo_noop:7.2f} s   "
          f"ratio {nix_noop / cargo_noop:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
