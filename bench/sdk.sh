#!/usr/bin/env bash
# Latency of a `read` tool call of a 1 KiB file in a warm native session,
# side by side in one run: from C (hutch_tool_call, build/bench_sdk), from
# Python (bench/sdk_py.py, hutch_sandbox over hutch mcp) and from Node
# (bench/sdk-node.mjs, the TypeScript SDK over hutch mcp). The drivers take
# turns over several rounds; the table shows the median of the rounds'
# medians and p90s, the ratio to C and the difference to C in ms. Issue 14's
# target: a call from Node costs at most 2 ms more than from C.
#
#   bench/sdk.sh [ROUNDS] [RUNS_PER_ROUND]      default 3 x 300
# HUTCH_BIN picks the hutch binary (default build/hutch); the C driver is
# build/bench_sdk (ninja -C build builds it); NODE_BENCH the Node driver
# (default bench/sdk-node.mjs, which needs sdk/typescript built beside it).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
runs=${2:-300}

hutch=${HUTCH_BIN:-$(pwd)/build/hutch}
bench_c=$(pwd)/build/bench_sdk
[ -x "$hutch" ] && [ -x "$bench_c" ] || { echo "bench/sdk.sh: build first: ninja -C build" >&2; exit 2; }
out=$(mktemp -d)
# Sessions in a state directory of this run's own, and no user config, so
# that the three drivers share one policy (the C driver loads no config).
export HUTCH_STATE_DIR="$out/state" HUTCH_NO_AUTO_PRUNE=1 XDG_CONFIG_HOME="$out/config"
key=bench-sdk
cleanup() {
  "$hutch" session rm "$key" --workspaces >/dev/null 2>&1 || true
  rm -rf "$out"
}
trap cleanup EXIT

"$hutch" session create "$key" --backend native 2>/dev/null
head -c 1024 /dev/zero | tr '\0' 'x' | fold -w 63 > "$out/one-kib"
truncate -s 1024 "$out/one-kib"
"$hutch" tool "$key" write '{"path": "one-kib.txt"}' --content-from "$out/one-kib" >/dev/null
size=$("$hutch" exec "$key" -- stat -c %s /workspace/one-kib.txt)
[ "$size" = 1024 ] || { echo "bench/sdk.sh: the file has $size bytes, not 1024" >&2; exit 1; }

node_bench=${NODE_BENCH:-bench/sdk-node.mjs}
node_ok=
if [ ! -f "$node_bench" ]; then
  node_missing="node: $node_bench missing"
elif ! command -v node >/dev/null; then
  node_missing="node: node is not installed"
elif [ ! -f "$(dirname "$node_bench")/../sdk/typescript/dist/index.js" ]; then
  node_missing="node: sdk/typescript is not built (cd sdk/typescript && npm ci && npm run build)"
else
  node_ok=1
fi

for r in $(seq "$rounds"); do
  "$bench_c" "$key" one-kib.txt "$runs" >> "$out/results"
  /usr/bin/python3 bench/sdk_py.py --hutch "$hutch" --session "$key" --path one-kib.txt --runs "$runs" \
    >> "$out/results"
  if [ -n "$node_ok" ]; then
    node "$node_bench" --hutch "$hutch" --session "$key" --path one-kib.txt --runs "$runs" \
      >> "$out/results"
  fi
done

/usr/bin/python3 - "$out/results" "$rounds" "$runs" "${node_missing:-}" <<'PY'
import re, statistics, sys
path, rounds, runs, node_missing = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = {}
for line in open(path):
    m = re.fullmatch(r"(\w+) median_ms=([\d.]+) p90_ms=([\d.]+) runs=(\d+)\n?", line)
    if not m:
        sys.exit(f"bench/sdk.sh: a driver printed {line!r}")
    rows.setdefault(m[1], []).append((float(m[2]), float(m[3])))
med = {k: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v)) for k, v in rows.items()}
c = med["c"][0]
print(f"read tool call of 1 KiB, warm native session, {rounds} rounds x {runs} calls (ms):")
print(f"  {'from':<8} {'median':>8} {'p90':>8} {'ratio to C':>11} {'minus C':>9}")
for name in ("c", "python", "node"):
    if name in med:
        m, p = med[name]
        print(f"  {name:<8} {m:8.3f} {p:8.3f} {m / c:11.2f} {m - c:+9.3f}")
if node_missing:
    print(node_missing)
if "node" in med:
    d = med["node"][0] - c
    print(f"node - C = {d:+.3f} ms (target: at most +2 ms): {'met' if d <= 2 else 'NOT met'}")
if "python" in med:
    d = med["python"][0] - c
    print(f"python - C = {d:+.3f} ms (target: at most +2 ms): {'met' if d <= 2 else 'NOT met'}")
PY
