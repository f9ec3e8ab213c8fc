# Sourced by the bench scripts that run cityroom servers side by side (set W, a scratch dir,
# first): BIN, LUA, TCK; every server started here is killed and W removed on exit.
#   start VAR DIR ARGS...   a server on CPU 0 on data dir DIR (log DIR.log); its PID in VAR
#   port DIR                its port, once it listens
#   cpu PID                 its CPU time so far (utime + stime, in clock ticks)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/build/release/src/app/cityroom
LUA=$ROOT/bench/wrk_template.lua
TCK=$(getconf CLK_TCK)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"' EXIT
trap 'exit 130' INT TERM
# Not `P=$(start ...)`: a command substitution is a subshell, whose PIDS the exit trap never sees
# (the servers were left running after the benchmark).
start() {
  CITYROOM_ADMIN_PASSWORD=bench-only taskset -c 0 "$BIN" serve --data-dir "$2" \
    --listen 127.0.0.1:0 "${@:3}" > "$2.log" 2>&1 &
  PIDS+=($!)
  printf -v "$1" '%s' $!
}
port() {
  for _ in $(seq 100); do
    local p; p=$(sed -n 's/^cityroom listening on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$1.log")
    [[ -n $p ]] && { echo "$p"; return; }
    sleep 0.1
  done
  echo "server did not start: $1.log" >&2; exit 1
}
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
