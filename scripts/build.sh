#!/usr/bin/env bash
# Installs what the build needs (quick when already there) and builds the release preset.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/web.sh  # the screens served at / (web/dist)
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/cityroom-ccache}"
# Paths relative to the checkout, so clones and worktrees share cache hits.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
