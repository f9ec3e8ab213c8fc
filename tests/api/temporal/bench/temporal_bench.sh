#!/usr/bin/env bash
# Temporal API benchmark (issue #4, docs/PERFORMANCE.md "Temporal API (issue #4)"): starts a
# fresh `cityroom serve` on CPU 0, loads history with `cityroom history import` (CSV, measured),
# then runs wrk (closed loop, CPU 1) on:
#   1. one entity, one day of minute data (1,440 instances): normalized and temporalValues
#   2. one entity, hourly avg over a month of minute data (43,200 points → 720 periods)
#   3. lastN=1 over 1,000 entities of a type (GET /temporal/entities?...&limit=1000)
# Usage: temporal_bench.sh BINARY [DURATION_S] [CONNECTIONS]
set -euo pipefail
BIN=${1:?cityroom binary}
DUR=${2:-10}
CONN=${3:-8}
WORK=$(mktemp -d /tmp/cityroom-temporal-bench.XXXX)
PORT=$((20000 + RANDOM % 20000))
URL=http://127.0.0.1:$PORT
echo "work dir $WORK"
taskset -c 0 "$BIN" serve --no-auth --data-dir "$WORK/data" --listen 127.0.0.1:$PORT \
  >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$URL/health" >/dev/null && break; sleep 0.1; done

# The data: one month of minute data for urn:ngsi-ld:Bench:month, and 1,000 sensors of type
# BenchSensor with 60 minutes each (their current entities first, so the type query finds them).
python3 - "$WORK" <<'EOF'
import json, sys
from datetime import datetime, timedelta, timezone
work = sys.argv[1]
t0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
def ts(m): return (t0 + timedelta(minutes=m)).strftime('%Y-%m-%dT%H:%M:%SZ')
with open(f'{work}/month.csv', 'w') as f:
    f.write('entityId,attribute,time,value\n')
    for m in range(30 * 24 * 60):
        f.write(f'urn:ngsi-ld:Bench:month,temperature,{ts(m)},{20 + (m % 600) / 100}\n')
with open(f'{work}/sensors.csv', 'w') as f:
    f.write('entityId,attribute,time,value\n')
    for i in range(1000):
        for m in range(60):
            f.write(f'urn:ngsi-ld:BenchSensor:{i},temperature,{ts(m)},{(i + m) % 40}\n')
entities = [{"id": f"urn:ngsi-ld:BenchSensor:{i}", "type": "BenchSensor",
             "name": {"type": "Property", "value": f"s{i}"}} for i in range(1000)]
with open(f'{work}/sensors.json', 'w') as f:
    json.dump(entities, f)
EOF
curl -sf -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/sensors.json" \
  "$URL/ngsi-ld/v1/entityOperations/upsert" -o /dev/null -w 'sensors upsert %{http_code}\n'
curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"id":"urn:ngsi-ld:Bench:month","type":"Bench","name":{"type":"Property","value":"m"}}' \
  "$URL/ngsi-ld/v1/entities" -o /dev/null -w 'month entity %{http_code}\n'
echo "== CSV import (cityroom history import, client on CPU 1)"
taskset -c 1 "$BIN" history --url "$URL" import "$WORK/month.csv"
taskset -c 1 "$BIN" history --url "$URL" import "$WORK/sensors.csv"

run() {  # name url
  echo "== $1"
  echo "   $2"
  taskset -c 1 wrk -t1 -c"$CONN" -d"${DUR}s" --latency "$2" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|Socket"
}
DAY="timerel=between&timeAt=2024-05-10T00:00:00Z&endTimeAt=2024-05-11T00:00:00Z"
curl -s "$URL/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Bench:month?attrs=temperature&$DAY&options=temporalValues" \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print("day instances:", len(d["temperature"]["values"]))'
curl -s "$URL/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Bench:month?attrs=temperature&options=aggregatedValues&aggrMethods=avg&aggrPeriodDuration=PT1H" \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print("hourly periods:", len(d["temperature"]["avg"]))'
curl -s "$URL/ngsi-ld/v1/temporal/entities?type=BenchSensor&attrs=temperature&lastN=1&limit=1000" \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print("lastN=1 entities:", len(d), "instances:", sum(len(e["temperature"]) for e in d))'
run "day of minute data, normalized" \
  "$URL/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Bench:month?attrs=temperature&$DAY"
run "day of minute data, temporalValues" \
  "$URL/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Bench:month?attrs=temperature&$DAY&options=temporalValues"
run "hourly avg over a month (43,200 points)" \
  "$URL/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Bench:month?attrs=temperature&options=aggregatedValues&aggrMethods=avg&aggrPeriodDuration=PT1H"
run "lastN=1 over 1,000 entities" \
  "$URL/ngsi-ld/v1/temporal/entities?type=BenchSensor&attrs=temperature&lastN=1&limit=1000"
