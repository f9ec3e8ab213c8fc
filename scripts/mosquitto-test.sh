#!/usr/bin/env bash
# A throwaway Mosquitto broker on a loopback port, for tests, benchmarks and trying things out.
# It never touches the system-wide mosquitto service or /etc/mosquitto.
#
#   scripts/mosquitto-test.sh start DIR [PORT]   # prints the port (PORT 0 or absent: a free one)
#   scripts/mosquitto-test.sh stop DIR           # stops the broker started with DIR
#
# DIR holds the config, the log, the pid file and the persistence file (so a stop + start on
# the same DIR keeps persistent sessions and their queued QoS 1 messages, like a real restart).
set -euo pipefail

MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
cmd=${1:-}
dir=${2:-}
if [[ -z $cmd || -z $dir ]]; then
  sed -n '2,9p' "$0" >&2
  exit 2
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case $cmd in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    port=${3:-0}
    if [[ $port == 0 && -f $dir/port ]]; then port=$(cat "$dir/port"); fi
    if [[ $port == 0 ]]; then port=$(free_port); fi
    cat > "$dir/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
# As root mosquitto would switch to the "mosquitto" user, which cannot write to DIR.
user $(id -un)
persistence true
persistence_location $dir/
log_dest file $dir/mosquitto.log
pid_file $dir/mosquitto.pid
# Queue generously for offline persistent sessions and for subscribers that apply back-pressure
# (the default of 1,000 would drop QoS 1 messages during a short pause of the ingestor).
max_queued_messages 1000000
max_inflight_messages 0
CONF
    echo "$port" > "$dir/port"
    "$MOSQUITTO" -c "$dir/mosquitto.conf" -d
    # Ready when the port accepts connections (bounded wait).
    for _ in $(seq 1 100); do
      if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
        echo "$port"
        exit 0
      fi
      sleep 0.05
    done
    echo "mosquitto-test: broker did not listen on $port; see $dir/mosquitto.log" >&2
    exit 1
    ;;
  stop)
    if [[ -f $dir/mosquitto.pid ]]; then
      pid=$(cat "$dir/mosquitto.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
      done
      rm -f "$dir/mosquitto.pid"
    fi
    ;;
  *)
    echo "mosquitto-test: unknown command '$cmd' (start|stop)" >&2
    exit 2
    ;;
esac
