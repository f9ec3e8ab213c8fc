#!/usr/bin/env bash
# Sets up, builds and runs every test (unit, API case files, scenarios) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --preset release "$@"
