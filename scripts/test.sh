#!/usr/bin/env bash
# The test command of README.md: set up a fresh machine, then run every lane.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 -m ruff check tatara_build tests bench
python3 -m pytest -q -ra "$@"
