#!/usr/bin/env bash
# Installs the Debian packages cityroom needs to build, run and test.
# Idempotent: when everything is present it only checks and returns in about a second.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev sqlite3 libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev
  libargon2-dev
  libjemalloc-dev
  libmosquitto-dev mosquitto mosquitto-clients
  python3 wrk curl procps
  chromium fonts-noto-cjk
  libxml2-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# cityroom never needs the system-wide Mosquitto service: tests and benchmarks start their own
# broker on a loopback port with a temporary config (scripts/mosquitto-test.sh). Keep the
# packaged service from holding port 1883 on developer and CI machines.
if [[ " ${missing[*]} " == *" mosquitto "* ]] && command -v systemctl >/dev/null 2>&1 \
    && systemctl is-active --quiet mosquitto 2>/dev/null; then
  $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
