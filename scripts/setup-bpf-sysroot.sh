#!/usr/bin/env bash
# A rustc sysroot holding `core` for bpfel-unknown-none, built once from Debian's
# rust-web-src with Debian's rustc, cached under
# ~/.cache/tatara-build/bpfel-sysroot-<rustc version>-<commit>/ (skips when present).
# nixpkgs' rustc ships this core (so Nix builds need no -Z build-std); Debian's does not,
# so the Nix stand-in (tests/nixpkgs-standin/) runs `rustc --sysroot <this>`. The host
# target's std is linked from /usr/lib/rustlib (build scripts still need it).
set -euo pipefail
RUSTC=/usr/bin/rustc
commit=$($RUSTC -vV | sed -n 's/^commit-hash: //p' | cut -c1-9)
release=$($RUSTC -vV | sed -n 's/^release: //p')
host=$($RUSTC -vV | sed -n 's/^host: //p')
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/tatara-build"
ROOT="$CACHE/bpfel-sysroot-$release-$commit"
[ -f "$ROOT/lib/rustlib/bpfel-unknown-none/lib/.complete" ] && exit 0
echo "+ build core for bpfel-unknown-none -> $ROOT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
cat > "$work/Cargo.toml" <<'TOML'
[package]
name = "bpfel-sysroot"
version = "0.0.0"
edition = "2021"
[lib]
path = "src/lib.rs"
[profile.release]
panic = "abort"
codegen-units = 1
opt-level = 3
debug = 2
[workspace]
TOML
echo '#![no_std]' > "$work/src/lib.rs"
src=$($RUSTC --print sysroot)/lib/rustlib/src/rust
(cd "$work" && RUSTC=$RUSTC RUSTC_BOOTSTRAP=1 SOURCE_DATE_EPOCH=0 CARGO_TARGET_DIR="$work/target" \
  CARGO_ENCODED_RUSTFLAGS="-Cdebuginfo=2"$'\x1f'"--remap-path-prefix=$src=/rustc/src" \
  /usr/bin/cargo build -q --release --target bpfel-unknown-none -Z build-std=core)
rm -rf "$ROOT.partial"
lib="$ROOT.partial/lib/rustlib/bpfel-unknown-none/lib"
mkdir -p "$lib"
cp "$work"/target/bpfel-unknown-none/release/deps/lib{core,compiler_builtins,rustc_std_workspace_core}-*.rlib "$lib/" 2>/dev/null \
  || cp "$work"/target/bpfel-unknown-none/release/deps/lib{core,compiler_builtins}-*.rlib "$lib/"
ln -s "$($RUSTC --print sysroot)/lib/rustlib/$host" "$ROOT.partial/lib/rustlib/$host"
touch "$lib/.complete"
rm -rf "$ROOT"
mv "$ROOT.partial" "$ROOT"
