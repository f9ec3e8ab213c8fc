#!/usr/bin/env bash
# Builds the screens (web/ → web/dist) that cityroom serves at /. Installs Node.js and npm from
# Debian only when `node` is missing (Debian 12 ships Node 18; the pinned Vite 6 runs on 18 and
# 20), installs the locked npm packages (npm ci; only when package-lock.json changed since the
# last install), and builds, which fails when the JavaScript is over its gzip budget.
# Skips the build when nothing under web/ changed since the last one.
set -euo pipefail
cd "$(dirname "$0")/../web"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "web: installing nodejs and npm (Debian packages)"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi

lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -d node_modules || "$(cat node_modules/.cityroom-lock 2>/dev/null)" != "$lock_sum" ]]; then
  echo "web: installing the locked npm packages"
  # npm ci refuses a lock written without download addresses (omit-lockfile-registry-resolved,
  # as this project's lock is) when optional platform packages are listed without versions;
  # npm install --no-save then installs the same locked versions without rewriting the lock.
  npm ci --no-audit --no-fund --loglevel=error 2>/dev/null ||
    npm install --no-save --no-audit --no-fund --loglevel=error
  echo "$lock_sum" >node_modules/.cityroom-lock
fi

src_sum=$(cat package-lock.json index.html vite.config.ts tsconfig.json scripts/*.mjs $(find src -type f | sort) | sha256sum | cut -d' ' -f1)
if [[ -f dist/index.html && "$(cat dist/.cityroom-src 2>/dev/null)" == "$src_sum" ]]; then
  exit 0
fi
echo "web: building web/dist"
npm run --silent build
echo "$src_sum" >dist/.cityroom-src
