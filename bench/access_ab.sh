#!/usr/bin/env bash
# bench/access_ab.sh: the cost of access control (issue #7) on GET and PATCH, interleaved so that
# a shared machine's changing load hits every side alike: per round, one closed-loop wrk run each
# against `serve --no-auth`, the same data with an admin API key (a grant that sees everything),
# and with a staff API key (a filtered grant: every entity passes may_see, a PATCH first reads the
# entity to check it may be written). Server on CPU 0, wrk on CPU 1. Prints one JSON line per run
# with req/s, p99 and the server's CPU time per request (utime+stime / requests), the figure that
# load on the other CPU disturbs least. Rate limits are off on the auth side.
#
#   bench/access_ab.sh [ROUNDS=5] [SECONDS=5]     (build/release must be built; ~3 min)
set -euo pipefail
ROUNDS=${1:-5}; DUR=${2:-5}
W=$(mktemp -d /tmp/cityroom-access-ab.XXXXXX)
source "$(dirname "$0")/servers.sh"
# 10,000 entities as bench/run.sh's small data set, loaded once and copied to both sides.
start P "$W/a" --no-auth
python3 "$ROOT/bench/load_entities.py" --url "http://127.0.0.1:$(port "$W/a")" --entities 10000 \
  --seed 42 --pregenerate --label small > /dev/null
kill "$P"; wait "$P" 2>/dev/null || true
cp -r "$W/a" "$W/b"
ADMIN=$("$BIN" key create --data-dir "$W/b" --name ab-admin --role admin --tenant '*' 2>/dev/null)
STAFF=$("$BIN" key create --data-dir "$W/b" --name ab-staff --role staff 2>/dev/null)
start PA "$W/a" --no-auth; A=$(port "$W/a")
start PB "$W/b" --rate-limit-address 0 --rate-limit-key 0; B=$(port "$W/b")
run() {  # run SIDE PID PORT KEY METHOD PATH BODY
  local c0 c1 out; c0=$(cpu "$2")
  out=$(CITYROOM_BENCH_KEY=$4 taskset -c 1 wrk -t1 -c64 -d"${DUR}s" --timeout 10s -s "$LUA" \
          "http://127.0.0.1:$3" -- "$5" "$6" 10000 42 "$7" 2>&1 | sed -n 's/^WRK_JSON //p')
  c1=$(cpu "$2")
  python3 -c "import json,sys; r = json.loads(sys.argv[1]); print(json.dumps({'side': sys.argv[2],
    'method': sys.argv[3], 'rps': r['rps'], 'p99_ms': r['latency_ms']['p99'], 'status': r['status'],
    'cpu_us_per_req': (float(sys.argv[5]) - float(sys.argv[4])) / $TCK * 1e6 / r['requests']}))" \
    "$out" "$1" "$5" "$c0" "$c1"
}
GET_PATH='/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:{i}'
PATCH_PATH='/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:{i}/attrs'
PATCH_BODY='{"value":{"type":"Property","value":{v}}}'
echo "{\"loadavg_start\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
for method in GET PATCH; do
  path=$GET_PATH; body=""
  [[ $method == PATCH ]] && { path=$PATCH_PATH; body=$PATCH_BODY; }
  for ((r = 1; r <= ROUNDS; r++)); do
    run no-auth "$PA" "$A" "" "$method" "$path" "$body"
    run admin-key "$PB" "$B" "$ADMIN" "$method" "$path" "$body"
    run staff-key "$PB" "$B" "$STAFF" "$method" "$path" "$body"
  done
done
echo "{\"loadavg_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
