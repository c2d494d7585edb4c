"""The local cargo backend: one rendered crate -> one BPF object.

bpf-linker route (aya's own): `cargo rustc --release --target bpfel-unknown-none` with
bpf-linker as the linker (`--btf`); the object is the bin artifact cargo reports.
asm route (no bpf-linker): the same with `--emit=asm=<file> -Z function-sections=no
-C linker=true`; fat LTO makes rustc's own LLVM generate BPF for the whole program into
that one `.s`, which a BPF assembler turns into the ELF object; then BTF names are
sanitised (btf.py).

`core` comes from the cached bpfel sysroot (`--sysroot`, as nixpkgs' rustc ships it)
when setup built one, else from `-Z build-std=core`. Cargo is read through its JSON
messages (`--message-format=json`: compiler-artifact, compiler-message's `rendered`).

Reproducible: paths are remapped (crate, registry sources, cargo home, std source) to
the names the Nix build uses (nix/buildBpfObject.nix) and SOURCE_DATE_EPOCH is fixed,
so two builds in two folders, or this build and the Nix one, give the same bytes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from tatara_build.backends import btf
from tatara_build.backends.proc import run
from tatara_build.backends.toolchain import Toolchain, cache_dir
from tatara_build.errors import BuildError

TARGET = "bpfel-unknown-none"


def shared_target_dir(tc: Toolchain) -> Path:
    """The per-user cargo target folder for this toolchain: a fresh `-o` folder reuses
    the compiled aya-ebpf (and core, on the build-std route) of earlier builds."""
    return cache_dir() / "target" / tc.key()


def _remaps(tc: Toolchain, target_dir: Path) -> list[str]:
    # Only paths shared by every crate go into RUSTFLAGS (which also reach aya-ebpf and
    # core): equal flags let cargo reuse one build of them for every policy. The
    # crate's own path is remapped in the final crate's arguments alone.
    cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    remaps = [f"--remap-path-prefix={cargo_home}=/cargo",
              f"--remap-path-prefix={target_dir.resolve()}=/target"]
    remaps += [f"--remap-path-prefix={d}=/cargo-deps"
               for d in sorted(cargo_home.glob("registry/src/*")) if d.is_dir()]
    if tc.rust_src and not tc.bpf_sysroot:
        remaps.append(f"--remap-path-prefix={Path(tc.rust_src).parent}=/rustc/src")
    return remaps


def _env(tc: Toolchain, target_dir: Path) -> dict[str, str]:
    flags = ["-Cdebuginfo=2", *_remaps(tc, target_dir)]
    if tc.bpf_sysroot:
        flags.append(f"--sysroot={tc.bpf_sysroot}")
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


def read_messages(stdout: str, bin_name: str) -> tuple[str | None, list[str]]:
    """From cargo's JSON messages: the bin artifact's executable and every rendered
    compiler message (errors and warnings, in order)."""
    executable, rendered = None, []
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        msg = json.loads(line)
        if msg.get("reason") == "compiler-message" and msg["message"].get("rendered"):
            rendered.append(msg["message"]["rendered"].rstrip())
        elif msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == bin_name \
                and "bin" in msg["target"]["kind"]:
            executable = msg.get("executable")
    return executable, rendered


def cargo_argv(tc: Toolchain, bin_name: str, own_remap: str, asm_out: Path | None) -> list[str]:
    argv = [tc.cargo.path or "cargo", "rustc", "--release", "--locked", "--target", TARGET,
            "--message-format=json", "--bin", bin_name]
    if not tc.bpf_sysroot:
        argv += ["-Z", "build-std=core"]
    argv += ["--", "-Dwarnings", own_remap]
    if asm_out is not None:
        argv += [f"--emit=asm={asm_out}", "-Zfunction-sections=no", "-Clinker=true"]
    return argv


def build_crate(tc: Toolchain, crate: Path, bin_name: str, policy: str, target_dir: Path,
                out: Path, echo: bool = False) -> None:
    """Compile `crate` and write its object to `out`; BuildError names the policy."""
    if tc.route == "none":
        raise BuildError(f"policy `{policy}`: no way to build BPF objects here: "
                         + "; ".join(tc.problems))
    out.parent.mkdir(parents=True, exist_ok=True)
    asm = out.with_suffix(".s") if tc.route == "asm" else None
    own = f"--remap-path-prefix={crate.resolve()}=/tatara/{policy}"
    res = run(cargo_argv(tc, bin_name, own, asm), cwd=crate, env=_env(tc, target_dir), echo=echo)
    executable, rendered = read_messages(res.stdout, bin_name)
    if not res.ok:
        text = "\n\n".join(rendered) or compiler_errors(res.stderr)
        raise BuildError(f"policy `{policy}`: cargo failed to compile {crate}:\n{text}")
    if asm is None:
        if not executable:
            raise BuildError(f"policy `{policy}`: cargo reported no `{bin_name}` object")
        shutil.copyfile(executable, out)
        return
    try:
        assemble(tc, asm, out, policy)
    finally:
        asm.unlink(missing_ok=True)
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
