#!/usr/bin/env bash
# Cost of a command in a warm session, timed with hyperfine in one run:
#   native: `hutch exec KEY -- /bin/true` against a plain fork/exec of
#           /bin/true (goal: at most 2x)
#   docker: `hutch exec KEY -- true` against `docker exec CONTAINER true` into
#           the very same running container (goal: at most 0.05x)
# and the resident memory of an idle agent (hutch-init; goal: at most 1 MiB).
# The commands alternate over several rounds; medians of all samples.
#
#   bench/session.sh [ROUNDS] [RUNS_PER_ROUND]
# HUTCH_BIN picks the hutch binary (default build/hutch), e.g. to compare
# two builds.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
runs=${2:-100}

bash scripts/setup.sh >/dev/null
command -v hyperfine >/dev/null || {
  as_root=(); [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq hyperfine </dev/null >/dev/null
}
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/docker-up.sh >/dev/null
  bash scripts/bootstrap-image.sh >/dev/null
fi

hutch=${HUTCH_BIN:-$(pwd)/build/hutch}
out=$(mktemp -d)
export HUTCH_STATE_DIR="$out/state" HUTCH_NO_AUTO_PRUNE=1
cleanup() {
  "$hutch" session rm bench-native >/dev/null 2>&1 || true
  "$hutch" session rm bench-docker >/dev/null 2>&1 || true
  rm -rf "$out"
}
trap cleanup EXIT

"$hutch" session create bench-native --backend native 2>/dev/null
"$hutch" session create bench-docker --backend docker 2>/dev/null
container=$("$hutch" session status bench-docker --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["container_name"])')

for r in $(seq "$rounds"); do
  hyperfine -N --warmup 20 --runs "$runs" --export-json "$out/native$r.json" \
    --command-name "hutch exec (native)" "$hutch exec bench-native -- /bin/true" \
    --command-name "fork/exec" "/bin/true" >/dev/null 2>&1
  hyperfine -N --warmup 5 --runs "$((runs / 4))" --export-json "$out/docker$r.json" \
    --command-name "hutch exec (docker)" "$hutch exec bench-docker -- true" \
    --command-name "docker exec" "docker exec $container true" >/dev/null 2>&1
done

init=$("$hutch" session status bench-native --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["init_pid"])')
native_rss=$(awk '/^VmRSS/ {print $2}' "/proc/$init/status")
docker_init=$(docker inspect -f '{{.State.Pid}}' "$container")
docker_rss=$(awk '/^VmRSS/ {print $2}' "/proc/$docker_init/status")

python3 - "$out" "$rounds" "$runs" "$native_rss" "$docker_rss" <<'PY'
import json, pathlib, statistics, sys
out, rounds, runs = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
native_rss, docker_rss = int(sys.argv[4]), int(sys.argv[5])
samples = {}
for f in sorted(out.glob("*.json")):
    for r in json.loads(f.read_text())["results"]:
        samples.setdefault(r["command"], []).extend(r["times"])
med = {k: statistics.median(v) * 1000 for k, v in samples.items()}
print(f"a command in a warm session, median of {rounds} rounds (ms):")
for name, value in med.items():
    print(f"  {name:<20} {value:7.2f}")
native = med["hutch exec (native)"] / med["fork/exec"]
docker = med["hutch exec (docker)"] / med["docker exec"]
print(f"ratio native session / plain fork+exec: {native:.2f} (goal <= 2)")
print(f"ratio docker session / docker exec:     {docker:.3f} (goal <= 0.05)")
print(f"idle agent RSS: native {native_rss} KiB, docker {docker_rss} KiB (goal <= 1024 KiB)")
PY
