#!/usr/bin/env bash
# Install everything tatara-build and its tests need on a fresh Debian 12 machine
# (idempotent: skips what is already there). Needs root for apt and bpffs.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in bpftool clang llvm libbpf-dev iproute2 nix-bin rustc-web cargo-web rust-web-src b3sum; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "+ apt-get install ${need_apt[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null
fi

python3 -m pip --version >/dev/null
# Re-install when pyproject.toml changed (new dependencies), keyed by its hash.
stamp="${HOME}/.cache/tatara-build/pip-$(sha256sum pyproject.toml | cut -c1-16)-$(pwd | sha256sum | cut -c1-8)"
[ -f "$stamp" ] && python3 -c "import tatara_build, hypothesis, pytest" 2>/dev/null \
  && pip show tatara-build 2>/dev/null | grep -q "Editable project location: $(pwd)" \
  || { echo "+ pip install -e .[test]"; python3 -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Running pip as" || true
       mkdir -p "$(dirname "$stamp")"; touch "$stamp"; }

# bpffs for the kernel lane (bpftool is always run with -n: it never mounts by itself).
if [ "$(id -u)" = 0 ] && ! mount | grep -q " /sys/fs/bpf type bpf"; then
  echo "+ mount -t bpf bpf /sys/fs/bpf"
  mount -t bpf bpf /sys/fs/bpf || echo "warning: could not mount bpffs; kernel tests will skip"
fi
bash scripts/setup-bpfman.sh

bash scripts/setup-bpf-linker.sh     # bpf-linker on Debian's LLVM 22 (= rustc's), cached
bash scripts/setup-nix-standin.sh    # bpfel core sysroot (cached) + the nixpkgs stand-in
