#!/usr/bin/env bash
# The static musl hutch and hutch-init are ordinary targets of the musl build
# (build/musl/, docs/development.md "Static build"): touching a header they
# include must rebuild them, and nothing must rebuild them otherwise.
#   scripts/check-rebuild.sh [BUILD_DIR]     (default: build)
# Builds only hutch and hutch-init, so it takes a musl recompile, not a full one.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
failed=0

id_of() { stat -c '%i %.9Y' "$build/$1"; }

# expect HEADER|- REBUILT... -- KEPT...: touches HEADER (- for none), builds,
# and checks which binaries changed.
expect() {
  local header=$1; shift
  local -A before
  local b
  for b in hutch hutch-init; do before[$b]=$(id_of "$b"); done
  [ "$header" = - ] || touch "$header"
  if ! ninja -C "$build" hutch hutch-init >/dev/null; then
    echo "check-rebuild: FAIL: ninja failed after touching $header"; failed=1; return
  fi
  local want=rebuilt
  for b in "$@"; do
    if [ "$b" = -- ]; then want=kept; continue; fi
    local now
    now=$(id_of "$b")
    if [ "$want" = rebuilt ] && [ "$now" = "${before[$b]}" ]; then
      echo "check-rebuild: FAIL: $header touched, $build/$b was not rebuilt"; failed=1
    elif [ "$want" = kept ] && [ "$now" != "${before[$b]}" ]; then
      echo "check-rebuild: FAIL: ${header/#-/nothing} touched, $build/$b was rebuilt"; failed=1
    fi
  done
}

if ! ninja -C "$build" hutch hutch-init >/dev/null; then
  echo "check-rebuild: FAIL: $build does not build"; exit 1
fi
for b in hutch hutch-init; do
  if ! [ "$build/$b" -ef "$build/musl/$b" ] || ! file "$build/$b" | grep -q 'statically linked'; then
    echo "check-rebuild: FAIL: $build/$b is not the static one of the musl build ($build/musl/$b)"
    exit 1
  fi
done

expect -                  -- hutch hutch-init    # a no-op build changes nothing
expect src/policy/policy.h       hutch -- hutch-init    # the CLI's, not the agent's
expect src/agent/proto.h  hutch hutch-init       # the agent protocol: both
expect src/base/util.h         hutch hutch-init

if [ $failed -eq 0 ]; then
  echo "check-rebuild: PASS: touching a header rebuilds $build/hutch and $build/hutch-init exactly when they include it"
fi
exit $failed
