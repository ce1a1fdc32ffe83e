#!/usr/bin/env bash
# The TypeScript SDK's tests (sdk/typescript, docs/sdk.md): installs Node 22
# (scripts/mcp-deps.sh) and the package's dev dependencies (npm ci from the
# committed package-lock.json), builds dist/ with tsc, and runs
# sdk/typescript/test/*.test.mjs with `node --test` against the real binary:
# $HUTCH_BIN, else build/hutch. The last line is `N passed, N failed`; the
# exit status is 0 only when nothing failed.
#
#   scripts/sdk-ts-test.sh                 # all test files
#   scripts/sdk-ts-test.sh session tools   # only test/session.test.mjs and test/tools.test.mjs
#
# SDK_JUNIT=FILE also writes a JUnit report there (scripts/test.sh counts it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export HUTCH_BIN=${HUTCH_BIN:-$root/build/hutch}
if [ ! -x "$HUTCH_BIN" ]; then
  echo "sdk-ts-test: $HUTCH_BIN is not an executable: build hutch first (ninja -C build) or set HUTCH_BIN" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

node=$(bash "$root/scripts/mcp-deps.sh")
export PATH="$(dirname "$node"):$PATH"   # npm's scripts and the examples use this node

cd "$root/sdk/typescript"
stamp=node_modules/.hutch-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "sdk-ts-test: npm ci in sdk/typescript" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" > "$stamp"
fi
rm -rf dist
"$node" node_modules/typescript/bin/tsc -p tsconfig.json

files=()
if [ $# -gt 0 ]; then
  for name in "$@"; do files+=("test/$name.test.mjs"); done
else
  files=(test/*.test.mjs)
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
reporters=(--test-reporter=tap --test-reporter-destination=stdout)
[ -z "${SDK_JUNIT:-}" ] || reporters+=(--test-reporter=junit --test-reporter-destination="$SDK_JUNIT")
"$node" --test "${reporters[@]}" "${files[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log" | tail -1)
fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log" | tail -1)
cancelled=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$log" | tail -1)
skipped=$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$log" | tail -1)
pass=${pass:-0}
fail=$(( ${fail:-0} + ${cancelled:-0} ))
# node --test failing without a summary (a crash) is a failure too
if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
[ "${skipped:-0}" -eq 0 ] || echo "sdk-ts-test: ${skipped} skipped (see the reasons above)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
