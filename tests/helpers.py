"""Helpers shared by tests/integration and tests/security, written once here.

Importable as `helpers` from any test module: pytest puts tests/ on sys.path
for tests/conftest.py (which re-exports the names it always had, so
`from conftest import HUTCH, wait_for` keeps working). This module imports
no test module and not conftest, so that both may import it.

HUTCH_BIN      the binary under test (default: build/hutch of this checkout)
HUTCH_REPO     the checkout (default: the one this file is in)
HUTCH_SANITIZED=1  the binary is an ASan/UBSan build
DOCKER_HOST    the engine of the docker tests (default: /var/run/docker.sock)
"""
import http.client
import json
import os
import pathlib
import select
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse

REPO = pathlib.Path(os.environ.get("HUTCH_REPO", pathlib.Path(__file__).resolve().parents[1]))
HUTCH = os.environ.get("HUTCH_BIN", str(REPO / "build" / "hutch"))
BUILD_DIR = pathlib.Path(HUTCH).parent
SANITIZED = os.environ.get("HUTCH_SANITIZED") == "1"
ROOT = os.geteuid() == 0

RESULT_KEYS = {
    "backend", "isolated", "exit_code", "signal", "timed_out", "oom_killed", "limits_via",
    "duration_ms", "stdout", "stderr", "stdout_truncated", "stderr_truncated",
    "stdout_bytes", "stderr_bytes", "degraded", "error",
}
DEGRADED_KEYS = {"degraded_reason", "unenforced"}
# --net allow:... adds the hosts it refused.
NETWORK_KEYS = RESULT_KEYS | {"network_denied"}


# ---- programs on the public API ------------------------------------------------------------

def build_library_program(source, program):
    """Compiles the C text `source` against include/hutch.h and the libhutch
    next to the binary under test (sanitized as it is) into `program`."""
    program = pathlib.Path(program)
    program.with_suffix(".c").write_text(source)
    sanitize = ["-fsanitize=address,undefined"] if SANITIZED else []
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", *sanitize, "-o", str(program),
                    str(program.with_suffix(".c")), f"-I{REPO / 'include'}", f"-L{BUILD_DIR}",
                    "-lhutch", f"-Wl,-rpath,{BUILD_DIR}"], check=True)
    return str(program)


# ---- waiting ------------------------------------------------------------------------------

def wait_for(predicate, timeout=10, interval=0.05):
    """predicate's first true value within timeout seconds, else its last
    (false) value: callers assert on it, `assert wait_for(...), why`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


# ---- processes ----------------------------------------------------------------------------

def catches(pid, sig):
    """Whether process pid has a handler for signal sig (SigCgt in its status)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except (FileNotFoundError, ProcessLookupError):
        pass
    return False


def stop_process(pid):
    """SIGSTOP to pid, returning once it is stopped (False if it ended first)."""
    os.kill(pid, signal.SIGSTOP)

    def state():
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return "gone"
    return wait_for(lambda: state() in ("T", "Z", "gone"), interval=0.001) and state() == "T"


def cancel_while_stopped(proc, started, sig=signal.SIGTERM):
    """Cancels the hutch process proc with sig as soon as it catches sig,
    holding it stopped meanwhile so that started() -- looked at then -- tells
    for certain whether the command could have started before the cancel.
    Returns (certainly_before, exit status, stdout, stderr)."""
    assert wait_for(lambda: catches(proc.pid, sig) or proc.poll() is not None, interval=0.0002)
    before = proc.poll() is None and stop_process(proc.pid) and not started()
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    return before, proc.returncode, out, err


def child_pids(pid):
    """The children of every thread of process pid."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += f.read().split()
    return found


# ---- results ------------------------------------------------------------------------------

def load_result(proc):
    """The JSON result of hutch run/exec --json with --net allow:...: checked, parsed."""
    assert proc.stdout, (proc.returncode, proc.stderr)
    result = json.loads(proc.stdout)
    assert set(result) == NETWORK_KEYS, sorted(set(result) ^ NETWORK_KEYS)
    assert proc.returncode == result["exit_code"]
    return result


def exec_result(sessions, key, *args, **kw):
    """hutch exec KEY --json ARGS in a session with network results."""
    return load_result(sessions.run("exec", key, "--json", *args, **kw))


# ---- the Docker engine --------------------------------------------------------------------
#
# DOCKER_HOST=unix://... runs the same tests against another engine, such
# as Podman's Docker-compatible socket (docs/docker.md, "Podman"). The tests
# talk to the engine themselves only to look (and to remove what a test of
# theirs left behind): everything hutch does goes through the real binary.

SOCKET = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
BUSYBOX = "hutch-test-busybox:latest"
DEBIAN = "hutch-sandbox:bookworm-slim"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("docker", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def engine(method, path, body=None, expect=None, sock=None):
    """One Engine API call (to the engine at the socket path sock, by default
    the tests' engine): (status, parsed JSON or None)."""
    conn = UnixHTTPConnection(sock or SOCKET)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if expect is not None:
        assert resp.status == expect, (method, path, resp.status, data[:500])
    try:
        return resp.status, json.loads(data) if data else None
    except ValueError:
        return resp.status, data


def is_podman():
    """The engine is Podman's Docker-compatible API."""
    conn = UnixHTTPConnection(SOCKET)
    conn.request("GET", "/_ping")
    resp = conn.getresponse()
    resp.read()
    podman = resp.getheader("Libpod-Api-Version") is not None
    conn.close()
    return podman


def engine_ok(sock=None):
    try:
        return engine("GET", "/_ping", sock=sock)[0] == 200
    except OSError:
        return False


def ensure_engine():
    """Starts the engine and builds the test images when this runs as root;
    an unprivileged run relies on the root pass of scripts/test.sh."""
    if ROOT and not engine_ok() and "DOCKER_HOST" not in os.environ:
        subprocess.run(["bash", str(REPO / "scripts" / "docker-up.sh")], check=True,
                       stdin=subprocess.DEVNULL)
    if ROOT and engine("GET", f"/images/{DEBIAN}/json")[0] != 200:
        subprocess.run(["bash", str(REPO / "scripts" / "bootstrap-image.sh")], check=True,
                       stdin=subprocess.DEVNULL)
    assert engine_ok(), f"no Docker engine at {SOCKET}: run scripts/docker-up.sh as root"


def hutch_containers(kind=None, labels=(), sock=None):
    """Every container hutch made on this engine (of any user or test run),
    with hutch.kind=kind and the extra labels ("name=value") if given."""
    wanted = ["hutch.managed=true"] + ([f"hutch.kind={kind}"] if kind else []) + list(labels)
    query = urllib.parse.quote(json.dumps({"label": wanted}))
    _, items = engine("GET", f"/containers/json?all=1&filters={query}", expect=200, sock=sock)
    return items


def owner_label(pid):
    """hutch.owner of the containers the hutch process pid creates (src/drivers/docker/container.c)."""
    return f"{socket.gethostname()}:{pid}"


def owned_by(pid, sock=None):
    """The containers a hutch process (by pid) created."""
    return [c for c in hutch_containers(sock=sock)
            if c["Labels"].get("hutch.owner") == owner_label(pid)]


def mount_sources(container):
    """The host paths a listed container mounts (inspected when the listing
    carries no mounts, as some Podman versions do)."""
    mounts = container.get("Mounts")
    if mounts is None:
        status, info = engine("GET", f"/containers/{container['Id']}/json")
        mounts = (info.get("Mounts") or []) if status == 200 and isinstance(info, dict) else []
    return [m["Source"] for m in mounts if m.get("Source")]


def _inside(path, roots):
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _may_be_ours(proc):
    """A hutch process of ours, by pid, may own containers: while we have not
    reaped it, or once reaped while no other process has taken its pid
    (then hutch.owner=HOST:PID would be someone else's)."""
    return proc.poll() is None or not os.path.exists(f"/proc/{proc.pid}")


def own_containers(procs=(), paths=(), kind=None, labels=()):
    """The hutch containers one test made, and only those, for fixtures that
    count or remove leftovers while other users and test runs use the same
    engine. hutch labels a container with hutch.managed, hutch.kind,
    hutch.owner=HOST:PID of the hutch process that created it, hutch.version
    and, for sessions, hutch.session=KEY; no label names the caller or the
    state directory (HUTCH_STATE_DIR). So a container is the test's when
      - hutch.owner is one of procs (the subprocess.Popen objects of the
        hutch processes the test started, see conftest.Hutch.procs), or
      - it mounts a host path inside one of paths (the test's own tmp_path:
        a session's container mounts STATE_DIR/sessions/NAME/run, and a run
        with --workspace or --ro DIR there mounts DIR)."""
    owners = {owner_label(p.pid) for p in procs if _may_be_ours(p)}
    roots = [os.path.realpath(p) for p in paths]
    mine = []
    for c in hutch_containers(kind, labels):
        if c["Labels"].get("hutch.owner") in owners or (
                roots and [s for s in mount_sources(c) if _inside(os.path.realpath(s), roots)]):
            mine.append(c)
    return mine


def remove_containers(containers):
    """Force-removes the given containers (only ever own_containers' answer)."""
    for c in containers:
        engine("DELETE", f"/containers/{c['Id']}?force=true&v=true")


# ---- a private Docker engine --------------------------------------------------------------
#
# Tests that stop or restart dockerd do it to a dockerd of their own, never
# to the machine's: other test runs and other hutch users share that one.

SHARED_DOCKERD_PIDFILE = "/var/run/docker.pid"


def shared_dockerd_pid():
    """The pid of the machine's dockerd (its pid file, checked against
    /proc), or None."""
    try:
        pid = int(pathlib.Path(SHARED_DOCKERD_PIDFILE).read_text().strip())
        comm = pathlib.Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return None
    return pid if comm == "dockerd" else None


class PrivateDockerd:
    """A dockerd of its own, as root: its own data and exec roots, pid file,
    socket and containerd (with namespaces of its own), its containers'
    cgroups under a parent of its own, and its own network namespace
    (unshare --net: the socket is a file, so it is still reached) with no
    bridge, iptables or masquerading. In the machine's network namespace a
    dockerd with --bridge=none deletes docker0 as it starts, which cuts off
    every container of the machine's dockerd on the default bridge.
    Everything lives under one short directory in /tmp (unix socket paths
    are short). containerd is started here, not by
    dockerd, and outlives a dockerd killed or stopped, as a system's does:
    a containerd started by dockerd dies with it, and where PID 1 does not
    reap orphans (as on this VM) its zombie's pid in the pid file makes the
    next dockerd wait for it in vain."""

    def __init__(self):
        # Also the containerd namespace, which takes letters, digits and
        # single separators only (mkdtemp's names may end in "_").
        self.name = f"hutch-privd-{os.urandom(4).hex()}"
        self.dir = pathlib.Path("/tmp") / self.name
        self.dir.mkdir(mode=0o700)
        self.socket = str(self.dir / "docker.sock")
        self.host = f"unix://{self.socket}"
        self.pidfile = self.dir / "dockerd.pid"
        self.log = self.dir / "dockerd.log"
        self.proc = None
        self.containerd = None
        self.containerd_socket = str(self.dir / "containerd.sock")
        (self.dir / "daemon.json").write_text("{}")  # not the machine's /etc/docker/daemon.json
        (self.dir / "containerd.toml").write_text(
            "version = 2\n"
            f'root = "{self.dir}/containerd/root"\n'
            f'state = "{self.dir}/containerd/state"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{self.containerd_socket}"\n'
            f'[ttrpc]\n  address = "{self.dir}/containerd.sock.ttrpc"\n')

    def _start_containerd(self, deadline):
        with open(self.dir / "containerd.log", "ab") as log:
            self.containerd = subprocess.Popen(
                ["containerd", "--config", str(self.dir / "containerd.toml")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        while not os.path.exists(self.containerd_socket):
            assert self.containerd.poll() is None and time.monotonic() < deadline, (
                "the private containerd did not come up: "
                + (self.dir / "containerd.log").read_text(errors="replace")[-2000:])
            time.sleep(0.05)

    def start(self, timeout=60):
        """Starts dockerd (again, after a kill or stop: the same roots and
        containerd) and waits until it answers."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        deadline = time.monotonic() + timeout
        if self.containerd is None or self.containerd.poll() is not None:
            self._start_containerd(deadline)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["unshare", "--net", "--", "dockerd", "--config-file", str(self.dir / "daemon.json"),
                 "--containerd", self.containerd_socket,
                 "--data-root", str(self.dir / "data"), "--exec-root", str(self.dir / "exec"),
                 "--pidfile", str(self.pidfile), "-H", self.host,
                 "--containerd-namespace", self.name, "--containerd-plugins-namespace",
                 self.name + "-plugins", "--cgroup-parent", f"/{self.name}",
                 "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        while not engine_ok(self.socket):
            assert self.proc.poll() is None and time.monotonic() < deadline, (
                f"the private dockerd did not come up: {self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self):
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def signal(self, sig):
        """Sends sig to this dockerd (only ever this one: by its own pid)."""
        self.proc.send_signal(sig)

    def stopped(self, timeout=30):
        """Waits until this dockerd has exited: whether it has."""
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def load(self, *images):
        """Copies images from the tests' engine: docker save | docker load."""
        save = subprocess.Popen(["docker", "-H", f"unix://{SOCKET}", "save", *images],
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        load = subprocess.run(["docker", "-H", self.host, "load", "-q"], stdin=save.stdout,
                              capture_output=True)
        save.stdout.close()
        assert save.wait() == 0 and load.returncode == 0, (images, load.stderr)

    def _own_pids(self):
        """Processes of this engine: its containerd and shims (they name its
        directory or namespace) and everything in its containers' cgroups."""
        pids = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmdline = pathlib.Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if str(self.dir).encode() in cmdline or f"-namespace\0{self.name}\0".encode() in cmdline:
                pids.add(int(entry))
        for procs in pathlib.Path("/sys/fs/cgroup").glob(f"*/{self.name}/**/cgroup.procs"):
            try:
                pids.update(int(p) for p in procs.read_text().split())
            except (OSError, ValueError):
                pass
        pids.discard(os.getpid())
        return pids

    def _mounts(self):
        mounts = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = line.split()[4].replace("\\040", " ")
                if point == str(self.dir) or point.startswith(str(self.dir) + "/"):
                    mounts.append(point)
        return mounts

    def cleanup(self):
        """Removes everything of this engine, even after a failed test: its
        containers, dockerd, containerd and shims, the mounts under its
        directory, the directory and its cgroups. Returns what could not be
        removed (empty when all went)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                for c in engine("GET", "/containers/json?all=1", sock=self.socket)[1] or []:
                    engine("DELETE", f"/containers/{c['Id']}?force=true&v=true", sock=self.socket)
            except OSError:
                pass
            self.proc.terminate()
            if not self.stopped(30):
                self.proc.kill()
                self.proc.wait()
        if self.containerd is not None and self.containerd.poll() is None:
            self.containerd.terminate()
            try:
                self.containerd.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.containerd.kill()
                self.containerd.wait()
        for _ in range(50):
            pids = self._own_pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        for point in sorted(self._mounts(), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)
        for group in sorted(pathlib.Path("/sys/fs/cgroup").glob(f"*/{self.name}/**/"),
                            key=lambda p: len(str(p)), reverse=True):
            try:
                group.rmdir()
            except OSError:
                pass
        left = [str(p) for p in self._own_pids()] + self._mounts()
        left += [str(p) for p in pathlib.Path("/sys/fs/cgroup").glob(f"*/{self.name}")]
        return left + ([str(self.dir)] if self.dir.exists() else [])


# ---- terminals ----------------------------------------------------------------------------

def read_pty(fd, out=b"", until=None, deadline=None, timeout=20):
    """Reads the terminal fd onto out until until(out), the end of its
    output or the deadline, answering the cursor position queries a real
    terminal answers (busybox's ash waits for them). Returns out."""
    deadline = deadline or time.monotonic() + timeout
    while (until is None or not until(out)) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if b"\x1b[6n" in chunk:
            os.write(fd, b"\x1b[1;1R")
    return out
