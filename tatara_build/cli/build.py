"""`tatara-build build PATHS -o OUT`: render, compile, package; `doctor`: what is here."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from tatara_build.backends.orchestrate import build_all
from tatara_build.backends.toolchain import detect
from tatara_build.cli.common import emit_json
from tatara_build.cli.render import render_files
from tatara_build.errors import BuildError
from tatara_build.outlayout import OutLayout


def build(paths: list[Path], out: Path, backend: str, as_json: bool, verify_repro: bool,
          verbose: bool, verify: bool = False, target_dir: Path | None = None,
          nixpkgs: str | None = None) -> int:
    if backend not in ("cargo", "nix"):
        raise BuildError(f"unknown backend `{backend}` (cargo or nix)")
    started = time.perf_counter()
    files, rplan, loaded = render_files(paths)
    console = Console(stderr=True, quiet=as_json)
    with console.status("building") as status:
        def progress(policy: str) -> None:
            status.update(f"building policy [bold]{policy}[/bold]")
        results = build_all(loaded.project, rplan.crates, files, OutLayout(out), progress,
                            echo=verbose, target_dir=target_dir, backend=backend, nixpkgs=nixpkgs)
    repro = (_verify_reproducible(loaded, rplan, files, results, target_dir)
             if verify_repro else None)
    skipped = _verify_in_kernel(results) if verify else {}
    elapsed = time.perf_counter() - started
    if as_json:
        emit_json({"ok": True, "out": str(out), "seconds": round(elapsed, 3),
                   "reproducible": repro, "verified": verify, "verify_skipped": skipped,
                   "policies": [{"policy": r.policy, "compiled": r.compiled, "dir": str(r.dest),
                                 "objects": [{k: o[k] for k in ("file", "sha256", "size")}
                                             for o in r.objects]} for r in results]})
        return 0
    for r in results:
        state = "built" if r.compiled else "up to date"
        names = ", ".join(o["file"] for o in r.objects)
        print(f"{state:>10}  {r.policy}: {names}")
    if repro is not None:
        print("reproducible: identical objects from two build folders")
    if verify:
        print("verified: the kernel accepted every object"
              + (" except skipped ones" if skipped else ""))
        for name, why in skipped.items():
            print(f"  skipped {name}: {why}")
    print(f"artifacts in {OutLayout(out).artifacts} ({elapsed:.2f}s)")
    return 0


def _verify_in_kernel(results) -> dict[str, str]:
    from tatara_build.runtime.verify import verify_object

    skipped = {}
    for r in results:
        for o in r.objects:
            why = verify_object(r.policy, r.dest / o["file"], o["programs"])
            if why:
                skipped[f"{r.policy}/{o['file']}"] = why
    return skipped


def _verify_reproducible(loaded, rplan, files, results, target_dir: Path | None) -> bool:
    """Build again in a fresh folder and compare every object byte for byte."""
    with tempfile.TemporaryDirectory(prefix="tatara-repro-") as tmp:
        again = build_all(loaded.project, rplan.crates, files, OutLayout(Path(tmp) / "out"),
                          target_dir=target_dir)
        first = {(r.policy, o["file"]): o["sha256"] for r in results for o in r.objects}
        second = {(r.policy, o["file"]): o["sha256"] for r in again for o in r.objects}
    diff = sorted(k for k in first if first[k] != second.get(k))
    if diff:
        raise BuildError("not reproducible: " + ", ".join(f"{p}/{f}" for p, f in diff)
                         + " differ between two build folders")
    return True


def doctor(as_json: bool) -> int:
    from tatara_build.runtime.probe import runtime_facts

    tc = detect()
    facts = runtime_facts()
    rows = [
        ("rustc", tc.rustc.path, tc.rustc.version, f"LLVM {tc.llvm}" if tc.llvm else ""),
        ("cargo", tc.cargo.path, tc.cargo.version, ""),
        ("rust-src", tc.rust_src, "", "-Z build-std=core for bpfel-unknown-none"),
        ("bpfel core", tc.bpf_sysroot, "", "prebuilt core (scripts/setup-bpf-sysroot.sh): no build-std"),
        ("assembler", tc.assembler.path, tc.assembler.version, "the asm route (no bpf-linker)"),
        ("bpf-linker", tc.bpf_linker.path, tc.bpf_linker.version,
         f"LLVM {tc.bpf_linker_llvm}" if tc.bpf_linker_llvm else tc.bpf_linker.note),
        *facts["rows"],
    ]
    if as_json:
        emit_json({"route": tc.route, "problems": tc.problems + facts["problems"],
                   "tools": [{"name": n, "path": p, "version": v, "note": note}
                             for n, p, v, note in rows]})
        return 0
    for name, path, version, note in rows:
        mark = "ok " if path else "-- "
        print(f"{mark}{name:<11} {path or 'not found':<28} {version[:40]:<40} {note}")
    print(f"build route: {tc.route}")
    for p in tc.problems + facts["problems"]:
        print(f"problem: {p}", file=sys.stderr)
    return 0
