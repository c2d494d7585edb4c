#!/usr/bin/env bash
# The main job on the bundled example: check, render and build edge-protection.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
tatara-build check examples/
tatara-build render examples/ -o out/        # out/crates/<policy>/, which build reuses
tatara-build build examples/ -o out/ --verify
ls -l out/artifacts/*/
tatara-build test examples/ -o out/
