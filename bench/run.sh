#!/usr/bin/env bash
# bench/run.sh: builds Release and runs cityroom's load benchmarks, each beside its peer in the
# same run, alternating A B A B, warm-up first, then --runs measured runs of each side.
#
#   bench/run.sh [patch|get|batch|query|restart|all]... [options]
#
# Options:
#   --entities N      entities for query/restart (default 1000000)
#   --runs R          measured runs per side (default 5)
#   --duration S      seconds per closed/open-loop run (default 10)
#   --small N         entities preloaded for patch/get (default 10000)
#   --batch-entities N  entities per HTTP batch-upsert run, in 1,000-entity batches (default 20000)
#   --connections C   keep-alive connections for patch/get (default 64)
#   --query-rates "R1 R2"  offered rates for the open-loop query (default "20 200 1000")
#   --client wrk|loadgen   closed-loop client (default wrk; see docs/PERFORMANCE.md)
#   --pin split|none  split: servers on CPU 0, clients on CPU 1 (default); none: no taskset
#   --big-dir DIR     where the large data set lives between runs (default /var/tmp/cityroom-bench-big)
#   --reload          reload the large data set even if a matching one exists
#   --reuse-big       reuse the large data set whatever store code wrote it
#   --cold            also time one restart after dropping the page cache (needs root)
#   --perf            record a perf profile of the server during patch and get
#   --no-build        use the binaries already in build/bench
#   --auth ROLE       patch/get with access control on and an API key of ROLE (admin: sees all;
#                     staff: a filtered grant), rate limits off; default: serve --no-auth
#
# Raw results: one JSON line per run in $OUT/results.jsonl (OUT defaults to
# /tmp/cityroom-bench/<UTC date>-<commit>); bench/summarize.py turns them into the tables that go
# into docs/PERFORMANCE.md. Every server this script starts is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build/bench
BENCH=$ROOT/bench

MEASURES=()
ENTITIES=1000000
RUNS=5
DURATION=10
SMALL=10000
BATCH_ENTITIES=20000
CONNS=64
QUERY_RATES="20 200 1000"
CLIENT=wrk
PIN=split
BIG_DIR=/var/tmp/cityroom-bench-big
RELOAD=0
REUSE_BIG=0
COLD=0
PERF=0
DO_BUILD=1
SEED=42
AUTH_ROLE=""  # empty: every server runs with --no-auth
SERVER_START_TIMEOUT_S=300
STOP_TIMEOUT_S=60

usage() { sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

while [[ $# -gt 0 ]]; do
  case $1 in
    patch|get|batch|query|restart) MEASURES+=("$1") ;;
    all) MEASURES+=(patch get batch query restart) ;;
    --entities) ENTITIES=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --small) SMALL=$2; shift ;;
    --batch-entities) BATCH_ENTITIES=$2; shift ;;
    --connections) CONNS=$2; shift ;;
    --query-rates) QUERY_RATES=$2; shift ;;
    --client) CLIENT=$2; shift ;;
    --pin) PIN=$2; shift ;;
    --big-dir) BIG_DIR=$2; shift ;;
    --reload) RELOAD=1 ;;
    --reuse-big) REUSE_BIG=1 ;;
    --cold) COLD=1 ;;
    --perf) PERF=1 ;;
    --no-build) DO_BUILD=0 ;;
    --auth) AUTH_ROLE=$2; shift ;;
    -h|--help) usage 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; usage ;;
  esac
  shift
done
[[ ${#MEASURES[@]} -gt 0 ]] || MEASURES=(patch get batch query restart)
[[ $CLIENT == wrk || $CLIENT == loadgen ]] || { echo "--client wrk|loadgen" >&2; exit 2; }

case $PIN in
  split) SERVER_CPUS=0; CLIENT_CPUS=1 ;;
  none) SERVER_CPUS=""; CLIENT_CPUS="" ;;
  *) echo "--pin split|none" >&2; exit 2 ;;
esac
# Command prefixes, not functions: a backgrounded function would be a subshell and $! its PID,
# while `taskset -c N prog &` execs prog under the same PID, so stop_pid reaches the server.
SRV=(); CLI=()
[[ -n $SERVER_CPUS ]] && SRV=(taskset -c "$SERVER_CPUS")
[[ -n $CLIENT_CPUS ]] && CLI=(taskset -c "$CLIENT_CPUS")
on_server() { "${SRV[@]}" "$@"; }
on_client() { "${CLI[@]}" "$@"; }

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD)
DIRTY=$([[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no) ]] && echo "-dirty" || true)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${CITYROOM_BENCH_OUT:-/tmp/cityroom-bench}/$STAMP-$COMMIT$DIRTY
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: > "$RESULTS"

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }

# emit MEASURE SIDE RUN JSON: one line of results.jsonl.
emit() {
  local json=$4
  [[ -n $json ]] || json='{"error":"no output"}'
  printf '{"measure":"%s","side":"%s","run":%s,"loadavg":"%s","result":%s}\n' \
    "$1" "$2" "$3" "$(cut -d' ' -f1-3 /proc/loadavg)" "$json" >> "$RESULTS"
}

# ---------------------------------------------------------------------------------------------
# Servers. Every started PID is stopped on exit.
STARTED=()
stop_pid() {
  local pid=$1 waited=0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && (( waited < STOP_TIMEOUT_S * 10 )); do
    sleep 0.1; waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then log "pid $pid ignored SIGTERM; killing"; kill -KILL "$pid" || true; fi
  wait "$pid" 2>/dev/null || true
}
cleanup() { for pid in "${STARTED[@]}"; do stop_pid "$pid"; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_port LOGFILE PID → prints the port from the "... listening on http://127.0.0.1:PORT" line.
wait_port() {
  local file=$1 pid=$2 i=0 port=""
  while (( i < SERVER_START_TIMEOUT_S * 20 )); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$file" 2>/dev/null | grep -o '[0-9]*$' || true)
    [[ -n $port ]] && { echo "$port"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05; i=$((i + 1))
  done
  log "server did not start; see $file"; return 1
}

# start_cityroom DATA_DIR NAME [auth] → sets CR_PID and CR_PORT. With "auth" and --auth ROLE,
# access control is on and CITYROOM_BENCH_KEY holds a fresh key of ROLE for the clients.
start_cityroom() {
  local auth=(--no-auth)
  if [[ ${3:-} == auth && -n $AUTH_ROLE ]]; then
    auth=(--rate-limit-address 0 --rate-limit-key 0)
    local tenant=(); [[ $AUTH_ROLE == admin ]] && tenant=(--tenant '*')
    CITYROOM_BENCH_KEY=$("$BUILD/src/app/cityroom" key create --data-dir "$1" --name bench \
                           --role "$AUTH_ROLE" "${tenant[@]}" 2>/dev/null)
    export CITYROOM_BENCH_KEY
  fi
  CITYROOM_ADMIN_PASSWORD=bench-only "${SRV[@]}" "$BUILD/src/app/cityroom" serve --data-dir "$1" \
    --listen 127.0.0.1:0 "${auth[@]}" > "$OUT/$2.log" 2>&1 &
  CR_PID=$!; STARTED+=("$CR_PID")
  CR_PORT=$(wait_port "$OUT/$2.log" "$CR_PID")
  log "cityroom ($2) pid $CR_PID port $CR_PORT data $1"
}

# start_bare BODY_BYTES NAME → sets BB_PID and BB_PORT. Same thread count as cityroom's default.
start_bare() {
  "${SRV[@]}" "$BUILD/bench/bare_beast" --port 0 --threads "$(nproc)" --body-bytes "$1" \
    > "$OUT/$2.log" 2>&1 &
  BB_PID=$!; STARTED+=("$BB_PID")
  BB_PORT=$(wait_port "$OUT/$2.log" "$BB_PID")
  log "bare_beast ($2) pid $BB_PID port $BB_PORT body $1 bytes"
}

# ---------------------------------------------------------------------------------------------
# Clients.
# closed PORT DURATION METHOD PATH KEYS [BODY] → one JSON line.
closed() {
  local port=$1 dur=$2 method=$3 path=$4 keys=$5 body=${6:-}
  if [[ $CLIENT == wrk ]]; then
    on_client wrk -t1 -c"$CONNS" -d"${dur}s" --timeout 10s -s "$BENCH/wrk_template.lua" \
      "http://127.0.0.1:$port" -- "$method" "$path" "$keys" "$SEED" "$body" 2>&1 \
      | grep '^WRK_JSON ' | sed 's/^WRK_JSON //' || true
  else
    local args=(--url "http://127.0.0.1:$port" --method "$method" --path "$path" --keys "$keys"
                --connections "$CONNS" --duration "$dur" --warmup 1 --seed "$SEED")
    [[ -n $body ]] && args+=(--body "$body" --header "Content-Type: application/json")
    [[ -n ${CITYROOM_BENCH_KEY:-} ]] && args+=(--header "X-API-Key: $CITYROOM_BENCH_KEY")
    on_client "$BUILD/bench/cityroom_loadgen" "${args[@]}" || true
  fi
}

# open_loop PORT RATE DURATION PATH → one JSON line (latency from the scheduled send time).
open_loop() {
  on_client "$BUILD/bench/cityroom_loadgen" --url "http://127.0.0.1:$1" --rate "$2" \
    --duration "$3" --warmup 1 --drain 5 --connections 16 --path "$4" --seed "$SEED" \
    --count-header NGSILD-Results-Count || true
}

metrics_snapshot() {  # metrics_snapshot PORT NAME
  curl -s "http://127.0.0.1:$1/metrics" > "$OUT/$2-metrics.txt" || true
}

# perf_profile PID NAME SECONDS: a call-graph profile of the server while a load runs.
perf_profile() {
  command -v perf > /dev/null || { log "perf not installed"; return 0; }
  # cpu-clock: this VM exposes no hardware counters. Flat profile: Release has no frame pointers.
  perf record -e cpu-clock -F 999 -p "$1" -o "$OUT/$2.perf.data" -- sleep "$3" > /dev/null 2>&1 || true
  { perf report -i "$OUT/$2.perf.data" --stdio --no-children --sort dso -F overhead,dso \
      --percent-limit 1 2>/dev/null
    perf report -i "$OUT/$2.perf.data" --stdio --no-children --sort dso,symbol \
      -F overhead,dso,sym --percent-limit 0.7 2>/dev/null | sort -rn; } | grep -v '^#' \
    | sed -E 's/ {2,}/  /g; s/ +- +- *$//' | grep -v '^ *$' > "$OUT/$2-perf.txt" || true
  log "perf profile: $OUT/$2-perf.txt"
}

# ---------------------------------------------------------------------------------------------
# Data sets.
SMALL_DIR=$OUT/data-small
ensure_small() {
  [[ -f $SMALL_DIR/.loaded ]] && return 0
  start_cityroom "$SMALL_DIR" small-load
  local r
  r=$(on_client python3 "$BENCH/load_entities.py" --url "http://127.0.0.1:$CR_PORT" \
        --entities "$SMALL" --seed "$SEED" --pregenerate --label small)
  emit load-small cityroom 0 "$r"
  stop_pid "$CR_PID"
  touch "$SMALL_DIR/.loaded"
}

# The large data set is reused between invocations when the same cityroom binary wrote it (the
# store's on-disk format can change with any commit; source hashes change under live editing).
store_code_key() { sha1sum "$BUILD/src/app/cityroom" | cut -c1-12; }
ensure_big() {
  local want="entities=$ENTITIES seed=$SEED binary=$(store_code_key)"
  if [[ $RELOAD == 0 && -f $BIG_DIR/.loaded ]]; then
    local have; have=$(cat "$BIG_DIR/.loaded")
    if [[ $have == "$want" || ( $REUSE_BIG == 1 && $have == "entities=$ENTITIES "* ) ]]; then
      log "reusing $BIG_DIR ($have)"; return 0
    fi
    log "large data set does not match ($have vs $want); reloading"
  fi
  rm -rf "$BIG_DIR"; mkdir -p "$BIG_DIR"
  start_cityroom "$BIG_DIR" big-load
  log "loading $ENTITIES entities (streaming, 1,000 per batch, 2 connections)"
  local r
  r=$(on_client python3 "$BENCH/load_entities.py" --url "http://127.0.0.1:$CR_PORT" \
        --entities "$ENTITIES" --seed "$SEED" --connections 2 --progress 100000 \
        --label big 2>> "$OUT/run.log")
  emit load-big cityroom 0 "$r"
  log "load: $r"
  metrics_snapshot "$CR_PORT" big-load
  local t0; t0=$(date +%s.%N)
  stop_pid "$CR_PID"
  log "stop after load took $(echo "$(date +%s.%N) - $t0" | bc) s; data dir $(du -sh "$BIG_DIR" | cut -f1)"
  echo "$want" > "$BIG_DIR/.loaded"
}

# ---------------------------------------------------------------------------------------------
# Measures.
PATCH_PATH='/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:{i}/attrs'
PATCH_BODY='{"value":{"type":"Property","value":{v}}}'
GET_PATH='/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:{i}'
QUERY_PATH='/ngsi-ld/v1/entities?type=AirQualityObserved&q=pm10%3E50&georel=near%3BmaxDistance%3D%3D500&geometry=Point&coordinates=%5B{lon},{lat}%5D&count=true'

# alternate MEASURE METHOD PATH BODY: warm-up then A B A B between cityroom and bare_beast.
alternate() {
  local m=$1 method=$2 path=$3 body=$4 r
  emit "$m" cityroom 0 "$(closed "$CR_PORT" 3 "$method" "$path" "$SMALL" "$body")"
  emit "$m" bare_beast 0 "$(closed "$BB_PORT" 3 "$method" "$path" "$SMALL" "$body")"
  for ((r = 1; r <= RUNS; r++)); do
    emit "$m" cityroom "$r" "$(closed "$CR_PORT" "$DURATION" "$method" "$path" "$SMALL" "$body")"
    emit "$m" bare_beast "$r" "$(closed "$BB_PORT" "$DURATION" "$method" "$path" "$SMALL" "$body")"
    log "$m run $r/$RUNS: $(tail -2 "$RESULTS" | jq -r '"\(.side) \(.result.rps|floor)/s"' | paste -sd' ')"
  done
  if [[ $PERF == 1 ]]; then
    closed "$CR_PORT" "$DURATION" "$method" "$path" "$SMALL" "$body" > /dev/null &
    local lpid=$!
    sleep 1; perf_profile "$CR_PID" "$m" $((DURATION - 2)); wait "$lpid" || true
  fi
}

measure_patch() {
  ensure_small
  start_cityroom "$SMALL_DIR" patch auth
  start_bare 0 patch-bare
  alternate patch PATCH "$PATCH_PATH" "$PATCH_BODY"
  metrics_snapshot "$CR_PORT" patch
  stop_pid "$CR_PID"; stop_pid "$BB_PID"; BB_PID=""
}

measure_get() {
  ensure_small
  start_cityroom "$SMALL_DIR" get auth
  local bytes; bytes=$(curl -s "http://127.0.0.1:$CR_PORT/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:1" | wc -c)
  start_bare "$bytes" get-bare
  alternate get GET "$GET_PATH" ""
  metrics_snapshot "$CR_PORT" get
  stop_pid "$CR_PID"; stop_pid "$BB_PID"; BB_PID=""
}

measure_batch() {
  # 1. Store level: store_bench's own store-vs-raw-SQLite pairs, one process per run (A B in it).
  local r j
  for ((r = 0; r <= RUNS; r++)); do
    j=$(CITYROOM_BENCH_DIR=$OUT/storebench "$BUILD/bench/store_bench" \
          --benchmark_filter='Insert|Replace' --benchmark_format=json 2>> "$OUT/run.log" || true)
    rm -rf "$OUT/storebench"
    echo "$j" | jq -c '.benchmarks[] | {name, items_per_second, real_time, time_unit,
        cpu_us_per_row, items_per_commit}' 2>/dev/null | while read -r line; do
      emit batch-store "$(echo "$line" | jq -r '.name | sub("/real_time"; "")')" "$r" "$line"
    done
    log "store_bench run $r/$RUNS done"
  done
  # 2. HTTP: 1,000-entity upserts of new entities vs the same rows into raw SQLite, A B A B.
  local dir=$OUT/data-batch peer=$OUT/data-batch-peer
  mkdir -p "$peer"
  start_cityroom "$dir" batch
  for ((r = 0; r <= RUNS; r++)); do
    local start=$((10000000 + r * BATCH_ENTITIES))
    emit batch-http cityroom "$r" "$(on_client python3 "$BENCH/load_entities.py" \
      --url "http://127.0.0.1:$CR_PORT" --entities "$BATCH_ENTITIES" --start "$start" \
      --seed "$SEED" --pregenerate --label http)"
    emit batch-http raw_sqlite "$r" "$(on_server python3 "$BENCH/load_entities.py" \
      --sqlite "$peer/peer.db" --entities "$BATCH_ENTITIES" --start "$start" \
      --seed "$SEED" --pregenerate --label sqlite)"
    log "batch-http run $r/$RUNS: $(tail -2 "$RESULTS" | jq -r '"\(.side) \(.result.entities_per_s)/s"' | paste -sd' ')"
  done
  if [[ $PERF == 1 ]]; then
    on_client python3 "$BENCH/load_entities.py" --url "http://127.0.0.1:$CR_PORT" \
      --entities $((BATCH_ENTITIES * 4)) --start 20000000 --seed "$SEED" --pregenerate > /dev/null &
    local lpid=$!
    sleep 2; perf_profile "$CR_PID" batch 4; wait "$lpid" || true
  fi
  metrics_snapshot "$CR_PORT" batch
  stop_pid "$CR_PID"
  rm -rf "$dir" "$peer"
}

measure_query() {
  ensure_big
  start_cityroom "$BIG_DIR" query
  # The latency floor: bare_beast answering a body the size of a typical query answer.
  local rate r bytes
  for rate in $QUERY_RATES; do
    emit "query@$rate" cityroom 0 "$(open_loop "$CR_PORT" "$rate" 5 "$QUERY_PATH")"
    if [[ -z ${BB_PID:-} ]]; then
      # The latency floor: bare_beast answering a body the size of a typical query answer.
      bytes=$(tail -1 "$RESULTS" | jq '.result.mean_body_bytes // 1000 | floor')
      start_bare "$bytes" query-bare
    fi
    emit "query@$rate" bare_beast 0 "$(open_loop "$BB_PORT" "$rate" 5 "$QUERY_PATH")"
    for ((r = 1; r <= RUNS; r++)); do
      emit "query@$rate" cityroom "$r" "$(open_loop "$CR_PORT" "$rate" "$DURATION" "$QUERY_PATH")"
      emit "query@$rate" bare_beast "$r" "$(open_loop "$BB_PORT" "$rate" "$DURATION" "$QUERY_PATH")"
      log "query@$rate run $r/$RUNS: $(tail -2 "$RESULTS" | jq -r '"\(.side) p99 \(.result.latency_ms.p99) ms"' | paste -sd' ')"
    done
  done
  # Capacity: the same query in closed loop (not a goal; tells how far the open-loop rate is).
  emit query-capacity cityroom 1 \
    "$(on_client "$BUILD/bench/cityroom_loadgen" --url "http://127.0.0.1:$CR_PORT" \
        --path "$QUERY_PATH" --connections 16 --duration "$DURATION" --warmup 1 --seed "$SEED" \
        --count-header NGSILD-Results-Count || true)"
  if [[ $PERF == 1 ]]; then
    local top; top=$(echo "$QUERY_RATES" | tr ' ' '\n' | sort -n | tail -1)
    open_loop "$CR_PORT" "$top" "$DURATION" "$QUERY_PATH" > /dev/null &
    local lpid=$!
    sleep 2; perf_profile "$CR_PID" query $((DURATION - 2)); wait "$lpid" || true
  fi
  metrics_snapshot "$CR_PORT" query
  stop_pid "$CR_PID"; stop_pid "$BB_PID"; BB_PID=""
}

measure_restart() {
  ensure_big
  local r
  log "data dir $(du -sh "$BIG_DIR" | cut -f1)"
  if [[ $COLD == 1 ]]; then
    if sync && echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
      emit restart-cold cityroom 1 "$(python3 "$BENCH/restart_probe.py" --server \
        "$BUILD/src/app/cityroom" --data-dir "$BIG_DIR" --cpus "$SERVER_CPUS" --label cold || true)"
    else
      log "cannot drop the page cache; no cold restart"
    fi
  fi
  for ((r = 0; r <= RUNS; r++)); do
    emit restart cityroom "$r" "$(python3 "$BENCH/restart_probe.py" --server \
      "$BUILD/src/app/cityroom" --data-dir "$BIG_DIR" --cpus "$SERVER_CPUS" --label warm || true)"
    log "restart run $r/$RUNS: $(tail -1 "$RESULTS" | jq -c '.result | {listening_s, health_s, first_get_s, vmhwm_mb}')"
  done
}

# ---------------------------------------------------------------------------------------------
describe_machine() {
  {
    echo "date_utc: $STAMP"
    echo "commit: $COMMIT$DIRTY"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "mem: $(free -h | awk '/^Mem:/ {print $2 " total, " $7 " available"}')"
    echo "disk: $(df -h "$OUT" | awk 'NR==2 {print $1 " " $2 " (" $5 " used)"}')"
    echo "loadavg_start: $(cat /proc/loadavg)"
    echo "pin: $PIN (server cpus: ${SERVER_CPUS:-any}, client cpus: ${CLIENT_CPUS:-any})"
    echo "client: $CLIENT; connections: $CONNS; runs: $RUNS; duration: ${DURATION}s"
    echo "entities_large: $ENTITIES; entities_small: $SMALL; batch_entities: $BATCH_ENTITIES"
    echo "binary: $(store_code_key) built $(date -u -r "$BUILD/src/app/cityroom" +%FT%TZ)"
    echo "build: $(grep -m1 CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2)" \
         "$(grep -m1 CMAKE_CXX_FLAGS_RELEASE: "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2)"
    echo "compiler: $(c++ --version | head -1)"
  } > "$OUT/machine.txt"
}

if [[ $DO_BUILD == 1 ]]; then
  log "building Release in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCITYROOM_SANITIZE=OFF \
    -DCITYROOM_BUILD_BENCH=ON > "$OUT/build.log" 2>&1
  ninja -C "$BUILD" -j2 cityroom bare_beast store_bench cityroom_loadgen >> "$OUT/build.log" 2>&1 \
    || { log "build failed; see $OUT/build.log"; exit 1; }
fi
describe_machine
log "results in $OUT; measures: ${MEASURES[*]}"
for m in "${MEASURES[@]}"; do
  log "=== $m"
  "measure_$m"
done
echo "loadavg_end: $(cat /proc/loadavg)" >> "$OUT/machine.txt"
python3 "$BENCH/summarize.py" "$OUT" | tee "$OUT/summary.md"
log "raw results: $RESULTS"
