#!/usr/bin/env bash
# bench/access_attrs.sh: the cost of per-attribute visibility (issue #7) on a large query,
# GET /ngsi-ld/v1/entities?type=Camera&limit=1000 (2,000 cameras of 10 attributes each),
# interleaved so that a shared machine's changing load hits every side alike. Two servers on
# copies of the same data: "plain" (Camera public, no attribute levels) and "redacting"
# (Camera public, streamURL and refDevice staff-only). Per round, one closed-loop wrk run each:
# anonymous on both (a public grant: plain renders whole, redacting drops 2 attributes of every
# entity) and an admin key on both (sees everything: no per-attribute work). Server on CPU 0,
# wrk on CPU 1. Prints one JSON line per run with req/s, p99 and the server's CPU time per
# request (utime+stime / requests), the figure that load on the other CPU disturbs least.
#
#   bench/access_attrs.sh [ROUNDS=3] [SECONDS=5]     (build/release must be built; ~2 min)
set -euo pipefail
ROUNDS=${1:-3}; DUR=${2:-5}
W=$(mktemp -d /tmp/cityroom-access-attrs.XXXXXX)
source "$(dirname "$0")/servers.sh"
start P "$W/plain" --no-auth
python3 - "$(port "$W/plain")" <<'PY'
import json, sys, urllib.request
port = sys.argv[1]
def cam(i):
    p = lambda v: {"type": "Property", "value": v}
    return {"id": f"urn:ngsi-ld:Camera:b{i:05d}", "type": "Camera",
            "name": p(f"camera {i}"), "address": p(f"{i} Teheran-ro, Gangnam-gu"),
            "purpose": p("safety"), "cameraCount": p(i % 4 + 1), "status": p("working"),
            "installedAt": p("2021-03-01"), "streamURL": p(f"rtsp://vms.internal.city/{i}"),
            "refDevice": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:d{i}"},
            "resolution": p("1920x1080"),
            "location": {"type": "GeoProperty", "value": {"type": "Point",
                         "coordinates": [127.0 + i * 1e-5, 37.5]}}}
for start in range(0, 2000, 500):
    body = json.dumps([cam(i) for i in range(start, start + 500)]).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/ngsi-ld/v1/entityOperations/create",
                                 data=body, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
PY
kill "$P"; wait "$P" 2>/dev/null || true
cp -r "$W/plain" "$W/redacting"
echo '{"default":"staff","types":{"Camera":"public"}}' > "$W/plain.json"
echo '{"default":"staff","types":{"Camera":{"visibility":"public","attributes":{"streamURL":"staff","refDevice":"staff"}}}}' > "$W/redacting.json"
KP=$("$BIN" key create --data-dir "$W/plain" --name a --role admin 2>/dev/null)
KR=$("$BIN" key create --data-dir "$W/redacting" --name a --role admin 2>/dev/null)
start PP "$W/plain" --visibility "$W/plain.json" --rate-limit-address 0 --rate-limit-key 0
start PR "$W/redacting" --visibility "$W/redacting.json" --rate-limit-address 0 --rate-limit-key 0
A=$(port "$W/plain"); B=$(port "$W/redacting")
QUERY='/ngsi-ld/v1/entities?type=Camera&limit=1000'
run() {  # run SIDE PID PORT KEY
  local c0 c1 out; c0=$(cpu "$2")
  out=$(CITYROOM_BENCH_KEY=$4 taskset -c 1 wrk -t1 -c4 -d"${DUR}s" --timeout 20s -s "$LUA" \
          "http://127.0.0.1:$3" -- GET "$QUERY" 1 42 2>&1 | sed -n 's/^WRK_JSON //p')
  c1=$(cpu "$2")
  python3 -c "import json,sys; r = json.loads(sys.argv[1]); print(json.dumps({'side': sys.argv[2],
    'rps': r['rps'], 'p99_ms': r['latency_ms']['p99'], 'status': r['status'],
    'cpu_ms_per_req': (float(sys.argv[4]) - float(sys.argv[3])) / $TCK * 1e3 / r['requests']}))" \
    "$out" "$1" "$c0" "$c1"
}
echo "{\"loadavg_start\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
for ((r = 1; r <= ROUNDS; r++)); do
  run public-plain "$PP" "$A" ""
  run public-redacting "$PR" "$B" ""
  run admin-plain "$PP" "$A" "$KP"
  run admin-redacting "$PR" "$B" "$KR"
done
echo "{\"loadavg_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
