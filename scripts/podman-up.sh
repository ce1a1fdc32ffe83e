#!/usr/bin/env bash
# Starts Podman's Docker-compatible API service for the tests, idempotently,
# and copies the test images into it from the Docker engine (no registry is
# reachable here). Prints the DOCKER_HOST to use on stdout.
#   DOCKER_HOST=$(scripts/podman-up.sh) pytest tests/integration/test_docker.py
# Needs root, and scripts/docker-up.sh and scripts/bootstrap-image.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=()
for p in podman catatonit; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq </dev/null >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >/dev/null
fi

dir=/run/hutch-podman
sock=$dir/podman.sock
ping() { curl -fsS --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; }
# A service started from a checkout that was deleted since (CI clones into
# /tmp) has lost its working directory, and conmon then fails every
# container: replace it.
for pid in $(pgrep -f "podman system service .*unix://$sock" || true); do
  if readlink "/proc/$pid/cwd" 2>/dev/null | grep -q ' (deleted)$'; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do ping || break; sleep 0.1; done
  fi
done
if ! ping; then
  mkdir -p "$dir"
  # Its own copy of the config and / as its directory: nothing that the
  # checkout's removal would pull from under it. Its own session, and every
  # descriptor on the log: callers read this script's stdout with $(...),
  # which would otherwise wait for the service to end.
  cp scripts/podman/containers.conf "$dir/containers.conf"
  CONTAINERS_CONF=$dir/containers.conf setsid -f sh -c \
    'cd / && exec podman system service --time=0 "$1"' sh "unix://$sock" \
    </dev/null >>/var/log/hutch-podman.log 2>&1
  for _ in $(seq 100); do ping && break; sleep 0.2; done
  ping || { echo "podman: the API service did not start; see /var/log/hutch-podman.log" >&2; exit 1; }
fi

for image in hutch-test-busybox:latest hutch-sandbox:bookworm-slim; do
  if ! curl -fsS --unix-socket "$sock" "http://d/images/$image/json" >/dev/null 2>&1; then
    curl -fsS --max-time 300 --unix-socket /var/run/docker.sock "http://d/images/$image/get" |
      curl -fsS --max-time 300 --unix-socket "$sock" -X POST -H 'Content-Type: application/x-tar' \
        --data-binary @- http://d/images/load >/dev/null
  fi
done
echo "unix://$sock"
