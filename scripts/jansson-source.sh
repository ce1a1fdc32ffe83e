#!/usr/bin/env bash
# Puts Debian's jansson source in place for the static musl build: the orig
# tarball that subprojects/jansson.wrap pins (by SHA-256) into
# subprojects/packagecache/, from `apt-get source`, then unpacked with the
# build overlay (subprojects/packagefiles/jansson/) by `meson subprojects
# download`, so that neither configuring nor building fetches anything.
# Adds a deb-src entry for the configured Debian archive when there is none.
# Idempotent: does nothing when the tarball is there and right.
set -euo pipefail
cd "$(dirname "$0")/.."

wrap=subprojects/jansson.wrap
key() { sed -n "s/^$1 *= *//p" "$wrap"; }
file=$(key source_filename)
hash=$(key source_hash)
dir=$(key directory)
cache=subprojects/packagecache

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)

has_deb_src() {
  grep -Eqs '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources
}

# deb-src entries mirroring the configured deb ones (deb822 or one-line).
add_deb_src() {
  local d822=/etc/apt/sources.list.d/debian.sources
  if [ -f "$d822" ]; then
    sed -E 's/^Types:.*/Types: deb-src/' "$d822" |
      "${as_root[@]}" tee /etc/apt/sources.list.d/hutch-deb-src.sources >/dev/null
  elif grep -Eqs '^deb[[:space:]]' /etc/apt/sources.list; then
    grep -E '^deb[[:space:]]' /etc/apt/sources.list | sed -E 's/^deb([[:space:]])/deb-src\1/' |
      "${as_root[@]}" tee /etc/apt/sources.list.d/hutch-deb-src.list >/dev/null
  else
    local codename
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$codename" "$codename" |
      "${as_root[@]}" tee /etc/apt/sources.list.d/hutch-deb-src.sources >/dev/null
  fi
}

good() { echo "$hash  $1" | sha256sum --check --status 2>/dev/null; }

if ! good "$cache/$file"; then
  if ! has_deb_src; then
    echo "jansson-source: adding deb-src entries for apt-get source" >&2
    add_deb_src
  fi
  if ! apt-cache showsrc jansson 2>/dev/null | grep -q '^Package: jansson$'; then
    "${as_root[@]}" apt-get update -qq </dev/null >/dev/null
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # apt's download sandbox user writes there
  if [ "$(id -u)" -eq 0 ] && id -u _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi
  (cd "$tmp" && apt-get source --download-only -qq jansson </dev/null >/dev/null)
  if [ ! -f "$tmp/$file" ]; then
    echo "jansson-source: apt-get source jansson brought no $file:" $(ls "$tmp") >&2
    echo "jansson-source: update subprojects/jansson.wrap for Debian's jansson" >&2
    exit 1
  fi
  if ! good "$tmp/$file"; then
    echo "jansson-source: $file is not the one subprojects/jansson.wrap pins:" >&2
    echo "  expected $hash" >&2
    echo "  got      $(sha256sum "$tmp/$file" | cut -d' ' -f1)" >&2
    exit 1
  fi
  mkdir -p "$cache"
  mv "$tmp/$file" "$cache/$file"
  chmod 644 "$cache/$file"
  echo "jansson-source: $cache/$file from Debian's source package" >&2
fi

# Unpacked now rather than by the first musl build; unpacked again when the
# wrap or the overlay changed since.
unpacked=subprojects/$dir/.hutch-unpacked
if [ -d "subprojects/$dir" ] &&
   [ -n "$(find subprojects/packagefiles/jansson "$wrap" -newer "$unpacked" -print -quit 2>/dev/null ||
           echo missing)" ]; then
  rm -rf "subprojects/${dir:?}"
fi
if [ ! -f "$unpacked" ]; then
  meson subprojects download jansson >/dev/null
  # The overlay is copied with its own time: newer than any build of the old
  # one, so that the musl build configures itself again.
  touch "subprojects/$dir/meson.build" "$unpacked"
fi
