"""The local cargo backend: one rendered crate -> one BPF object.

asm route (no bpf-linker): `cargo rustc --release --target bpfel-unknown-none
-Z build-std=core -- --emit=asm -Z function-sections=no -C linker=true`; fat LTO
makes rustc's own LLVM generate BPF for the whole program into one `.s`, which a
BPF assembler turns into the ELF object; then BTF names are sanitised (btf.py).
bpf-linker route: `cargo build` with bpf-linker as the linker (`--btf`).

Reproducible: paths are remapped (crate, cargo home, std source) and
SOURCE_DATE_EPOCH is fixed, so two builds in two folders give the same bytes.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from tatara_build.backends import btf
from tatara_build.backends.proc import run
from tatara_build.backends.toolchain import Toolchain
from tatara_build.errors import BuildError

TARGET = "bpfel-unknown-none"


def _env(tc: Toolchain, crate: Path, target_dir: Path, policy: str) -> dict[str, str]:
    # Only paths shared by every crate go into RUSTFLAGS (which also reach core and
    # aya-ebpf): equal flags let cargo reuse one build of them for every policy and
    # every build that shares the target folder. The crate's own path is remapped in
    # `final_args`, which reach the policy crate alone.
    cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    remaps = [f"--remap-path-prefix={cargo_home}=/cargo",
              f"--remap-path-prefix={target_dir.resolve()}=/target"]
    if tc.rust_src:
        remaps.append(f"--remap-path-prefix={Path(tc.rust_src).parent}=/rustc/src")
    flags = ["-Cdebuginfo=2", *remaps]
    if tc.route == "bpf-linker":
        flags += ["-Clink-arg=--btf", f"-Clinker={tc.bpf_linker.path}"]
    env = {"RUSTC_BOOTSTRAP": "1", "CARGO_TARGET_DIR": str(target_dir),
           "CARGO_ENCODED_RUSTFLAGS": "\x1f".join(flags), "SOURCE_DATE_EPOCH": "0",
           "CARGO_TERM_COLOR": "never", "CARGO_INCREMENTAL": "0"}
    if tc.rustc.path:
        env["RUSTC"] = tc.rustc.path
        env["PATH"] = f"{Path(tc.rustc.path).parent}:{os.environ.get('PATH', '')}"
    return env


def compiler_errors(stderr: str) -> str:
    """The compiler's own messages, without cargo's progress lines."""
    keep = [ln for ln in stderr.splitlines()
            if not re.match(r"\s*(Compiling|Downloaded|Downloading|Updating|Locking|Blocking|"
                            r"Finished|Adding)\b", ln)]
    return "\n".join(keep).strip()


def build_crate(tc: Toolchain, crate: Path, bin_name: str, policy: str, target_dir: Path,
                out: Path, echo: bool = False) -> None:
    """Compile `crate` and write its object to `out`; BuildError names the policy."""
    if tc.route == "none":
        raise BuildError(f"policy `{policy}`: no way to build BPF objects here: "
                         + "; ".join(tc.problems))
    env = _env(tc, crate, target_dir, policy)
    own = f"--remap-path-prefix={crate.resolve()}=/tatara/{policy}"
    cargo = tc.cargo.path or "cargo"
    deps = target_dir / TARGET / "release" / "deps"
    if tc.route == "asm":
        for old in deps.glob(f"{bin_name}-*.s"):
            old.unlink()
        argv = [cargo, "rustc", "--release", "--locked", "--target", TARGET, "-Z",
                "build-std=core", "--bin", bin_name, "--", "--emit=asm", "-Zfunction-sections=no",
                "-Clinker=true", "-Dwarnings", own]
    else:
        argv = [cargo, "rustc", "--release", "--locked", "--target", TARGET, "-Z",
                "build-std=core", "--bin", bin_name, "--", "-Dwarnings", own]
    res = run(argv, cwd=crate, env=env, echo=echo)
    if not res.ok:
        raise BuildError(f"policy `{policy}`: cargo failed to compile {crate}:\n"
                         + compiler_errors(res.stderr))
    out.parent.mkdir(parents=True, exist_ok=True)
    if tc.route == "bpf-linker":
        shutil.copyfile(target_dir / TARGET / "release" / bin_name, out)
        return
    asm = sorted(deps.glob(f"{bin_name}-*.s"), key=lambda p: p.stat().st_mtime)
    if not asm:
        raise BuildError(f"policy `{policy}`: rustc wrote no BPF assembly under {deps}")
    assemble(tc, asm[-1], out, policy)
    btf.sanitize_object(out)


def assemble(tc: Toolchain, asm: Path, out: Path, policy: str) -> None:
    a = tc.assembler
    if a.name == "clang":
        argv = [a.path or "clang", "-target", "bpf", "-c", str(asm), "-o", str(out)]
    else:
        argv = [a.path or "llvm-mc", "-triple", "bpfel", "-filetype=obj", str(asm), "-o", str(out)]
    res = run(argv)
    if not res.ok:
        raise BuildError(f"policy `{policy}`: the BPF assembler ({a.name}) refused the code:\n"
                         + res.stderr.strip()[:4000])
