"""Finding the tools a build needs, their versions, and which route they enable.

Routes: `bpf-linker` (aya's own: a bpf-linker whose LLVM major matches rustc's) and
`asm` (no bpf-linker: fat LTO, `--emit=asm`, a BPF assembler; see README.md). The
most common aya failure is a bpf-linker built against another LLVM than rustc's;
`doctor` and the build say so in plain words.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tatara_build.backends.proc import first_line, run

RUSTC_CANDIDATES = ["/usr/bin/rustc", "rustc"]


@dataclass
class Tool:
    name: str
    path: str | None
    version: str = ""
    note: str = ""

    @property
    def found(self) -> bool:
        return self.path is not None


@dataclass
class Toolchain:
    rustc: Tool
    cargo: Tool
    rust_src: str | None
    llvm: str  # rustc's LLVM version
    assembler: Tool
    bpf_linker: Tool
    bpf_linker_llvm: str
    route: str  # "bpf-linker" | "asm" | "none"
    problems: list[str] = field(default_factory=list)


def _which(name: str) -> str | None:
    return shutil.which(name) if "/" not in name else (name if Path(name).exists() else None)


def find_rustc() -> tuple[Tool, Tool, str | None, str]:
    """A rustc whose sysroot has the standard library source (for -Z build-std)."""
    fallback = None
    for cand in RUSTC_CANDIDATES:
        path = _which(cand)
        if not path:
            continue
        vv = run([path, "-vV"])
        if not vv.ok:
            continue
        sysroot = run([path, "--print", "sysroot"]).stdout.strip()
        src = Path(sysroot) / "lib/rustlib/src/rust/library"
        llvm = (re.search(r"LLVM version: (\S+)", vv.stdout) or [None, ""])[1]
        tool = Tool("rustc", path, first_line(vv.stdout))
        cargo_path = str(Path(path).with_name("cargo")) if Path(path).with_name("cargo").exists() \
            else _which("cargo")
        cargo = Tool("cargo", cargo_path, first_line(run([cargo_path, "--version"]).stdout)
                     if cargo_path else "")
        if (src / "Cargo.lock").exists():
            return tool, cargo, str(src), llvm
        fallback = fallback or (tool, cargo, None, llvm)
    return fallback or (Tool("rustc", None), Tool("cargo", None), None, "")


def find_assembler() -> Tool:
    for name in ("clang", "llvm-mc", "llvm-mc-19"):
        path = _which(name)
        if path:
            return Tool(name, path, first_line(run([path, "--version"]).stdout))
    return Tool("clang", None, note="install clang (Debian: apt-get install clang)")


def find_bpf_linker() -> tuple[Tool, str]:
    path = _which("bpf-linker")
    if not path:
        return Tool("bpf-linker", None, note="not on PATH"), ""
    out = run([path, "--version"])
    text = out.stdout + out.stderr
    llvm = (re.search(r"LLVM[^0-9]*([0-9]+(?:\.[0-9]+)*)", text) or [None, ""])[1]
    return Tool("bpf-linker", path, first_line(text)), llvm


def detect() -> Toolchain:
    rustc, cargo, src, llvm = find_rustc()
    asm = find_assembler()
    linker, linker_llvm = find_bpf_linker()
    problems: list[str] = []
    route = "none"
    if linker.found:
        if linker_llvm and llvm and linker_llvm.split(".")[0] == llvm.split(".")[0]:
            route = "bpf-linker"
        else:
            problems.append(
                f"bpf-linker uses LLVM {linker_llvm or 'unknown'} but rustc uses LLVM {llvm}: "
                "their bitcode is not compatible (`Invalid record`); using the asm route")
    if route == "none":
        if rustc.found and src and asm.found:
            route = "asm"
        else:
            if not rustc.found:
                problems.append("no rustc found (Debian: apt-get install rustc-web cargo-web)")
            elif not src:
                problems.append("rustc has no standard library source for -Z build-std "
                                "(Debian: apt-get install rust-web-src)")
            if not asm.found:
                problems.append("no BPF assembler (clang or llvm-mc) found")
    return Toolchain(rustc, cargo, src, llvm, asm, linker, linker_llvm, route, problems)
