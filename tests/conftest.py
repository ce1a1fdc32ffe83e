"""Shared fixtures for the integration and security tests: they drive the
real hutch binary. Plain helpers (paths, wait_for, the Docker engine) live in
tests/helpers.py and are re-exported here under their old names.

HUTCH_BIN      the binary under test (default: build/hutch of this checkout)
HUTCH_SANITIZED=1  the binary is an ASan/UBSan build: memory ceilings are not
               checked (the sanitizer's shadow memory dominates), all else is.
"""
import json
import os
import pathlib
import subprocess
import time

import pytest

from helpers import (  # noqa: F401  (re-exported for the test modules)
    BUILD_DIR, DEGRADED_KEYS, HUTCH, REPO, RESULT_KEYS, ROOT, SANITIZED, PrivateDockerd,
    ensure_engine, is_podman, shared_dockerd_pid, wait_for,
)


class Hutch:
    def __init__(self, env, tmp):
        self.env = env
        self.tmp = tmp
        # Every hutch process started through run() and popen(): fixtures
        # find this test's containers by them (helpers.own_containers).
        self.procs = []

    def popen(self, *args, env=None, **kw):
        """subprocess.Popen of hutch ARGS with this hutch's environment."""
        full_env = dict(self.env)
        if env:
            full_env.update(env)
        proc = subprocess.Popen([HUTCH, *args], env=full_env, **kw)
        self.procs.append(proc)
        return proc

    def run(self, *args, input=None, env=None, timeout=120, check=None, cwd=None):
        """subprocess.run of hutch ARGS, output captured."""
        with self.popen(*args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL) as p:
            try:
                out, err = p.communicate(input, timeout=timeout)
            except BaseException:  # as subprocess.run: no child outlives the call
                p.kill()
                p.wait()
                raise
        proc = subprocess.CompletedProcess(p.args, p.returncode, out, err)
        if check is not None:
            assert proc.returncode == check, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
        return proc

    def run_json(self, *args, **kw):
        """hutch run --json ARGS: returns (result dict, process)."""
        proc = self.run("run", "--json", *args, **kw)
        assert proc.stdout, (proc.returncode, proc.stderr)
        result = json.loads(proc.stdout)
        # A fallback run adds why, and what it did not apply.
        assert set(result) == (RESULT_KEYS | DEGRADED_KEYS if result.get("degraded")
                               else RESULT_KEYS)
        assert proc.returncode == result["exit_code"]
        return result, proc


@pytest.fixture(params=["native", "spawn"])
def backend(request):
    """Runs a test once per backend that shares the behaviour under test."""
    return request.param


@pytest.fixture
def hutch(tmp_path):
    """A hutch with an empty config home, so no user config interferes."""
    config_home = tmp_path / "config-home"
    config_home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "LANG": "C.UTF-8",
        "XDG_CONFIG_HOME": str(config_home),
    }
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "DOCKER_HOST"):
        if name in os.environ:
            env[name] = os.environ[name]
    return Hutch(env, tmp_path)


def one_line_error(proc):
    """hutch's own failures: exit 125, nothing on stdout, one line on stderr
    (warnings about other things may come before it, on their own lines)."""
    assert proc.returncode == 125, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == b""
    lines = [l for l in proc.stderr.decode().strip().splitlines()
             if not l.startswith("hutch: warning: ")]
    assert len(lines) == 1, lines
    assert lines[0].startswith("hutch: ")
    return lines[0]


def processes_matching(needle, start=False):
    """pids whose command line (arguments joined by spaces) contains needle
    (needle: a unique marker); with start, begins with it: the command
    itself, not a hutch whose arguments name it."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ")
        except OSError:
            continue
        if cmdline.startswith(needle.encode()) if start else needle.encode() in cmdline:
            found.append(int(entry))
    return found


def run_native(hutch, *args, **kw):
    """hutch run --json --backend native ARGS: (result, process)."""
    return hutch.run_json("--backend", "native", *args, **kw)


def sandbox_python(hutch, code, *flags, **kw):
    """Runs a Python snippet in a native sandbox; returns (result, process)."""
    return run_native(hutch, *flags, "--", "python3", "-c", code, **kw)


class Sessions:
    """hutch with its own state directory; removes every session at the end."""

    def __init__(self, hutch, tmp_path):
        self.hutch = hutch
        self.state = tmp_path / "state"
        hutch.env["HUTCH_STATE_DIR"] = str(self.state)
        hutch.env["HUTCH_NO_AUTO_PRUNE"] = "1"

    def run(self, *args, **kw):
        return self.hutch.run(*args, **kw)

    def exec_json(self, key, *args, **kw):
        proc = self.run("exec", key, "--json", *args, **kw)
        assert proc.stdout, (proc.returncode, proc.stderr)
        return json.loads(proc.stdout), proc

    def status(self, key):
        proc = self.run("session", "status", key, "--json", check=0)
        return json.loads(proc.stdout)

    def ls(self):
        return json.loads(self.run("session", "ls", "--json", check=0).stdout)

    def record_path(self, key):
        return pathlib.Path(self.status(key)["state_dir"]) / "record.json"

    def cleanup(self):
        for s in self.ls():
            self.run("session", "rm", s["key"])


@pytest.fixture(scope="module")
def docker_engine():
    """A Docker-compatible engine to test against (scripts/docker-up.sh and
    the test images, as root); its value: whether it is Podman. Modules that
    need it throughout say pytestmark = pytest.mark.usefixtures("docker_engine")."""
    ensure_engine()
    yield is_podman()


@pytest.fixture
def private_dockerd(docker_engine):
    """A dockerd of the test's own (helpers.PrivateDockerd), running, with
    the busybox test image: for tests that stop, kill or restart dockerd,
    which they do to this one only, never to the machine's, which other test
    runs and hutch users share. Point hutch at it with DOCKER_HOST=.host.
    .shared_untouched() asserts that the machine's dockerd is still the same
    process, still has its docker0 and still answers (docker ps); the
    fixture asserts it again at
    the end, after removing everything of the private one, failed test or
    not."""
    if not ROOT:
        pytest.skip("a dockerd of the test's own needs root")
    if docker_engine or "DOCKER_HOST" in os.environ:
        pytest.skip("stops and restarts a Docker engine: run against the machine's Docker")
    shared_pid = shared_dockerd_pid()
    assert shared_pid, "no dockerd pid in /var/run/docker.pid: run scripts/docker-up.sh"
    bridge = pathlib.Path("/sys/class/net/docker0")  # the machine's dockerd's default bridge
    had_bridge = bridge.exists()
    d = PrivateDockerd()

    def shared_untouched():
        assert shared_dockerd_pid() == shared_pid, "the machine's dockerd is not the same process"
        assert bridge.exists() == had_bridge, "docker0 of the machine's dockerd is gone"
        ps = subprocess.run(["docker", "-H", "unix:///var/run/docker.sock", "ps", "-q"],
                            capture_output=True, timeout=60)
        assert ps.returncode == 0, ps.stderr
    d.shared_untouched = shared_untouched
    try:
        d.start()
        d.load("hutch-test-busybox:latest")
        yield d
    finally:
        left = d.cleanup()
    assert left == [], f"the private dockerd left {left}"
    shared_untouched()


@pytest.fixture
def sessions(hutch, tmp_path):
    s = Sessions(hutch, tmp_path)
    yield s
    s.cleanup()


def alive(pid):
    """pid still exists (possibly as a process of another user)."""
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def age(sessions, key, **fields):
    """Moves the session's times (hours ago) back. The latest use is kept
    in its lock file too (src/session/store.c): that copy goes, and the
    record's count with it."""
    path = sessions.record_path(key)
    record = json.loads(path.read_text())
    now = time.time()
    for name, hours in fields.items():
        record[name] = now - hours * 3600
    lock = path.parent / "lock"
    usage = lock.read_text().split()
    if usage:
        record["exec_count"] = max(record.get("exec_count", 0), int(usage[0]))
        lock.write_text("")
    path.write_text(json.dumps(record))
