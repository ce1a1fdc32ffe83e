"""The Python SDK's side of the boundary: a command in the sandbox trying to
forge its run result on a descriptor the SDK reads, or to answer the SDK's
other JSON-RPC calls from its output. The attempts are
sdk/python/tests/test_escapes.py (pytest, against the real binary); this runs
them with the binary under test, also as the unprivileged user."""
import os
import re
import subprocess
import sys

from conftest import HUTCH, REPO


def test_sdk_py_escapes():
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--timeout=300", str(REPO / "sdk" / "python" / "tests" / "test_escapes.py")],
                          env={**os.environ, "HUTCH_BIN": str(HUTCH)}, cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    out = proc.stdout.decode()
    last = out.strip().splitlines()[-1]
    m = re.match(r"(\d+) passed", last)
    assert m and int(m.group(1)) >= 2 and "failed" not in last, out[-4000:]
    assert proc.returncode == 0, out[-4000:]
