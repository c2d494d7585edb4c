#!/usr/bin/env bash
# bpfman 0.6.0 (the per-node eBPF loader `--runtime bpfman` drives), plus skopeo and the
# Debian registry the image tests use. The cargo build takes ~10 minutes on 2 cores, so it is
# cached under ~/.cache/tatara-build/bpfman-<version>/ and skipped when the binary is there.
# CPATH: bpfman's build.rs compiles its C dispatchers with clang -target bpfel, which needs the
# multiarch <asm/types.h>.
set -euo pipefail
version="${BPFMAN_VERSION:-0.6.0}"
root="${HOME}/.cache/tatara-build/bpfman-${version}"

need_apt=()
for pkg in skopeo docker-registry openssl ca-certificates clang libbpf-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  echo "+ apt-get install ${need_apt[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null
  # the package enables a system registry on :5000; the tests start their own
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi

if [ -x "${root}/bin/bpfman" ]; then
  exit 0
fi
echo "+ cargo install bpfman@${version} (cached in ${root}; ~10 min)"
mkdir -p "${root}"
CPATH="/usr/include/$(uname -m)-linux-gnu${CPATH:+:${CPATH}}" \
  cargo install --locked "bpfman@${version}" --root "${root}"
