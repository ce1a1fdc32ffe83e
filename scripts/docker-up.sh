#!/usr/bin/env bash
# Makes a Docker engine available for the tests, idempotently: installs
# docker.io, starts dockerd when its socket does not answer, registers gVisor's
# runsc as a runtime, and builds the small local test images (no registry is
# reachable here). Prints nothing on success but a final "docker: ready" line.
set -euo pipefail
cd "$(dirname "$0")/.."
as_root=(); [ "$(id -u)" -eq 0 ] || as_root=(sudo)
export DEBIAN_FRONTEND=noninteractive

need=()
for p in docker.io busybox-static runsc debootstrap curl socat; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  "${as_root[@]}" apt-get update -qq </dev/null >/dev/null
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >/dev/null
fi

sock=/var/run/docker.sock
ping() { curl -fsS --max-time 2 --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1; }

# gVisor as an optional runtime, without network (docs/docker.md); runsc-uds
# may also connect to host unix sockets, which the network allowlist needs
# (docs/network.md).
daemon_json=/etc/docker/daemon.json
want='{"runtimes":{"runsc":{"path":"/usr/bin/runsc","runtimeArgs":["--network=none"]},"runsc-uds":{"path":"/usr/bin/runsc","runtimeArgs":["--network=none","--host-uds=open"]}}}'
reload=false
if [ ! -f "$daemon_json" ] || ! grep -q runsc-uds "$daemon_json"; then
  "${as_root[@]}" mkdir -p /etc/docker
  echo "$want" | "${as_root[@]}" tee "$daemon_json" >/dev/null
  reload=true
fi

# A daemon is alive when its pid file names a process that is not a zombie.
# One that died hard leaves its pid file behind, and a stale one stops the
# next start (dockerd's, or the containerd it manages: a 30 s wait).
alive() {
  local pid state
  pid=$(cat "$1" 2>/dev/null) || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}
dockerd_alive() { alive /var/run/docker.pid; }
start_dockerd() {
  "${as_root[@]}" rm -f /var/run/docker.pid
  alive /var/run/docker/containerd/containerd.pid ||
    "${as_root[@]}" rm -f /var/run/docker/containerd/containerd.pid
  # From /: dockerd outlives this checkout (CI clones into /tmp and removes it).
  # In its own session with every descriptor on the log: a daemon that kept
  # our stdout would hold up whoever reads it ($(...), a CI runner) forever.
  "${as_root[@]}" setsid -f sh -c 'cd / && exec dockerd </dev/null >>/var/log/hutch-dockerd.log 2>&1' \
    </dev/null >/dev/null 2>&1
}
wait_ping() { for _ in $(seq 150); do ping && return 0; sleep 0.2; done; return 1; }

if ! ping; then
  dockerd_alive || start_dockerd
  if ! wait_ping; then
    dockerd_alive || { start_dockerd; wait_ping; } ||
      { echo "docker: dockerd did not start; see /var/log/hutch-dockerd.log" >&2; exit 1; }
  fi
elif $reload; then
  "${as_root[@]}" pkill -HUP -x dockerd || true
  sleep 1
fi

# Test images, built locally.
docker_api() { curl -fsS --unix-socket "$sock" "http://docker$1"; }
if ! docker_api /images/hutch-test-busybox:latest/json >/dev/null 2>&1; then
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/workspace"
  cp /bin/busybox "$root/bin/busybox"
  for tool in $("$root/bin/busybox" --list); do
    [ "$tool" = busybox ] || ln -sf busybox "$root/bin/$tool"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
  echo 'sandbox:x:1000:1000:sandbox:/workspace:/bin/sh' >> "$root/etc/passwd"
  printf 'root:x:0:\nsandbox:x:1000:\n' > "$root/etc/group"
  tar -C "$root" -c . | curl -fsS --unix-socket "$sock" -X POST \
    -H 'Content-Type: application/x-tar' --data-binary @- \
    "http://docker/images/create?fromSrc=-&repo=hutch-test-busybox&tag=latest" >/dev/null
  rm -rf "$root"
fi
echo "docker: ready" >&2
