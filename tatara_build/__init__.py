"""tatara-build: tatara-lisp / TOML / JSON eBPF specs -> aya crates -> BPF objects -> kernel."""

__version__ = "0.1.0"
GENERATOR = "tatara-build"
