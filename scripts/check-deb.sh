#!/usr/bin/env bash
# Builds the Debian packages from this tree (debian/: dpkg-buildpackage -us -uc
# -b, in a copy), checks them with lintian (no errors allowed; the rest is
# shown), installs them into a clean root and runs a smoke test there: hutch
# doctor, a native run, a session exec and a tool call, as root and as a
# user, plus the installed man pages and bash completion.
#
# The clean root is a container of the offline Debian image that
# scripts/bootstrap-image.sh makes (hutch-sandbox:bookworm-slim: debootstrap
# minbase with a few tools, no hutch, no jansson), with what the native
# sandbox needs to make its namespaces inside it. The packages' missing
# dependencies are fetched on this machine with apt-get download, so the
# container needs no network. docs/install.md.
#
#   scripts/check-deb.sh [IMAGE]
#
# Needs root (apt-get, the engine). Prints one "check-deb: PASS" or
# "check-deb: FAIL (why)" line last; leaves nothing behind (its build copy in
# a temporary directory, its container). HUTCH_DEB_KEEP=DIR keeps the built
# packages in DIR.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
image=${1:-hutch-sandbox:bookworm-slim}
started=$(date +%s)

work=$(mktemp -d /tmp/hutch-deb.XXXXXX)
container=hutch-deb-smoke-$$
cleanup() {
  docker rm -f "$container" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "check-deb: FAIL ($*)"
  exit 1
}
say() { echo "check-deb: $*" >&2; }

# ---- tools -----------------------------------------------------------------
tools=(dpkg-dev debhelper lintian)
missing=()
for p in "${tools[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null 2>&1 ||
    { apt-get update -qq </dev/null >/dev/null && apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" </dev/null >/dev/null; } || fail "cannot install ${missing[*]}"
fi
# Build dependencies (debian/control): scripts/setup.sh has most; the rest.
unmet=$(dpkg-checkbuilddeps 2>&1 | sed -n 's/.*Unmet build dependencies: //p' |
  sed -E 's/\([^)]*\)//g; s/\|[^ ]*//g')
if [ -n "$unmet" ]; then
  say "installing build dependencies $unmet"
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $unmet \
    </dev/null >/dev/null 2>&1 || fail "cannot install the build dependencies $unmet"
fi
dpkg-checkbuilddeps >/dev/null 2>&1 || fail "missing build dependencies: $(dpkg-checkbuilddeps 2>&1)"
bash scripts/jansson-source.sh >/dev/null || fail "no jansson source for the static musl build"

# The package's version is the project's.
project_version=$(sed -n "s/^  version: '\(.*\)',$/\1/p" meson.build | head -1)
deb_version=$(dpkg-parsechangelog -S Version)
[ "$deb_version" = "$project_version" ] ||
  fail "debian/changelog says $deb_version, meson.build $project_version: add a debian/changelog entry"

# ---- build -------------------------------------------------------------------
# A copy of what git tracks (plus the jansson source, which it ignores), so
# that the build's files and the packages (written next to the tree) stay in
# $work.
mkdir -p "$work/src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  { git ls-files -co --exclude-standard; ls subprojects/packagecache/*; } | tar -cf - -T - |
    tar -C "$work/src" -xf - || fail "cannot copy the tree"
else
  tar --exclude=./build --exclude=./build-asan --exclude=./build-fuzz --exclude='./obj-*' \
    --exclude=./tests/mcp/node_modules --exclude=./sdk/typescript/node_modules --exclude=./sdk/typescript/dist -cf - . | tar -C "$work/src" -xf - || fail "cannot copy the tree"
fi
say "dpkg-buildpackage -us -uc -b"
t0=$(date +%s)
( cd "$work/src" && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -us -uc -b ) >"$work/build.log" 2>&1 ||
  { tail -40 "$work/build.log" >&2; fail "dpkg-buildpackage failed"; }
say "built in $(( $(date +%s) - t0 )) s: $(cd "$work" && ls ./*.deb | sed 's|^\./||' | tr '\n' ' ')"
if [ -n "${HUTCH_DEB_KEEP:-}" ]; then
  mkdir -p "$HUTCH_DEB_KEEP" && cp "$work"/*.deb "$HUTCH_DEB_KEEP"/
fi

# ---- lintian -------------------------------------------------------------------
changes=$(ls "$work"/*.changes)
lintian --fail-on error --display-info "$changes" >"$work/lintian.log" 2>&1
lintian_rc=$?
grep -v 'running with root privileges' "$work/lintian.log" | sed 's/^/lintian: /' >&2
errors=$(grep -c '^E: ' "$work/lintian.log")
warnings=$(grep -c '^W: ' "$work/lintian.log")
infos=$(grep -c '^I: ' "$work/lintian.log")
say "lintian: $errors errors, $warnings warnings, $infos notes"
[ "$lintian_rc" -eq 0 ] && [ "$errors" -eq 0 ] || fail "lintian found $errors errors"

# ---- a clean root ------------------------------------------------------------------
docker image inspect "$image" >/dev/null 2>&1 ||
  fail "no image $image: scripts/bootstrap-image.sh makes it"
debs=()
for p in hutch libhutch1 libhutch-dev; do
  debs+=("$(ls "$work"/${p}_*.deb)")
done
# What the native sandbox needs to nest in a container: CAP_SYS_ADMIN, no
# seccomp or AppArmor profile, and /proc and /sys without the engine's masks
# (--privileged would do too, but not where the engine itself runs without
# some capability, as in some VMs).
docker run -d --name "$container" --user 0 --network none --cap-add SYS_ADMIN \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  --security-opt systempaths=unconfined --label hutch.test=check-deb \
  --entrypoint sleep -v "$work:/debs:ro" "$image" infinity >/dev/null ||
  fail "cannot start a container of $image"
in_root() { docker exec -i "$container" "$@"; }

# The packages' dependencies that the root lacks, fetched here.
mkdir -p "$work/deps"
installed=$(in_root dpkg-query -W -f '${Package}\n')
wanted=$(for d in "${debs[@]}"; do dpkg-deb -f "$d" Depends; done | tr ',' '\n' |
  sed -E 's/\|.*//; s/\(.*\)//; s/:any//; s/[[:space:]]//g' | sort -u)
for round in 1 2 3; do
  fetch=()
  for p in $wanted; do
    case $p in hutch|libhutch1|libhutch-dev|'') continue ;; esac
    grep -qx "$p" <<<"$installed" || ls "$work/deps/${p}_"*.deb >/dev/null 2>&1 || fetch+=("$p")
  done
  [ ${#fetch[@]} -eq 0 ] && break
  ( cd "$work/deps" && apt-get download -qq "${fetch[@]}" </dev/null >/dev/null 2>&1 ) ||
    fail "cannot download ${fetch[*]}"
  wanted=$(for d in "$work"/deps/*.deb; do dpkg-deb -f "$d" Depends; done | tr ',' '\n' |
    sed -E 's/\|.*//; s/\(.*\)//; s/:any//; s/[[:space:]]//g' | sort -u)
done
say "installing into a container of $image (with $(ls "$work/deps" | tr '\n' ' '))"
in_root sh -c 'dpkg -i /debs/deps/*.deb /debs/hutch_*.deb /debs/libhutch1_*.deb /debs/libhutch-dev_*.deb' \
  >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "dpkg -i failed in the clean root"; }

# ---- smoke test ----------------------------------------------------------------------
smoke=$(cat <<'EOF'
set -eu
fail() { echo "smoke: $*" >&2; exit 1; }
export HUTCH_NO_AUTO_PRUNE=1
[ "$(command -v hutch)" = /usr/bin/hutch ] || fail "hutch is not /usr/bin/hutch"
[ -x /usr/libexec/hutch/hutch-docker ] && [ -x /usr/libexec/hutch/hutch-init ] || fail "no helpers"
[ ! -e /usr/bin/hutch-docker ] || fail "hutch-docker on PATH"
hutch --version
hutch doctor || fail "hutch doctor: the native backend does not work here"
hutch doctor --json | grep -q '"sessions"' || fail "doctor --json"
out=$(hutch run -- sh -c 'echo "native $(id -u) $(hostname)"') || fail "hutch run"
case $out in "native 65534 "*) ;; *) fail "hutch run said: $out" ;; esac
hutch run --json --timeout 1 -- sleep 5 | grep -q '"timed_out":true' || fail "a timeout"
out=$(hutch exec smoke -- sh -c 'echo kept > /tmp/f; echo in session') || fail "hutch exec"
[ "$out" = "in session" ] || fail "hutch exec said: $out"
[ "$(hutch exec smoke -- cat /tmp/f)" = kept ] || fail "the session did not keep its /tmp"
out=$(hutch tool smoke bash '{"command": "echo from a tool"}') || fail "hutch tool: $out"
case $out in *'"ok":true'*'from a tool'*) ;; *) fail "hutch tool said: $out" ;; esac
hutch tool smoke write '{"path": "notes.txt", "content": "hi\n"}' >/dev/null || fail "tool write"
hutch tool smoke read '{"path": "notes.txt"}' | grep -q 'hi' || fail "tool read"
hutch session ls | grep -q '^smoke ' || fail "session ls"
hutch session rm smoke --workspaces
# as a user (the image's uid 1000)
out=$(runuser -u sandbox -- env HOME=/tmp/home hutch run -- id -u) || fail "hutch run as a user"
[ "$out" = 1000 ] || fail "as a user, hutch run said: $out"
# what else the package installs
[ "$(bash -c 'source /usr/share/bash-completion/completions/hutch; complete -p hutch')" = \
  "complete -F _hutch hutch" ] || fail "bash completion"
for page in hutch.1 hutch-run.1 hutch-exec.1 hutch-session.1 hutch-tool.1 hutch-config.5; do
  f=/usr/share/man/man${page##*.}/$page.gz
  [ -s "$f" ] && gzip -dc "$f" | grep -q '^\.TH' || fail "no man page $page"
done
[ -x /usr/share/hutch/bootstrap-image.sh ] && [ -s /usr/share/hutch/images/Dockerfile.sandbox ] ||
  fail "no image recipe"
hutch config check /usr/share/hutch/config.sample.json >/dev/null || fail "the sample config"
[ -s /usr/share/doc/hutch/README.md ] && [ -s /usr/share/doc/hutch/docs/install.md ] || fail "no docs"
[ -s /usr/include/hutch.h ] && ls /usr/lib/*/libhutch.so >/dev/null || fail "no libhutch-dev"
hutch help image | grep -q /usr/share/hutch/bootstrap-image.sh || fail "hutch help image"
echo "smoke: ok"
EOF
)
say "smoke test in the clean root"
in_root bash -c "$smoke" >&2 || fail "smoke test in the clean root"

say "done in $(( $(date +%s) - started )) s"
echo "check-deb: PASS"
