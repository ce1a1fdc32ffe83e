#!/usr/bin/env bash
# The docker backend against the docker CLI, timed with hyperfine in the same
# run (the machine is shared and noisy: commands alternate over rounds and the
# medians of all samples are compared):
#   ephemeral: hutch run --backend docker -- true   vs  docker run --rm IMG true
#              (and docker run with the same hardening hutch applies)
#   adopted:   hutch run --sandbox docker:NAME -- true  vs  docker exec NAME true
# Goal: hutch at most 1.0x docker in both.
#
#   bench/docker.sh [ROUNDS] [RUNS_PER_ROUND] [IMAGE]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
runs=${2:-20}
image=${3:-hutch-test-busybox:latest}

bash scripts/setup.sh >/dev/null
bash scripts/docker-up.sh
command -v hyperfine >/dev/null || {
  as_root=(); [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq hyperfine </dev/null >/dev/null
}

hutch=$(pwd)/build/hutch
box=hutch-bench-adopted
out=$(mktemp -d)
cleanup() { docker rm -f "$box" >/dev/null 2>&1 || true; rm -rf "$out"; }
trap cleanup EXIT
docker rm -f "$box" >/dev/null 2>&1 || true
docker run -d --name "$box" "$image" sleep infinity >/dev/null

hardened="docker run --rm --read-only --tmpfs /tmp --tmpfs /workspace --network none \
--cap-drop ALL --security-opt no-new-privileges --user 1000:1000 --init --log-driver none $image true"
for r in $(seq "$rounds"); do
  hyperfine -N --warmup 3 --runs "$runs" --export-json "$out/round$r.json" \
    --command-name "hutch-docker" "$hutch run --backend docker --image $image -- true" \
    --command-name "docker-run" "docker run --rm $image true" \
    --command-name "docker-run-hardened" "$hardened" \
    --command-name "hutch-adopted" "$hutch run --sandbox docker:$box -- true" \
    --command-name "docker-exec" "docker exec $box true" >/dev/null 2>&1
done

python3 - "$out" "$rounds" "$runs" "$image" <<'PY'
import json, pathlib, statistics, sys
out, rounds, runs, image = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
samples = {}
for f in sorted(out.glob("round*.json")):
    for r in json.loads(f.read_text())["results"]:
        samples.setdefault(r["command"], []).extend(r["times"])
med = {k: statistics.median(v) * 1000 for k, v in samples.items()}
print(f"docker backend, image {image}, median of {rounds} rounds x {runs} runs (ms):")
for name in ("hutch-docker", "docker-run", "docker-run-hardened", "hutch-adopted", "docker-exec"):
    print(f"  {name:<20} {med[name]:7.1f}")
print(f"ratio hutch run --backend docker / docker run --rm: "
      f"{med['hutch-docker'] / med['docker-run']:.2f} (goal <= 1.0)")
print(f"ratio hutch run --backend docker / hardened docker run: "
      f"{med['hutch-docker'] / med['docker-run-hardened']:.2f}")
print(f"ratio hutch run --sandbox docker:NAME / docker exec: "
      f"{med['hutch-adopted'] / med['docker-exec']:.2f} (goal <= 1.0)")
PY
