#!/usr/bin/env bash
# second-user.sh STATE_DIR SECONDS: a second hutch user on this machine, for
# running the test suite (or anything else) beside it. For SECONDS it loops:
#   - hutch exec in a native session,
#   - hutch run --backend docker (the busybox test image),
#   - hutch exec in a docker session,
#   - a tool call (bash) in the native session,
# each checked for its exit status and exact output, all under its own
# HUTCH_STATE_DIR=STATE_DIR with its own config (its containers are named
# hutch-su<PID>-...). At the end, or when interrupted, it removes its
# sessions and every container of that name, and prints
#   second-user: N runs, N failures
# (what each failure was is in STATE_DIR/failures.log). Exit status 0 when
# nothing failed, 1 otherwise, 2 on bad arguments.
# HUTCH_BIN: the hutch to use (default: build/hutch of this checkout);
# DOCKER_HOST: the engine, as for hutch.
set -uo pipefail

if [ $# -ne 2 ] || ! [[ $2 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 STATE_DIR SECONDS" >&2
  exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
hutch=${HUTCH_BIN:-$repo/build/hutch}
[ -x "$hutch" ] || { echo "second-user: no hutch at $hutch: build it (ninja -C build) or set HUTCH_BIN" >&2; exit 2; }
mkdir -p "$1" || exit 2
state=$(cd "$1" && pwd)
seconds=$2
image=hutch-test-busybox:latest
prefix="hutch-su$$-"

export HUTCH_STATE_DIR="$state/state"
export HUTCH_NO_AUTO_PRUNE=1
export XDG_CONFIG_HOME="$state/config-home"  # no user config of the caller's
mkdir -p "$XDG_CONFIG_HOME"
config="$state/docker.json"
printf '{"sandbox": {"backend": "docker", "docker": {"containerPrefix": "%s", "image": "%s"}}}\n' \
  "$prefix" "$image" > "$config"
log="$state/failures.log"
: > "$log"

runs=0
failures=0

# check WHAT WANT-STATUS WANT-STDOUT COMMAND...: runs COMMAND, counts it,
# and a failure when its status or stdout differs (WANT-STDOUT "prefix:TEXT":
# stdout starts with TEXT).
check() {
  local what=$1 want_status=$2 want_out=$3
  shift 3
  local out status same
  out=$("$@" 2>"$state/stderr")
  status=$?
  runs=$((runs + 1))
  case $want_out in
    prefix:*) [[ $out == "${want_out#prefix:}"* ]] && same=1 || same=0 ;;
    *) [ "$out" = "$want_out" ] && same=1 || same=0 ;;
  esac
  if [ "$status" != "$want_status" ] || [ "$same" = 0 ]; then
    failures=$((failures + 1))
    {
      echo "$(date -u +%FT%TZ) $what: status $status (want $want_status)"
      echo "  stdout: $(printf '%s' "$out" | head -c 300)"
      echo "  stderr: $(head -c 300 "$state/stderr")"
    } >> "$log"
  fi
}

containers() {  # this run's containers, by name
  docker ${DOCKER_HOST:+-H "$DOCKER_HOST"} ps -aq --filter "name=^$prefix" 2>/dev/null
}

cleanup() {
  trap - EXIT INT TERM
  local key
  for key in su-native su-docker; do
    "$hutch" session rm "$key" >/dev/null 2>&1
  done
  local ids
  ids=$(containers)
  [ -n "$ids" ] && docker ${DOCKER_HOST:+-H "$DOCKER_HOST"} rm -f $ids >/dev/null 2>&1
  echo "second-user: $runs runs, $failures failures"
  [ "$failures" -eq 0 ]
  exit $?
}
trap cleanup EXIT
trap 'exit 1' INT TERM

check "native session create" 0 "" "$hutch" session create su-native --backend native
check "docker session create" 0 "" "$hutch" session create su-docker --config "$config"

end=$((SECONDS + seconds))
i=0
while [ "$SECONDS" -lt "$end" ]; do
  i=$((i + 1))
  check "native exec $i" 3 "native $i" "$hutch" exec su-native -- sh -c 'echo native "$0"; exit 3' "$i"
  check "docker run $i" 4 "run $i" \
    "$hutch" run --backend docker --config "$config" -- sh -c 'echo run "$0"; exit 4' "$i"
  check "docker session exec $i" 0 "docker $i" "$hutch" exec su-docker -- echo docker "$i"
  check "tool call $i" 0 'prefix:{"ok":true,"text":"tool '"$i"'\n",' \
    "$hutch" tool su-native bash '{"command": "echo tool '"$i"'"}'
done
