#!/usr/bin/env bash
# Sets up, builds and runs cityroom on http://127.0.0.1:8080 with its data in ./var.
# Extra arguments go to `cityroom serve` (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
exec build/release/src/app/cityroom serve --data-dir ./var "$@"
