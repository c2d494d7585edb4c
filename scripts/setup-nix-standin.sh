#!/usr/bin/env bash
# Prepare the nixpkgs stand-in of the Nix test lane (`--nixpkgs standin`): a copy of
# tests/nixpkgs-standin/ in ~/.cache/tatara-build/nixpkgs-standin/ plus host.json naming
# the host tools it wraps and the paths a sandboxed build must see. Needs the bpfel core
# sysroot (built here once, cached) and bpf-linker (scripts/setup-bpf-linker.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-bpf-sysroot.sh
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/tatara-build"
rustc=/usr/bin/rustc
release=$($rustc -vV | sed -n 's/^release: //p')
commit=$($rustc -vV | sed -n 's/^commit-hash: //p' | cut -c1-9)
llvm=$($rustc -vV | sed -n 's/^LLVM version: //p')
sysroot="$CACHE/bpfel-sysroot-$release-$commit"
linker=$(ls -d "$CACHE"/bpf-linker-*/bin/bpf-linker 2>/dev/null | sort -V | tail -1 || true)
[ -n "$linker" ] || { echo "setup-nix-standin: bpf-linker missing (run scripts/setup-bpf-linker.sh)" >&2; exit 5; }
linker_version=$(basename "$(dirname "$(dirname "$linker")")" | sed 's/^bpf-linker-//')
python=$(python3 -c 'import sys; print(sys.executable)')
pyprefix=$(python3 -c 'import sys; print(sys.base_prefix)')
dest="$CACHE/nixpkgs-standin"
rm -rf "$dest.partial"
cp -r tests/nixpkgs-standin "$dest.partial"
cat > "$dest.partial/host.json" <<JSON
{
  "rustc": "$rustc", "rustcVersion": "$release", "llvmVersion": "$llvm",
  "bpfSysroot": "$sysroot", "bpfLinker": "$linker", "bpfLinkerVersion": "$linker_version",
  "bpftool": "$(command -v bpftool)", "python3": "$python",
  "sandboxPaths": ["/usr", "/bin", "/lib", "/lib64", "/etc/alternatives", "/etc/ssl",
                   "$sysroot", "$(dirname "$(dirname "$linker")")", "$pyprefix"]
}
JSON
rm -rf "$dest"
mv "$dest.partial" "$dest"
