"""tatara-build: tatara-lisp / TOML / JSON eBPF specs -> aya crates -> BPF objects -> kernel."""

__version__ = "0.1.0"
GENERATOR = "tatara-build"
DEFAULT_FLAKE_INPUT = "github:pleme-io/tatara-build"  # the flake a rendered flake.nix uses
