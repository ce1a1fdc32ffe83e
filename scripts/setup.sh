#!/usr/bin/env bash
# Installs everything hutch needs to build and test on Debian 12, then builds.
# Idempotent: packages already present are not reinstalled, the build is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential meson ninja-build pkg-config
  libjansson-dev libseccomp-dev libcurl4-openssl-dev libarchive-dev libmicrohttpd-dev
  clang libclang-rt-14-dev musl-tools
  python3 python3-pytest python3-pytest-timeout
  # the Python SDK's offline pip install and its venv test (sdk/python)
  python3-setuptools python3-venv python3-pip
  passwd uidmap util-linux procps time
  curl git iproute2
  # man -l and the shell completions of the install test (tests/install/)
  man-db zsh fish
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq </dev/null >/dev/null
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi

# Debian's jansson source for the static musl build (subprojects/jansson.wrap).
bash scripts/jansson-source.sh

if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=debugoptimized >/dev/null
fi
ninja -C build >/dev/null
echo "setup: built build/hutch" >&2
