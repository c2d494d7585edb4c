"""Building: crates -> BPF objects (cargo or nix backend), then artifacts + manifest."""
