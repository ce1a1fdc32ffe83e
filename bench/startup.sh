#!/usr/bin/env bash
# Start-up cost of a sandbox: `hutch run --backend native -- /bin/true` against
# bubblewrap (`bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc`) and a
# plain `/bin/true`, timed with hyperfine in the same run. The machine is
# shared and noisy, so the commands alternate over several rounds and the
# medians of all samples are compared. Also reports hutch's peak RSS.
#
#   bench/startup.sh [ROUNDS] [RUNS_PER_ROUND]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
runs=${2:-100}

bash scripts/setup.sh >/dev/null
for tool in hyperfine bwrap; do
  if ! command -v "$tool" >/dev/null; then
    pkg=$tool; [ "$tool" = bwrap ] && pkg=bubblewrap
    as_root=(); [ "$(id -u)" -eq 0 ] || as_root=(sudo)
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "$pkg" </dev/null >/dev/null
  fi
done

hutch=$(pwd)/build/hutch
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq "$rounds"); do
  hyperfine -N --warmup 20 --runs "$runs" --export-json "$out/round$r.json" \
    --command-name hutch "$hutch run --backend native -- /bin/true" \
    --command-name bwrap "bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/true" \
    --command-name true "/bin/true" >/dev/null 2>&1
done

for i in $(seq 20); do
  /usr/bin/time -f %M -a -o "$out/rss" "$hutch" run --backend native -- /bin/true
done

python3 - "$out" "$rounds" "$runs" <<'PY'
import json, pathlib, statistics, sys
out, rounds, runs = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
samples = {}
for f in sorted(out.glob("round*.json")):
    for r in json.loads(f.read_text())["results"]:
        samples.setdefault(r["command"], []).extend(r["times"])
med = {k: statistics.median(v) * 1000 for k, v in samples.items()}
rss = statistics.median(int(x) for x in (out / "rss").read_text().split())
print(f"start-up, median of {rounds} rounds x {runs} runs (ms):")
for name in ("hutch", "bwrap", "true"):
    print(f"  {name:<6} {med[name]:6.2f}")
print(f"ratio hutch/bwrap: {med['hutch'] / med['bwrap']:.2f} (target <= 0.60)")
print(f"hutch above plain /bin/true: {med['hutch'] - med['true']:.2f} ms; "
      f"bwrap above it: {med['bwrap'] - med['true']:.2f} ms")
print(f"hutch peak RSS: {rss / 1024:.1f} MiB (median of 20 runs)")
PY
