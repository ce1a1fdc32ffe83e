"""Tests of hutch_sandbox against the real binary: HUTCH_BIN (default: the
checkout's build/hutch). Every test has its own HUTCH_STATE_DIR, so it sees
and removes only the sessions it made."""
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

SDK = pathlib.Path(__file__).resolve().parents[1]
REPO = SDK.parents[1]
sys.path.insert(0, str(SDK / "src"))
os.environ.setdefault("HUTCH_BIN", str(REPO / "build" / "hutch"))
HUTCH = os.environ["HUTCH_BIN"]
IMAGE = "hutch-sandbox:bookworm-slim"  # made offline by scripts/bootstrap-image.sh


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    """A state directory of this test's own; its sessions are removed after."""
    d = tmp_path / "state"
    d.mkdir()
    monkeypatch.setenv("HUTCH_STATE_DIR", str(d))
    monkeypatch.setenv("HUTCH_NO_AUTO_PRUNE", "1")
    monkeypatch.delenv("HUTCH_CONFIG", raising=False)
    yield d
    ls = subprocess.run([HUTCH, "session", "ls", "--json"], capture_output=True)
    for s in json.loads(ls.stdout or b"[]"):
        subprocess.run([HUTCH, "session", "rm", s["key"], "--workspaces"], capture_output=True)


def processes_with(marker):
    """Host pids whose command line contains marker (a test's own string)."""
    found = []
    for p in pathlib.Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmdline = (p / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(p.name))
    return found


def command_running(prefix):
    """A process whose command line starts with prefix (the command itself,
    not a hutch whose arguments name it)."""
    for p in pathlib.Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if (p / "cmdline").read_bytes().replace(b"\0", b" ").startswith(prefix.encode()):
                    return True
            except OSError:
                pass
    return False


def gone(marker, timeout=10.0):
    """True once no process carries marker (within timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not processes_with(marker):
            return True
        time.sleep(0.05)
    return False


def engine_ok():
    """A Docker engine answers (tests that need it then fail, never skip, when
    something else is wrong, such as a missing image)."""
    for _ in range(3):
        if subprocess.run(["docker", "version"], capture_output=True, timeout=60).returncode == 0:
            return True
        time.sleep(1)
    return False
