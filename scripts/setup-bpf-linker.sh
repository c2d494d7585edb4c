#!/usr/bin/env bash
# Build bpf-linker against Debian's LLVM 22 (the LLVM that rustc-web 1.96 bundles), once,
# into ~/.cache/tatara-build/bpf-linker-<version>/bin/bpf-linker. Skips when present.
# The cargo backend uses it when its LLVM major matches rustc's (backends/toolchain.py);
# the Nix stand-in (tests/nixpkgs-standin/) wraps the same binary as pkgs.bpf-linker.
set -euo pipefail
VERSION="${BPF_LINKER_VERSION:-0.13.0}"
ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/tatara-build/bpf-linker-$VERSION"
if [ -x "$ROOT/bin/bpf-linker" ]; then
  exit 0
fi
if ! dpkg-query -W -f='${Status}' llvm-22-dev 2>/dev/null | grep -q "install ok installed"; then
  echo "+ apt-get install llvm-22-dev"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q llvm-22-dev >/dev/null
fi
echo "+ cargo install bpf-linker $VERSION (LLVM 22) -> $ROOT  (takes minutes)"
start=$(date +%s)
# Debian's cargo/rustc 1.96: bpf-linker's lock may need a newer compiler than rustup's stable.
PATH=/usr/lib/llvm-22/bin:$PATH RUSTC=/usr/bin/rustc /usr/bin/cargo install bpf-linker \
  --version "$VERSION" --locked --no-default-features --features llvm-22 \
  --root "$ROOT.partial" -j "${BPF_LINKER_JOBS:-2}"
mv "$ROOT.partial" "$ROOT"
echo "bpf-linker $VERSION built in $(( $(date +%s) - start )) s"
