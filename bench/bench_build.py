"""Benchmark: first build and no-op rebuild of edge-protection, beside `cargo build` of the
same crate (the same asm-route command run by hand) on the same machine in one run; and a
first build into a fresh `-o` folder beside a rebuild into an existing one (the shared
per-toolchain target means a new folder compiles only the policy crate)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PATH": f"/usr/bin:{os.environ.get('PATH', '')}"}


def timed(argv, cwd=None, env=None) -> float:
    t = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env or ENV, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> int:
    spec = ROOT / "examples" / "edge-protection.tlisp"
    with tempfile.TemporaryDirectory() as tmp:
        out, target = Path(tmp) / "out", Path(tmp) / "target"
        cli = [sys.executable, "-m", "tatara_build", "build", str(spec), "-o", str(out),
               "--target-dir", str(target)]
        first = timed(cli)
        noop = timed(cli)
        import json
        inner = json.loads(subprocess.run(cli + ["--json"], env=ENV, capture_output=True,
                                          text=True, check=True).stdout)["seconds"]
        crate = out / "crates" / "edge_protection"
        shutil.rmtree(target)
        cargo = ["cargo", "rustc", "--release", "--locked", "--target", "bpfel-unknown-none",
                 "-Z", "build-std=core", "--", "--emit=asm", "-Zfunction-sections=no",
                 "-Clinker=true"]
        env = {**ENV, "RUSTC_BOOTSTRAP": "1", "CARGO_TARGET_DIR": str(target)}
        cargo_first = timed(cargo, cwd=crate, env=env)
        cargo_noop = timed(cargo, cwd=crate, env=env)
    print(f"first build:  tatara-build {first:7.2f} s   cargo {cargo_first:7.2f} s   "
          f"ratio {first / cargo_first:.2f}x")
    print(f"no-op build:  tatara-build {noop:7.2f} s   cargo {cargo_noop:7.2f} s   "
          f"ratio {noop / cargo_noop:.2f}x")
    print(f"no-op build inside the process (spec read, render, key check): {inner:.2f} s; "
          f"the rest of {noop:.2f} s is Python start-up and imports")
    print(f"target no-op < 1 s: {'PASS' if noop < 1 else 'FAIL'} (process), "
          f"{'PASS' if inner < 1 else 'FAIL'} (build work)")
    fresh, existing = fresh_folder(spec)
    print(f"fresh -o folder: {fresh:6.2f} s   rebuild into an existing folder: {existing:6.2f} s   "
          f"ratio {fresh / existing:.2f}x  (target <= 1.5x: {'PASS' if fresh <= 1.5 * existing else 'FAIL'})")
    return 0


def fresh_folder(spec: Path) -> tuple[float, float]:
    """Default target folder (shared per toolchain): a new -o folder vs forcing the same
    policy to compile again in an existing one."""
    with tempfile.TemporaryDirectory() as tmp:
        cli = [sys.executable, "-m", "tatara_build", "build", str(spec), "-o"]
        timed(cli + [str(Path(tmp) / "warm")])  # the shared target holds aya-ebpf
        fresh = timed(cli + [str(Path(tmp) / "fresh")])
        (Path(tmp) / "fresh" / "artifacts" / "edge_protection" / ".build-key").unlink()
        existing = timed(cli + [str(Path(tmp) / "fresh")])
    return fresh, existing


if __name__ == "__main__":
    raise SystemExit(main())
