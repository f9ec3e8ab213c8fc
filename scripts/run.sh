#!/usr/bin/env bash
# Sets up, builds and runs cityroom on http://127.0.0.1:8080 with its data in ./var, loaded with
# the demo city (Gangnam-gu: boundaries, CCTV, road links with hourly speeds, facilities) on
# first start. Extra arguments go to `cityroom serve` (e.g. --listen 0.0.0.0:8080).
#   CITYROOM_DEMO=gangnam (default) | dobong | none   which data/mappings/<name>/ to import
#   CITYROOM_DATA_DIR=./var                             where the store lives
# The import runs only when the mappings or the demo files changed since the last one (a stamp
# in the data dir records their checksum); re-importing updates entities, never duplicates.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
bin=build/release/src/app/cityroom
data_dir="${CITYROOM_DATA_DIR:-./var}"
demo="${CITYROOM_DEMO:-gangnam}"
if [[ "$demo" != none ]]; then
  mappings=(data/mappings/"$demo"/*.json)
  if [[ ! -e "${mappings[0]}" ]]; then
    echo "run.sh: no mappings in data/mappings/$demo/" >&2
    exit 2
  fi
  stamp="$data_dir/demo-import.stamp"
  checksum="$demo $(cat "${mappings[@]}" data/demo/* | sha256sum | cut -d' ' -f1)"
  if [[ "$(cat "$stamp" 2>/dev/null)" != "$checksum" ]]; then
    echo "run.sh: importing the $demo demo data into $data_dir" >&2
    start_ns=$(date +%s%N)
    args=()
    for m in "${mappings[@]}"; do args+=(--mapping "$m"); done
    # The server is not running yet, so the import may open the store directly.
    "$bin" import --data-dir "$data_dir" "${args[@]}" >&2
    mkdir -p "$data_dir"
    echo "$checksum" >"$stamp"
    echo "run.sh: demo data imported in $((($(date +%s%N) - start_ns) / 1000000)) ms" >&2
  fi
fi
exec "$bin" serve --data-dir "$data_dir" --demo "$@"
