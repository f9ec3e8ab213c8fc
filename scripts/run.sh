#!/usr/bin/env bash
# Sets up, builds and runs cityroom on http://127.0.0.1:8080 with its data in ./var, serving the
# demo city (Gangnam-gu: boundaries, CCTV, road links with hourly speeds, facilities, and its
# connectors) from data/cities/<name>.json. Extra arguments go to `cityroom serve`
# (e.g. --listen 0.0.0.0:8080).
#   CITYROOM_DEMO=gangnam (default) | dobong | none   which data/cities/<name>.json to serve
#   CITYROOM_DATA_DIR=./var                             where the store lives
# The server imports the city's mappings itself before it listens, and only those whose mapping
# or source file changed since their last import (a stamp per mapping in the store); re-importing
# updates entities, never duplicates. Connector keys come from CITYROOM_KMA_KEY,
# CITYROOM_AIRKOREA_KEY and CITYROOM_SEOUL_KEY (docs/CONNECTORS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
bin=build/release/src/app/cityroom
data_dir="${CITYROOM_DATA_DIR:-./var}"
demo="${CITYROOM_DEMO:-gangnam}"
city_args=()
if [[ "$demo" != none ]]; then
  city="data/cities/$demo.json"
  if [[ ! -e "$city" ]]; then
    echo "run.sh: no city file $city (CITYROOM_DEMO=gangnam|dobong|none)" >&2
    exit 2
  fi
  city_args=(--city "$city")
fi

exec "$bin" serve --data-dir "$data_dir" "${city_args[@]}" --demo "$@"
