"""The TypeScript SDK's side of the boundary: a command in the sandbox, or a
value a model chose, trying to forge JSON-RPC answers or run results in its
output, or to smuggle options into hutch's command line through the SDK.
The attempts are sdk/typescript/test/security.test.mjs (node --test, against
the real binary); this runs them through scripts/sdk-ts-test.sh, which
installs Node 22 and builds the SDK."""
import os
import re
import subprocess

from conftest import HUTCH, REPO


def test_sdk_ts_escapes():
    proc = subprocess.run(["bash", str(REPO / "scripts" / "sdk-ts-test.sh"), "security"],
                          env={**os.environ, "HUTCH_BIN": str(HUTCH)},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    out = proc.stdout.decode()
    last = out.strip().splitlines()[-1]
    m = re.fullmatch(r"(\d+) passed, (\d+) failed", last)
    assert m, out[-4000:]
    assert int(m.group(2)) == 0 and int(m.group(1)) >= 4, out[-4000:]
    assert proc.returncode == 0, out[-4000:]
