#!/usr/bin/env bash
# A one-shot `curl` of an allowed local URL through a filtering proxy, timed
# with hyperfine in one run (goal: hutch at most 0.05x sandbox-runtime):
#   hutch:  hutch run --net allow:localhost --allow-address 127.0.0.1 -- curl URL
#           (native backend; also --backend docker when the engine and the
#           image hutch-sandbox:bookworm-slim are there)
#   srt:    Anthropic's sandbox-runtime (bench/network/package.json, installed
#           by bench/network-deps.sh), settings file with
#           network.allowedDomains ["localhost"]
#   curl:   plain curl, no sandbox, for context
# The URL is http://localhost:PORT/ on a python3 http.server this script starts
# on 127.0.0.1 and stops on exit.
#
# Both sandboxes set NO_PROXY=localhost,127.0.0.1,... (their loopback is
# their own network namespace's, not the host's), so a plain `curl
# http://localhost:PORT/` inside either one never reaches the proxy and fails
# to connect. `curl --noproxy ''` overrides NO_PROXY and sends the request
# through the sandbox's filtering proxy, which is what is measured on both
# sides. Each proxy then allows it by name: hutch needs the explicit
# --allow-address 127.0.0.1 to dial loopback; srt lets an allowed `localhost`
# entry reach loopback (a literal 127.0.0.1 URL gets 403 from it).
#
# Runs as root here. srt runs the command under bubblewrap, which needs user
# namespaces (unprivileged ones when not root), plus socat and ripgrep; it
# needs Node >= 22, which bench/network-deps.sh installs as an npm package.
# Not part of the test suite.
#
#   bench/network.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
repo=$(pwd)

node=$(bash bench/network-deps.sh)
srt=$repo/bench/network/node_modules/@anthropic-ai/sandbox-runtime/dist/cli.js
hutch=$repo/build/hutch
# build/hutch is not rebuilt here (scripts/setup.sh builds it); wait a little
# in case a build is replacing it.
for _ in $(seq 60); do [ -x "$hutch" ] && break; sleep 1; done
[ -x "$hutch" ] || { echo "network: $hutch is missing: run scripts/setup.sh" >&2; exit 1; }
image=hutch-sandbox:bookworm-slim

# Neither sandbox should pick up a proxy from this shell (srt would chain to it).
unset HTTP_PROXY http_proxy HTTPS_PROXY https_proxy ALL_PROXY all_proxy NO_PROXY no_proxy

out=$(mktemp -d)
server=
cleanup() {
  [ -z "$server" ] || kill "$server" 2>/dev/null || true
  [ -z "$server" ] || wait "$server" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

mkdir "$out/www" "$out/cwd"
echo "hello from bench/network.sh" > "$out/www/index.html"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$out/www" "$port" >/dev/null 2>&1 &
server=$!
url=http://localhost:$port/
for _ in $(seq 50); do
  curl --noproxy '*' -fsS -o /dev/null "$url" 2>/dev/null && break
  sleep 0.1
done

cat > "$out/srt-settings.json" <<'JSON'
{
  "network": {"allowedDomains": ["localhost"], "deniedDomains": []},
  "filesystem": {"denyRead": [], "allowWrite": [], "denyWrite": []}
}
JSON

fetch="curl --noproxy '' -sS -o /dev/null $url"
names=(hutch sandbox-runtime curl)
cmds=(
  "$hutch run --backend native --net allow:localhost --allow-address 127.0.0.1 -- $fetch"
  # `--` matters: srt's options are parsed after the command too (curl's -sS
  # would be read as `-s S`, --settings S).
  "$node $srt --settings $out/srt-settings.json -- $fetch"
  "curl --noproxy '*' -sS -o /dev/null $url"
)
if docker image inspect "$image" >/dev/null 2>&1; then
  names+=(hutch-docker)
  cmds+=("$hutch run --backend docker --image $image --net allow:localhost --allow-address 127.0.0.1 -- $fetch")
else
  echo "network: no docker image $image (scripts/bootstrap-image.sh): skipping hutch --backend docker" >&2
fi

# Every command must fetch the page (200) before it is timed. srt runs in an
# empty directory (it scans its working directory for files to protect).
cd "$out/cwd"
for i in "${!names[@]}"; do
  # hyperfine -N splits the command like a shell does; so does sh -c.
  code=$(sh -c "${cmds[$i]} -w %{http_code}" 2>"$out/err") || true
  if [ "$code" != 200 ]; then
    echo "network: ${names[$i]} got '$code' instead of 200 for $url:" >&2
    cat "$out/err" >&2
    exit 1
  fi
done

args=()
for i in "${!names[@]}"; do args+=(--command-name "${names[$i]}" "${cmds[$i]}"); done
hyperfine -N --warmup 3 --runs "$runs" --export-json "$out/network.json" "${args[@]}" >/dev/null 2>&1

python3 - "$out/network.json" "$runs" "$("$node" "$srt" --version)" <<'PY'
import json, statistics, sys
path, runs, srt_version = sys.argv[1], sys.argv[2], sys.argv[3]
med = {r["command"]: statistics.median(r["times"]) * 1000
       for r in json.load(open(path))["results"]}
print(f"one-shot curl of a local URL through a filtering proxy, median of {runs} runs (ms):")
for name, value in med.items():
    label = "sandbox-runtime " + srt_version if name == "sandbox-runtime" else name
    print(f"  {label:<22} {value:8.1f}")
print(f"network: hutch {med['hutch']:.1f} ms, sandbox-runtime {med['sandbox-runtime']:.1f} ms, "
      f"ratio {med['hutch'] / med['sandbox-runtime']:.3f} (goal <= 0.05)")
if "hutch-docker" in med:
    print(f"hutch --backend docker / sandbox-runtime: "
          f"{med['hutch-docker'] / med['sandbox-runtime']:.3f}")
print(f"above plain curl ({med['curl']:.1f} ms): hutch {med['hutch'] - med['curl']:.1f} ms, "
      f"sandbox-runtime {med['sandbox-runtime'] - med['curl']:.1f} ms")
PY
