#!/usr/bin/env bash
# Runs the whole test suite and ends with one line "N passed, N failed, N skipped":
#   0. checks that touching a header rebuilds the static hutch and hutch-init
#      (scripts/check-rebuild.sh); starts a Docker engine and builds the test
#      images (scripts/docker-up.sh, scripts/bootstrap-image.sh)
#   1. unit tests (C, TAP), integration tests and the security suite of escape
#      attempts (pytest, the real binary) as the caller; the docker backend's
#      tests also against Podman (scripts/podman-up.sh)
#   1b. meson install into a DESTDIR: every file of the layout, man pages,
#      completions, the installed hutch run from there (tests/install/); the
#      Debian packages built, checked with lintian, installed into a clean
#      root and smoke-tested there (scripts/check-deb.sh, as root)
#   2. the integration tests again as an unprivileged user (when run as root)
#   3. unit and integration tests again under AddressSanitizer + UndefinedBehaviorSanitizer
#   4. a short libFuzzer pass over the parsers
# Installs what it needs first (scripts/setup.sh). Benchmarks are not run here (see bench/).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
python=/usr/bin/python3

bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

results=$(mktemp -d /tmp/hutch-results.XXXXXX)
chmod 755 "$results"
steps_file="$results/steps"
: > "$steps_file"

# step NAME JUNIT-FILE COMMAND...: runs a step, records its status for the
# summary. No step may take more than HUTCH_STEP_SECONDS: a hang fails that
# step and the rest still run (CI stops everything at 90 minutes).
step() {
  local name=$1 junit=$2
  shift 2
  echo "==> $name" >&2
  if [ "$(type -t "$1")" = function ]; then  # timeout runs programs, not functions
    set -- bash -c "$(declare -f "$1")"'; "$@"' bash "$@"
  fi
  timeout -k 30 "${HUTCH_STEP_SECONDS:-1200}" "$@"
  local rc=$?
  [ $rc -eq 124 ] && echo "==> $name timed out after ${HUTCH_STEP_SECONDS:-1200} s" >&2
  echo "$name $rc $junit" >> "$steps_file"
  [ $rc -eq 0 ] || echo "==> $name FAILED (exit $rc)" >&2
}

# The static musl binaries are rebuilt when a header they include changes
# (docs/development.md, "Static build").
step "rebuild-check" - bash scripts/check-rebuild.sh build

# A test that hangs fails after 300 s instead of holding up the whole run.
pytest_args=(-q -p no:cacheprovider -o console_output_style=classic --timeout=300)

# The docker backend's tests need an engine and local images (no registry).
step "docker-engine" - bash scripts/docker-up.sh
step "docker-image" - bash scripts/bootstrap-image.sh

run_unit() {  # BUILD_DIR JUNIT
  meson test -C "$1" --suite unit --print-errorlogs >&2
  local rc=$?
  cp "$1/meson-logs/testlog.junit.xml" "$2" 2>/dev/null
  return $rc
}

# ---- 1. as the caller -------------------------------------------------------
step "unit" "$results/unit.xml" run_unit build "$results/unit.xml"
step "integration" "$results/integration.xml" \
  env HUTCH_BIN="$repo/build/hutch" "$python" -m pytest "${pytest_args[@]}" \
  --junitxml="$results/integration.xml" tests/integration tests/security

# The docker backend's tests again, against Podman's Docker-compatible API.
if [ "$(id -u)" -eq 0 ]; then
  echo "==> podman-engine" >&2
  if podman_host=$(timeout -k 30 900 bash scripts/podman-up.sh); then
    echo "podman-engine 0 -" >> "$steps_file"
    step "integration-podman" "$results/integration-podman.xml" \
      env HUTCH_BIN="$repo/build/hutch" DOCKER_HOST="$podman_host" "$python" -m pytest \
      "${pytest_args[@]}" --junitxml="$results/integration-podman.xml" tests/integration/test_docker.py \
      tests/integration/test_adopted.py tests/security/test_adopted_escapes.py \
      tests/integration/test_docker_sessions.py tests/integration/test_skills.py
  else
    echo "podman-engine 1 -" >> "$steps_file"
  fi
fi

# ---- 1b. installed ------------------------------------------------------------
# meson install into a DESTDIR, and what it installs (docs/install.md).
step "install" "$results/install.xml" \
  env HUTCH_BUILD="$repo/build" "$python" -m pytest "${pytest_args[@]}" \
  --junitxml="$results/install.xml" tests/install
# The Debian packages, in a clean root made from the offline image.
if [ "$(id -u)" -eq 0 ]; then
  step "deb" - bash scripts/check-deb.sh
fi

# ---- 2. as an unprivileged user ---------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
  user=hutch-test
  id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
  # Users reach the Docker engine through the docker group, as they would.
  getent group docker >/dev/null && usermod -aG docker "$user"
  # A user in supplementary groups needs subordinate ids for the native
  # sandbox to drop them (docs/native.md), as a regular user gets them.
  grep -q "^$user:" /etc/subgid 2>/dev/null ||
    usermod --add-subuids 1879048192-1879113727 --add-subgids 1879048192-1879113727 "$user"
  # A copy the user can read and write, wherever this checkout lives.
  stage=$(mktemp -d /tmp/hutch-unpriv.XXXXXX)
  cp -a build include examples scripts tests docs README.md "$stage/" 2>/dev/null
  mkdir -p "$stage/home"
  chown -R "$user:" "$stage"
  chmod 755 "$stage"
  step "integration-unprivileged" "$results/integration-unprivileged.xml" \
    runuser -u "$user" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$stage/home" LANG=C.UTF-8 \
      HUTCH_REPO="$stage" HUTCH_BIN="$stage/build/hutch" \
      "$python" -m pytest "${pytest_args[@]}" --junitxml="$stage/junit.xml" \
      "$stage/tests/integration" "$stage/tests/security"
  cp "$stage/junit.xml" "$results/integration-unprivileged.xml" 2>/dev/null
  rm -rf "$stage"
fi

# ---- 3. sanitizers ------------------------------------------------------------
if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
if ninja -C build-asan >/dev/null; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  step "unit-asan" "$results/unit-asan.xml" run_unit build-asan "$results/unit-asan.xml"
  step "integration-asan" "$results/integration-asan.xml" \
    env HUTCH_BIN="$repo/build-asan/hutch" HUTCH_SANITIZED=1 "$python" -m pytest "${pytest_args[@]}" \
    --junitxml="$results/integration-asan.xml" tests/integration tests/security
  unset ASAN_OPTIONS UBSAN_OPTIONS
else
  echo "build-asan 1 -" >> "$steps_file"
fi

# ---- 4. fuzzing -----------------------------------------------------------------
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang meson setup build-fuzz --buildtype=debug -Dfuzz=true \
    -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
if ninja -C build-fuzz >/dev/null; then
  for target in config json5 units docker agent edit jsonrpc net; do
    corpus=$(mktemp -d)
    step "fuzz-$target" - build-fuzz/tests/fuzz/fuzz_$target -max_total_time="${HUTCH_FUZZ_SECONDS:-20}" \
      -print_final_stats=0 "$corpus" "tests/fuzz/seeds/$target"
    rm -rf "$corpus"
  done
else
  echo "build-fuzz 1 -" >> "$steps_file"
fi

"$python" scripts/summarize.py "$steps_file"
