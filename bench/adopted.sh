#!/usr/bin/env bash
# A tool call in an adopted container against one in a docker session hutch
# made: the median wall time of `hutch tool KEY bash {"command": "true"}` and
# of a small read, N times each (docs/bench.md, "Adopted containers").
#   bench/adopted.sh [N]      (needs the engine and the test image)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-30}
hutch=${HUTCH_BIN:-$PWD/build/hutch}
image=${IMAGE:-hutch-test-busybox}
work=$(mktemp -d)
name=hutch-bench-adopted-$$
export HUTCH_STATE_DIR=$work/state HUTCH_NO_AUTO_PRUNE=1
api() { curl -sf --unix-socket /var/run/docker.sock -H 'Content-Type: application/json' "$@"; }
cleanup() {
  "$hutch" session rm made >/dev/null 2>&1 || true
  "$hutch" session rm adopted >/dev/null 2>&1 || true
  api -X DELETE "http://docker/containers/$name?force=true" >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/data"
api -d "{\"Image\": \"$image\", \"Cmd\": [\"tail\", \"-f\", \"/dev/null\"],
         \"HostConfig\": {\"Binds\": [\"$work/data:/workspace\"]}}" \
  "http://docker/containers/create?name=$name" >/dev/null
api -X POST "http://docker/containers/$name/start" >/dev/null
printf '{"sandbox": {"backend": "docker", "docker": {"image": "%s"}}}' "$image" > "$work/made.json"
"$hutch" session create made --config "$work/made.json" >/dev/null 2>&1
"$hutch" session create adopted --sandbox "docker:$name" >/dev/null 2>&1
python3 - "$hutch" "$n" <<'PY'
import statistics, subprocess, sys, time
hutch, n = sys.argv[1], int(sys.argv[2])
def median_ms(key, tool, args):
    subprocess.run([hutch, "tool", key, tool, args], check=True, capture_output=True)  # warm
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run([hutch, "tool", key, tool, args], check=True, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
subprocess.run([hutch, "tool", "made", "write", '{"path": "a.txt", "content": "x\\n"}'], check=True, capture_output=True)
subprocess.run([hutch, "tool", "adopted", "write", '{"path": "a.txt", "content": "x\\n"}'], check=True, capture_output=True)
print(f"{'call':<24}{'hutch-made session':>20}{'adopted container':>20}")
for tool, args in (("bash", '{"command": "true"}'), ("read", '{"path": "a.txt"}')):
    made, adopted = median_ms("made", tool, args), median_ms("adopted", tool, args)
    print(f"{tool:<24}{made:>17.1f} ms{adopted:>17.1f} ms")
PY
