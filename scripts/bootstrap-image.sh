#!/usr/bin/env bash
# Builds the docker backend's default image without a registry: debootstrap
# a minimal Debian bookworm with the tools of images/Dockerfile.sandbox, add
# the non-root user 1000, and import it into the engine.
#   scripts/bootstrap-image.sh [TAG]        (default hutch-sandbox:bookworm-slim)
# Idempotent: does nothing when the tag exists. Needs root (debootstrap), curl
# and python3. Installed as share/hutch/bootstrap-image.sh, next to
# share/hutch/images/Dockerfile.sandbox (docs/install.md).
set -euo pipefail
tag=${1:-hutch-sandbox:bookworm-slim}
host=${DOCKER_HOST:-unix:///var/run/docker.sock}
case $host in
  unix://*) sock=${host#unix://} ;;
  *) echo "bootstrap-image: DOCKER_HOST must be a unix:// socket, not $host" >&2; exit 1 ;;
esac
api() { curl -fsS --unix-socket "$sock" "http://docker$@"; }

if api "/images/${tag}/json" >/dev/null 2>&1; then
  echo "bootstrap-image: $tag is already there" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "bootstrap-image: debootstrap needs root: run it with sudo" >&2
  exit 1
fi
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap </dev/null >/dev/null

root=$(mktemp -d /var/tmp/hutch-image.XXXXXX)
trap 'rm -rf "$root"' EXIT
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
echo "bootstrap-image: debootstrap bookworm from $mirror (about a minute)" >&2
debootstrap --variant=minbase \
  --include=bash,ca-certificates,curl,git,jq,python3,ripgrep \
  bookworm "$root" "$mirror" >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
chroot "$root" groupadd --gid 1000 sandbox
chroot "$root" useradd --uid 1000 --gid 1000 --home-dir /workspace --no-create-home --shell /bin/bash sandbox
mkdir -p "$root/workspace" && chown 1000:1000 "$root/workspace"
rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*

query=$(python3 -c '
import sys, urllib.parse
repo, _, version = sys.argv[1].rpartition(":")
changes = ["LABEL hutch.managed=true hutch.kind=image", "USER 1000:1000", "WORKDIR /workspace", "CMD [\"/bin/bash\"]"]
print(urllib.parse.urlencode([("fromSrc", "-"), ("repo", repo), ("tag", version)] +
                             [("changes", c) for c in changes]))' "$tag")
tar -C "$root" -c . | curl -fsS --unix-socket "$sock" -X POST \
  -H 'Content-Type: application/x-tar' --data-binary @- \
  "http://docker/images/create?$query" >/dev/null
echo "bootstrap-image: built $tag" >&2
