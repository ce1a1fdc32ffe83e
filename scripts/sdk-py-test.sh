#!/usr/bin/env bash
# Tests of the Python SDK (sdk/python/tests) against the real binary.
#   scripts/sdk-py-test.sh [PYTEST ARGS...]
# HUTCH_BIN picks the binary (default build/hutch). The SkillSandbox tests
# need the Docker engine and hutch-sandbox:bookworm-slim (scripts/docker-up.sh,
# scripts/bootstrap-image.sh); without them they are skipped with that reason.
# Ends with pytest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
export HUTCH_BIN=${HUTCH_BIN:-$(pwd)/build/hutch}
[ -x "$HUTCH_BIN" ] || { echo "sdk-py-test: $HUTCH_BIN is not built: run ninja -C build first" >&2; exit 2; }
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider --timeout=300 sdk/python/tests "$@"
