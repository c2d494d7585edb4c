"""Finding the tools a build needs, their versions, and which route they enable.

Routes: `bpf-linker` (aya's own: a bpf-linker whose LLVM major matches rustc's) and
`asm` (no bpf-linker: fat LTO, `--emit=asm`, a BPF assembler; see README.md). The
most common aya failure is a bpf-linker built against another LLVM than rustc's;
`doctor` and the build say so in plain words. bpf-linker is looked for on PATH, then
where scripts/setup-bpf-linker.sh caches it; its LLVM is read from its `--version` or,
when that does not say, from the libLLVM it links (ELF DT_NEEDED). `TATARA_BUILD_ROUTE`
(`asm` or `bpf-linker`) forces a route.

`core` for bpfel-unknown-none comes from a sysroot built once per rustc
(scripts/setup-bpf-sysroot.sh, the same one the Nix stand-in uses) when it is there, and
from `-Z build-std=core` otherwise.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass, field, replace
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
    bpf_sysroot: str | None = None  # a sysroot with core for bpfel (else -Z build-std)

    def key(self) -> str:
        """What the compiled dependencies depend on (a shared target folder's name)."""
        parts = [self.rustc.version, self.llvm, self.route, self.bpf_sysroot or "build-std",
                 self.bpf_linker.version if self.route == "bpf-linker" else ""]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


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


def cache_dir() -> Path:
    """Where setup scripts cache long builds (~/.cache/tatara-build)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tatara-build"


def find_bpf_linker() -> tuple[Tool, str]:
    cached = sorted(cache_dir().glob("bpf-linker-*/bin/bpf-linker"))
    path = _which("bpf-linker") or (str(cached[-1]) if cached else None)
    if not path:
        return Tool("bpf-linker", None, note="not on PATH (scripts/setup-bpf-linker.sh builds one)"), ""
    out = run([path, "--version"])
    text = out.stdout + out.stderr
    llvm = (re.search(r"LLVM[^0-9]*([0-9]+(?:\.[0-9]+)*)", text) or [None, ""])[1]
    return Tool("bpf-linker", path, first_line(text)), llvm or linked_llvm(Path(path))


def linked_llvm(exe: Path) -> str:
    """The LLVM version of the libLLVM an executable links (`libLLVM.so.22.1`,
    `libLLVM-19.so`), or "" (static, or not an ELF file)."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    try:
        with exe.open("rb") as f:
            for sec in ELFFile(f).iter_sections():
                if isinstance(sec, DynamicSection):
                    for tag in sec.iter_tags("DT_NEEDED"):
                        m = re.match(r"libLLVM(?:-|\.so\.)([0-9]+(?:\.[0-9]+)*)", tag.needed)
                        if m:
                            return m[1]
    except (OSError, ELFError):
        pass
    return ""


def find_bpf_sysroot(rustc: Tool) -> str | None:
    """scripts/setup-bpf-sysroot.sh's sysroot for this rustc (release + commit)."""
    if not rustc.path:
        return None
    vv = run([rustc.path, "-vV"]).stdout
    release = (re.search(r"^release: (\S+)", vv, re.M) or [None, ""])[1]
    commit = (re.search(r"^commit-hash: (\S+)", vv, re.M) or [None, ""])[1][:9]
    root = cache_dir() / f"bpfel-sysroot-{release}-{commit}"
    done = root / "lib/rustlib/bpfel-unknown-none/lib/.complete"
    return str(root) if release and done.exists() else None


def detect() -> Toolchain:
    tc = _detect()
    forced = os.environ.get("TATARA_BUILD_ROUTE")
    if forced in ("asm", "bpf-linker") and forced != tc.route:
        usable = tc.assembler.found if forced == "asm" else tc.bpf_linker.found
        if usable:
            return replace(tc, route=forced)
    return tc


def _detect() -> Toolchain:
    rustc, cargo, src, llvm = find_rustc()
    asm = find_assembler()
    linker, linker_llvm = find_bpf_linker()
    sysroot = find_bpf_sysroot(rustc)
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
        if rustc.found and (src or sysroot) and asm.found:
            route = "asm"
        else:
            if not rustc.found:
                problems.append("no rustc found (Debian: apt-get install rustc-web cargo-web)")
            elif not src:
                problems.append("rustc has no standard library source for -Z build-std "
                                "(Debian: apt-get install rust-web-src)")
            if not asm.found:
                problems.append("no BPF assembler (clang or llvm-mc) found")
    return Toolchain(rustc, cargo, src, llvm, asm, linker, linker_llvm, route, problems, sysroot)
