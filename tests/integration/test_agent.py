"""hutch-init, the agent of session sandboxes, driven over its socket.

The agent runs here as an ordinary process (not PID 1, so it makes itself a
child subreaper), and the tests speak its protocol (src/agent/proto.h,
docs/agent.md) directly. Runs as root and as an unprivileged user."""
import errno
import fcntl
import json
import os
import pathlib
import select
import signal
import socket
import struct
import subprocess
import termios
import time

import pytest

from conftest import BUILD_DIR, SANITIZED
from helpers import wait_for

AGENT = BUILD_DIR / "hutch-init"

MAGIC = 0x48435448
HEADER = struct.Struct("=IHHI")
FIELD = struct.Struct("=HHI")

AT_HELLO, AT_RUN, AT_SIGNAL, AT_STATS = 1, 2, 3, 4
AT_HELLO_OK, AT_STARTED, AT_EXITED, AT_STATS_OK, AT_ERROR = 101, 102, 103, 104, 199

(AF_ARG, AF_ENV, AF_CWD, AF_TIMEOUT_MS, AF_GRACE_MS, AF_FILE_SIZE, AF_TTY, AF_SIGNAL, AF_PID,
 AF_CODE, AF_TIMED_OUT, AF_VERSION, AF_FEATURES, AF_PIDS, AF_MEMORY, AF_CPU_USEC,
 AF_ERROR_KIND, AF_ERRNO, AF_MESSAGE) = range(1, 20)
INT_TAGS = {AF_TIMEOUT_MS, AF_GRACE_MS, AF_FILE_SIZE, AF_TTY, AF_PID, AF_TIMED_OUT, AF_VERSION,
            AF_PIDS, AF_MEMORY, AF_CPU_USEC, AF_ERROR_KIND}
SIGNED_TAGS = {AF_SIGNAL, AF_CODE, AF_ERRNO}

(AE_MALFORMED, AE_VERSION, AE_TOO_LARGE, AE_UNKNOWN_TYPE, AE_BAD_REQUEST, AE_FDS, AE_EXEC,
 AE_CWD, AE_SYSTEM, AE_BUSY) = range(1, 11)

if not AGENT.exists():
    pytest.skip(f"{AGENT} is not built", allow_module_level=True)


# ---- the protocol ------------------------------------------------------------

def field(tag, value):
    if isinstance(value, str):
        value = value.encode()
    elif isinstance(value, int):
        value = struct.pack("=q" if tag in SIGNED_TAGS else "=Q", value)
    return FIELD.pack(tag, 0, len(value)) + value


def message(type_, *fields, version=1, magic=MAGIC, length=None):
    body = b"".join(field(t, v) for t, v in fields)
    return HEADER.pack(magic, version, type_, len(body) if length is None else length) + body


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        try:
            chunk = sock.recv(n - len(data))
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return None
        data += chunk
    return data


class Reply:
    def __init__(self, type_, body):
        self.type = type_
        self.fields = {}
        off = 0
        while off < len(body):
            tag, _, length = FIELD.unpack_from(body, off)
            off += FIELD.size
            raw = body[off:off + length]
            off += length
            if tag in INT_TAGS:
                value = struct.unpack("=Q", raw)[0]
            elif tag in SIGNED_TAGS:
                value = struct.unpack("=q", raw)[0]
            else:
                value = raw.decode()
            self.fields[tag] = value

    def __getitem__(self, tag):
        return self.fields[tag]

    def get(self, tag, default=None):
        return self.fields.get(tag, default)

    def __repr__(self):
        return f"Reply({self.type}, {self.fields})"


def read_reply(sock, timeout=20):
    """The next message, or None when the agent closed the connection."""
    sock.settimeout(timeout)
    head = recv_exact(sock, HEADER.size)
    if head is None:
        return None
    magic, version, type_, length = HEADER.unpack(head)
    assert magic == MAGIC and version == 1 and length <= 1 << 20, (magic, version, length)
    body = recv_exact(sock, length) if length else b""
    assert body is not None
    return Reply(type_, body)


def assert_closed(sock, timeout=10):
    sock.settimeout(timeout)
    try:
        assert sock.recv(1) == b""
    except ConnectionResetError:
        pass


def connect_path(path):
    """Connects through /proc/self/fd, as the C client does: any path length."""
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW)
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(f"/proc/self/fd/{fd}")
        return sock
    finally:
        os.close(fd)


# ---- the agent ----------------------------------------------------------------

class Agent:
    def __init__(self, tmp_path, *extra):
        self.path = tmp_path / "agent.sock"
        self.log = open(tmp_path / "agent.log", "wb")
        self.proc = subprocess.Popen([str(AGENT), "--socket", str(self.path), *extra],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.pid = self.proc.pid

        def listening():
            try:
                probe = self.connect()
            except OSError:
                assert self.proc.poll() is None, self.log_text()
                return False
            # A reply, not just a connect: a probe closed before the agent
            # accepted it leaves the fd count at 5 while it waits in the
            # listen queue, and is accepted later, into a test's connections
            # (test_too_many_connections then saw one BUSY too many).
            probe.sendall(message(AT_HELLO))
            assert read_reply(probe).type == AT_HELLO_OK
            probe.close()
            return True

        assert wait_for(listening, 10, interval=0.01), "hutch-init did not start listening"
        self.wait_idle_fds()  # the probe was accepted (it had its reply): now it is closed

    def log_text(self):
        self.log.flush()
        return pathlib.Path(self.log.name).read_text()

    def connect(self):
        return connect_path(self.path)

    def request(self, data, fds=()):
        sock = self.connect()
        if fds:
            socket.send_fds(sock, [data], list(fds))
        else:
            sock.sendall(data)
        return sock

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def wait_idle_fds(self):
        """With no connection open, the agent holds 0-2, its signalfd and its socket.

        Only connections the agent accepted count: one still in the listen
        queue has no fd yet. Wait for a reply on a connection before relying
        on this to say it was closed."""
        assert wait_for(lambda: self.fd_count() == 5, 10, interval=0.02), \
            os.listdir(f"/proc/{self.pid}/fd")

    def rss_kib(self):
        for line in pathlib.Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def children(self):
        """(pid, state) of the agent's children."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == self.pid:
                found.append((int(entry), fields[0]))
        return found

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=15)
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def agent(tmp_path):
    a = Agent(tmp_path)
    yield a
    assert a.proc.poll() is None, "hutch-init died: " + a.log_text()
    a.wait_idle_fds()  # every test leaves it without connections: nothing may leak
    assert a.stop() == 0, a.log_text()


ENV = ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"]


def start(agent, argv, env=ENV, cwd=None, timeout_ms=None, grace_ms=None, file_size=None,
          tty=False, stdin=b"", fds=None):
    """Sends RUN; returns (sock, first reply, stdout read end, stderr read end)."""
    fields = [(AF_ARG, a) for a in argv] + [(AF_ENV, e) for e in env]
    if cwd is not None:
        fields.append((AF_CWD, cwd))
    if timeout_ms is not None:
        fields.append((AF_TIMEOUT_MS, timeout_ms))
    if grace_ms is not None:
        fields.append((AF_GRACE_MS, grace_ms))
    if file_size is not None:
        fields.append((AF_FILE_SIZE, file_size))
    if tty:
        fields.append((AF_TTY, 1))
    out_r = err_r = None
    if fds is None:
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        os.write(in_w, stdin)
        os.close(in_w)
        fds = [in_r, out_w, err_w]
        sock = agent.request(message(AT_RUN, *fields), fds)
        for fd in fds:
            os.close(fd)
    else:
        sock = agent.request(message(AT_RUN, *fields), fds)
    return sock, read_reply(sock), out_r, err_r


def read_all(fd, timeout=20):
    """Everything until EOF (then fd is closed), within timeout seconds."""
    data = b""
    deadline = time.monotonic() + timeout
    os.set_blocking(fd, False)
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([fd], [], [], left)[0]:
            continue
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            continue
        if not chunk:
            os.close(fd)
            return data
        data += chunk
    raise AssertionError(f"no end of output after {timeout} s: {data[-200:]!r}")


def run(agent, argv, **kw):
    """Runs argv to its end: {'code'|'signal', 'timed_out', 'stdout', 'stderr'}."""
    sock, first, out_r, err_r = start(agent, argv, **kw)
    assert first is not None and first.type == AT_STARTED, first
    assert first[AF_PID] > 0
    stdout, stderr = read_all(out_r), read_all(err_r)
    exited = read_reply(sock, timeout=60)
    assert exited is not None and exited.type == AT_EXITED, exited
    assert_closed(sock)
    sock.close()
    return {"code": exited.get(AF_CODE), "signal": exited.get(AF_SIGNAL),
            "timed_out": exited[AF_TIMED_OUT], "stdout": stdout.decode(),
            "stderr": stderr.decode(), "pid": first[AF_PID]}


def refused(agent, argv, **kw):
    """A RUN that must fail: its AT_ERROR."""
    sock, reply, out_r, err_r = start(agent, argv, **kw)
    assert reply is not None and reply.type == AT_ERROR, reply
    assert_closed(sock)
    sock.close()
    for fd in (out_r, err_r):
        if fd is not None:
            assert read_all(fd) == b""  # the agent kept no copy of the pipes
    return reply


def descendants(pid):
    """The pids of pid's children, their children, and so on."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rindex(")") + 2:].split()[1]), []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(marker, under=None):
    """pids of live (not zombie) `sleep` processes whose argument starts with
    marker; with under, only the descendants of that pid."""
    found = []
    within = descendants(under) if under is not None else None
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or (within is not None and int(entry) not in within):
            continue
        try:
            cmdline = pathlib.Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        argv = cmdline.split(b"\0")
        if (len(argv) >= 2 and argv[0].endswith(b"sleep") and argv[1].startswith(marker.encode())
                and stat[stat.rindex(")") + 2] != "Z"):
            found.append(int(entry))
    return found


def unsent(sock):
    """Bytes sent on sock that its peer has not read yet (SIOCOUTQ)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def unread(sock):
    """Bytes that arrived on sock and wait to be read (FIONREAD)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]


def pending_signals(pid):
    """The signals queued for pid (its threads' and its process's), not yet taken."""
    found = set()
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("SigPnd", "ShdPnd"):
            mask = int(value.strip(), 16)
            found |= {n for n in range(1, 65) if mask & (1 << (n - 1))}
    return found


def wait_gone(marker, timeout=10):
    """The pids alive(marker) still finds after waiting up to timeout seconds
    for them to go: [] once gone."""
    wait_for(lambda: not alive(marker), timeout)
    return alive(marker)


# ---- the program --------------------------------------------------------------

def test_version_and_help():
    proc = subprocess.run([str(AGENT), "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("hutch-init ") and "protocol 1" in proc.stdout
    proc = subprocess.run([str(AGENT), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--socket PATH" in proc.stdout


@pytest.mark.parametrize("args", [["--bogus"], ["--socket"], ["extra"], ["-x"]])
def test_bad_flags_are_one_line_and_exit_2(args):
    proc = subprocess.run([str(AGENT), *args], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("hutch-init: ")


def test_file_is_static():
    # Runs in any image: no program interpreter (dynamic loader) to find there.
    elf = AGENT.read_bytes()
    assert elf[:4] == b"\x7fELF" and elf[4] == 2  # 64-bit
    phoff, = struct.unpack_from("=Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("=HH", elf, 0x36)
    types = [struct.unpack_from("=I", elf, phoff + i * phentsize)[0] for i in range(phnum)]
    assert 3 not in types, "PT_INTERP: dynamically linked"


def test_socket_is_0666_and_stale_socket_replaced(tmp_path):
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / "agent.sock"))
    stale.close()  # a socket file nobody listens on
    a = Agent(tmp_path)
    try:
        assert (a.path.stat().st_mode & 0o777) == 0o666
        proc = subprocess.run([str(AGENT), "--socket", str(a.path)], capture_output=True,
                              text=True, timeout=10)
        assert proc.returncode == 1 and "another agent listens" in proc.stderr
    finally:
        assert a.stop() == 0
    assert not a.path.exists(), "the socket is removed at exit"


def test_refuses_to_replace_a_file(tmp_path):
    path = tmp_path / "agent.sock"
    path.write_text("not a socket")
    proc = subprocess.run([str(AGENT), "--socket", str(path)], capture_output=True, text=True,
                          timeout=10)
    assert proc.returncode == 1 and "is not a socket" in proc.stderr
    assert path.read_text() == "not a socket"


def test_long_socket_path(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    a = Agent(deep)
    try:
        assert len(str(a.path)) > 108
        sock = a.request(message(AT_HELLO))
        assert read_reply(sock).type == AT_HELLO_OK
        sock.close()
    finally:
        assert a.stop() == 0


# ---- requests -----------------------------------------------------------------

def test_hello(agent):
    sock = agent.request(message(AT_HELLO))
    reply = read_reply(sock)
    assert reply.type == AT_HELLO_OK
    assert reply[AF_VERSION] == 1
    assert reply[AF_PID] == agent.pid
    assert reply[AF_FEATURES].split() == ["run", "signal", "stats", "tools"]
    # The connection stays open for more requests.
    sock.sendall(message(AT_STATS))
    assert read_reply(sock).type == AT_STATS_OK
    sock.sendall(message(AT_HELLO))
    assert read_reply(sock).type == AT_HELLO_OK
    sock.close()


def test_stats(agent):
    sock = agent.request(message(AT_STATS))
    idle = read_reply(sock)
    assert idle.type == AT_STATS_OK
    assert idle[AF_PIDS] >= 1
    assert idle[AF_MEMORY] > 0
    assert idle[AF_CPU_USEC] >= 0
    run_sock, first, _, _ = start(agent, ["sh", "-c", "sleep 30 & sleep 30; :"], timeout_ms=20000)
    assert first.type == AT_STARTED

    def busy_stats():
        sock.sendall(message(AT_STATS))
        stats = read_reply(sock)
        return stats if stats[AF_PIDS] >= idle[AF_PIDS] + 3 else None  # sh and two sleeps

    busy = wait_for(busy_stats)
    assert busy, "sh and its two sleeps never counted"
    assert busy[AF_MEMORY] > idle[AF_MEMORY]
    # Only the agent's own tree counts (it is not PID 1): far below the host's.
    assert busy[AF_PIDS] < 50
    run_sock.close()
    sock.close()


# ---- runs ---------------------------------------------------------------------

def test_echo(agent):
    r = run(agent, ["echo", "hello", "world"])
    assert r == {"code": 0, "signal": None, "timed_out": 0, "stdout": "hello world\n",
                 "stderr": "", "pid": r["pid"]}


def test_stdin_and_stderr(agent):
    r = run(agent, ["sh", "-c", "cat; echo oops >&2"], stdin=b"from stdin\n")
    assert r["stdout"] == "from stdin\n" and r["stderr"] == "oops\n" and r["code"] == 0


def test_exit_codes(agent):
    assert run(agent, ["sh", "-c", "exit 7"])["code"] == 7
    assert run(agent, ["false"])["code"] == 1
    assert run(agent, ["sh", "-c", "exit 255"])["code"] == 255


def test_death_by_signal(agent):
    r = run(agent, ["sh", "-c", "kill -KILL $$"])
    assert r["signal"] == 9 and r["code"] is None and r["timed_out"] == 0
    assert run(agent, ["sh", "-c", "kill -TERM $$"])["signal"] == 15


def test_args_arrive_intact(agent):
    args = ["a b", '"quoted"', "$(id)", "", "*", "new\nline", "ünïcødé", "-x"]
    r = run(agent, ["python3", "-c", "import json, sys; print(json.dumps(sys.argv[1:]))", *args])
    assert json.loads(r["stdout"]) == args


def test_exec_not_found(agent):
    reply = refused(agent, ["no-such-command-hutch-test"])
    assert reply[AF_ERROR_KIND] == AE_EXEC and reply[AF_ERRNO] == errno.ENOENT
    assert "no-such-command-hutch-test" in reply[AF_MESSAGE]
    reply = refused(agent, ["/no/such/path"])
    assert reply[AF_ERROR_KIND] == AE_EXEC and reply[AF_ERRNO] == errno.ENOENT


def test_exec_permission_denied(agent, tmp_path):
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    reply = refused(agent, [str(script)])
    assert reply[AF_ERROR_KIND] == AE_EXEC and reply[AF_ERRNO] == errno.EACCES
    # Found on PATH but not executable: EACCES, as execvp says.
    reply = refused(agent, ["script"], env=[f"PATH={tmp_path}"])
    assert reply[AF_ERRNO] == errno.EACCES
    # ... unless a later PATH entry has an executable one.
    other = tmp_path / "bin"
    other.mkdir()
    (other / "script").write_text("#!/bin/sh\necho from bin\n")
    (other / "script").chmod(0o755)
    r = run(agent, ["script"], env=[f"PATH={tmp_path}:{other}"])
    assert r["stdout"] == "from bin\n"
    # A directory is not a command either.
    assert refused(agent, [str(tmp_path)])[AF_ERRNO] == errno.EACCES


def test_bad_cwd(agent, tmp_path):
    reply = refused(agent, ["true"], cwd="/no/such/dir")
    assert reply[AF_ERROR_KIND] == AE_CWD and reply[AF_ERRNO] == errno.ENOENT
    assert run(agent, ["pwd"], cwd=str(tmp_path))["stdout"] == f"{tmp_path}\n"


def test_clean_process_state(agent):
    # The command itself, not a shell (which blocks signals while it waits).
    r = run(agent, ["cat", "/proc/self/status", "/proc/self/stat"])
    status = dict(l.split(":", 1) for l in r["stdout"].splitlines() if ":" in l)
    # Python (which started the agent) ignores SIGPIPE: the command must not.
    assert int(status["SigBlk"], 16) == 0 and int(status["SigIgn"], 16) == 0, status
    stat = r["stdout"].splitlines()[-1]
    pgid, sid = stat[stat.rindex(")") + 2:].split()[2:4]
    assert int(pgid) == int(sid) == r["pid"]  # its own process group and session
    # Nothing but 0-2 crosses into the command (3 is ls's own directory).
    assert run(agent, ["ls", "/proc/self/fd"])["stdout"].split() == ["0", "1", "2", "3"]


def test_environment_is_exactly_the_requests(agent):
    env = ["A=1", "B=two words", "EMPTY=", "PATH=/usr/bin:/bin", "HUTCH_RUN=forged"]
    r = run(agent, ["env"], env=env)
    lines = r["stdout"].splitlines()
    tags = [l for l in lines if l.startswith("HUTCH_RUN=")]
    assert len(tags) == 1 and tags[0] != "HUTCH_RUN=forged"
    assert tags[0].startswith(f"HUTCH_RUN={agent.pid}.")
    assert [l for l in lines if not l.startswith("HUTCH_RUN=")] == env[:-1]
    # Every run has its own tag.
    assert run(agent, ["env"], env=env)["stdout"] != r["stdout"]


def test_path_comes_from_the_request(agent, tmp_path):
    (tmp_path / "mycmd").write_text("#!/bin/sh\necho mine\n")
    (tmp_path / "mycmd").chmod(0o755)
    assert run(agent, ["mycmd"], env=[f"PATH=/usr/bin:{tmp_path}"])["stdout"] == "mine\n"
    # Without PATH, the default one finds env, which shows the environment
    # is empty but for the run's tag.
    r = run(agent, ["env"], env=[])
    assert r["stdout"].startswith("HUTCH_RUN=") and r["stdout"].count("\n") == 1


def test_leader_exit_kills_its_group(agent):
    marker = "6543.21"
    start_t = time.monotonic()
    r = run(agent, ["sh", "-c", f"sleep {marker} & echo bye"])
    assert r["stdout"] == "bye\n" and r["code"] == 0
    assert time.monotonic() - start_t < 10  # the pipes closed: the sleep is gone
    assert not wait_gone(marker)


def test_timeout_kills_the_whole_run(agent):
    # A grandchild in the group, one that left it with setsid, and the shell.
    script = ("sleep 7001.1 & setsid sleep 7001.2 & (sleep 7001.3 &); "
              "echo started; sleep 7001.4")
    t0 = time.monotonic()
    r = run(agent, ["sh", "-c", script], timeout_ms=1000)
    elapsed = time.monotonic() - t0
    assert r["timed_out"] == 1 and r["signal"] == signal.SIGTERM, r
    assert r["stdout"] == "started\n"
    assert 0.9 < elapsed < 10
    assert not wait_gone("7001.")


def test_timeout_grace_then_sigkill(agent):
    t0 = time.monotonic()
    r = run(agent, ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"],
            timeout_ms=300, grace_ms=400)
    elapsed = time.monotonic() - t0
    assert r["timed_out"] == 1 and r["signal"] == signal.SIGKILL, r
    assert 0.65 < elapsed < 10


def test_signal_request(agent):
    sock, first, out_r, err_r = start(agent, ["sh", "-c", "sleep 7002.1 & echo up; wait"])
    assert first.type == AT_STARTED
    os.set_blocking(out_r, True)
    assert os.read(out_r, 3) == b"up\n"
    sock.sendall(message(AT_SIGNAL, (AF_SIGNAL, signal.SIGTERM)))
    exited = read_reply(sock)
    assert exited.type == AT_EXITED and exited[AF_SIGNAL] == signal.SIGTERM
    assert exited[AF_TIMED_OUT] == 0
    assert not wait_gone("7002.1")
    for fd in (out_r, err_r):
        os.close(fd)
    sock.close()


def test_signal_reaches_setsid_escapee(agent):
    sock, first, out_r, err_r = start(agent, ["sh", "-c", "setsid sleep 7003.1 & echo up; wait"])
    assert first.type == AT_STARTED
    os.set_blocking(out_r, True)
    assert os.read(out_r, 3) == b"up\n"
    assert wait_for(lambda: alive("7003.1"))
    # The sleep left the shell's group: only its HUTCH_RUN tag finds it.
    sock.sendall(message(AT_SIGNAL, (AF_SIGNAL, signal.SIGTERM)))
    exited = read_reply(sock)
    assert exited.type == AT_EXITED and exited[AF_SIGNAL] == signal.SIGTERM
    assert not wait_gone("7003.1")
    for fd in (out_r, err_r):
        os.close(fd)
    sock.close()


@pytest.mark.parametrize("sig", [0, 65, -1])
def test_bad_signal_numbers(agent, sig):
    sock, first, out_r, err_r = start(agent, ["sleep", "7004.1"])
    assert first.type == AT_STARTED
    sock.sendall(message(AT_SIGNAL, (AF_SIGNAL, sig)))
    reply = read_reply(sock)
    assert reply.type == AT_ERROR and reply[AF_ERROR_KIND] == AE_BAD_REQUEST
    assert_closed(sock)
    assert not wait_gone("7004.1")  # an error ends the run with the connection
    for fd in (out_r, err_r):
        os.close(fd)
    sock.close()


def test_disconnect_cancels_the_run(agent):
    sock, first, out_r, err_r = start(agent, ["sh", "-c", "sleep 7005.1 & setsid sleep 7005.2 & wait"])
    assert first.type == AT_STARTED
    assert wait_for(lambda: len(alive("7005.")) == 2)  # the one in the group, and the escapee
    sock.close()
    assert not wait_gone("7005.")
    assert read_all(out_r) == b"" and read_all(err_r) == b""


def test_file_size_limit(agent, tmp_path):
    r = run(agent, ["sh", "-c", "head -c 5000 /dev/zero > big"], cwd=str(tmp_path), file_size=1000)
    assert r["code"] != 0
    assert (tmp_path / "big").stat().st_size == 1000


def test_tty(agent):
    check = "import os; f = os.open('/dev/tty', os.O_RDWR); print(os.tcgetpgrp(f) == os.getpgrp())"
    master, slave = os.openpty()
    try:
        sock, first, _, _ = start(agent, ["python3", "-c", check], tty=True,
                                  fds=[slave, slave, slave])
        assert first.type == AT_STARTED, first
        exited = read_reply(sock)
        assert exited[AF_CODE] == 0
        out = b""
        os.set_blocking(master, False)
        try:
            while True:
                out += os.read(master, 1024)
        except (BlockingIOError, OSError):
            pass
        assert b"True" in out
        sock.close()
    finally:
        os.close(master)
        os.close(slave)
    # Without AF_TTY: no controlling terminal at all.
    r = run(agent, ["python3", "-c", check])
    assert r["code"] != 0 and "No such device" in r["stderr"]


def test_fifty_runs_at_once(agent):
    started = [start(agent, ["sh", "-c", 'sleep 0.3; echo "$0"', str(i)]) for i in range(50)]
    for i, (sock, first, out_r, err_r) in enumerate(started):
        assert first.type == AT_STARTED
        assert read_all(out_r) == f"{i}\n".encode()
        os.close(err_r)
        exited = read_reply(sock)
        assert exited.type == AT_EXITED and exited[AF_CODE] == 0
        sock.close()


def test_orphans_are_reaped(agent):
    r = run(agent, ["sh", "-c", "setsid sh -c 'sleep 0.3' >/dev/null 2>&1 & exit 0"])
    assert r["code"] == 0
    assert wait_for(lambda: agent.children() == []), "zombies or leftovers stay"


# ---- bad input ----------------------------------------------------------------

def hello_still_works(agent):
    sock = agent.request(message(AT_HELLO))
    assert read_reply(sock).type == AT_HELLO_OK
    sock.close()
    assert run(agent, ["echo", "ok"])["stdout"] == "ok\n"


BAD = {
    "garbage": (b"\xde\xad\xbe\xef" * 8, AE_MALFORMED),
    "bad magic": (message(AT_HELLO, magic=0x12345678), AE_MALFORMED),
    "version 99": (message(AT_HELLO, version=99), AE_VERSION),
    "length 2^31": (message(AT_HELLO, length=1 << 31), AE_TOO_LARGE),
    "length just over": (message(AT_HELLO, length=(1 << 20) + 1), AE_TOO_LARGE),
    "unknown type": (message(77), AE_UNKNOWN_TYPE),
    "a reply as request": (message(AT_HELLO_OK, (AF_VERSION, 1), (AF_PID, 1)), AE_UNKNOWN_TYPE),
    "signal without a run": (message(AT_SIGNAL, (AF_SIGNAL, 15)), AE_BAD_REQUEST),
    "truncated field": (HEADER.pack(MAGIC, 1, AT_HELLO, 6) + FIELD.pack(AF_ARG, 0, 4)[:6],
                        AE_MALFORMED),
    "field longer than body": (HEADER.pack(MAGIC, 1, AT_HELLO, 10) + FIELD.pack(AF_ARG, 0, 100)
                               + b"ab", AE_MALFORMED),
    "wrong integer size": (HEADER.pack(MAGIC, 1, AT_STATS, 12) + FIELD.pack(AF_PID, 0, 4)
                           + b"\1\0\0\0", AE_MALFORMED),
    "fds with hello": (None, AE_FDS),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_requests_get_an_error(agent, name):
    data, kind = BAD[name]
    if data is None:
        r, w = os.pipe()
        sock = agent.request(message(AT_HELLO), [r])
        os.close(r)
        os.close(w)
    else:
        sock = agent.request(data)
    reply = read_reply(sock)
    assert reply is not None and reply.type == AT_ERROR, reply
    assert reply[AF_ERROR_KIND] == kind, reply
    assert reply[AF_MESSAGE]
    if kind == AE_VERSION:
        assert reply[AF_VERSION] == 1
    assert_closed(sock)
    sock.close()
    hello_still_works(agent)
    agent.wait_idle_fds()


def run_fields(*extra):
    return message(AT_RUN, (AF_ARG, "echo"), (AF_ARG, "x"), *extra)


BAD_RUNS = {
    "no fds": (lambda: run_fields(), 0, AE_FDS),
    "one fd": (lambda: run_fields(), 1, AE_FDS),
    "four fds": (lambda: run_fields(), 4, AE_FDS),
    "no args": (lambda: message(AT_RUN, (AF_ENV, "A=1")), 3, AE_BAD_REQUEST),
    "NUL in arg": (lambda: message(AT_RUN, (AF_ARG, "ec\0ho")), 3, AE_MALFORMED),
    "NUL in env": (lambda: message(AT_RUN, (AF_ARG, "echo"), (AF_ENV, "A=\0")), 3, AE_MALFORMED),
    "env without =": (lambda: message(AT_RUN, (AF_ARG, "echo"), (AF_ENV, "A")), 3,
                      AE_BAD_REQUEST),
    "relative cwd": (lambda: run_fields((AF_CWD, "tmp")), 3, AE_BAD_REQUEST),
    "two cwds": (lambda: run_fields((AF_CWD, "/"), (AF_CWD, "/tmp")), 3, AE_MALFORMED),
    "tty 2": (lambda: run_fields((AF_TTY, 2)), 3, AE_MALFORMED),
    "too many args": (lambda: message(AT_RUN, *[(AF_ARG, "")] * 65537), 3, AE_MALFORMED),
    "too many env": (lambda: message(AT_RUN, (AF_ARG, "x"), *[(AF_ENV, "A=")] * 4097), 3,
                     AE_MALFORMED),
}


@pytest.mark.parametrize("name", list(BAD_RUNS))
def test_bad_runs_get_an_error(agent, name):
    make, nfds, kind = BAD_RUNS[name]
    data = make()
    pipes = [os.pipe() for _ in range(nfds)]
    sock = agent.request(data, [r for r, _ in pipes])
    for r, _ in pipes:
        os.close(r)
    reply = read_reply(sock)
    assert reply is not None and reply.type == AT_ERROR, reply
    assert reply[AF_ERROR_KIND] == kind, reply
    assert_closed(sock)
    sock.close()
    for _, w in pipes:
        os.close(w)
    hello_still_works(agent)
    agent.wait_idle_fds()


@pytest.mark.parametrize("cut", [5, 12, 20])
def test_truncated_request_then_close(agent, cut):
    r, w = os.pipe()
    data = run_fields((AF_ENV, "A=1"))
    sock = agent.request(data[:cut], [r, r, r])
    os.close(r)
    # The scenario: the agent holds the partial request (it read all of it).
    assert wait_for(lambda: unsent(sock) == 0), unsent(sock)
    sock.close()  # no reply is owed; the agent drops it and its fds
    os.close(w)
    hello_still_works(agent)
    agent.wait_idle_fds()


def test_byte_by_byte_request(agent):
    r, w = os.pipe()
    null = os.open("/dev/null", os.O_RDWR)
    data = run_fields()
    sock = agent.connect()
    socket.send_fds(sock, [data[:1]], [null, w, null])
    for i in range(1, len(data)):
        sock.send(data[i:i + 1])
    os.close(w)
    os.close(null)
    assert read_reply(sock).type == AT_STARTED
    assert read_all(r) == b"x\n"
    assert read_reply(sock).type == AT_EXITED
    sock.close()


def test_too_many_connections(agent):
    socks = [agent.connect() for _ in range(300)]

    def answered():
        """How many connections have a reply waiting (left unread)."""
        n = 0
        for s in socks:
            s.setblocking(False)
            try:
                n += bool(s.recv(HEADER.size, socket.MSG_PEEK))
            except BlockingIOError:
                pass
        return n

    assert wait_for(lambda: answered() >= 300 - 256), answered()
    busy = []
    for i, s in enumerate(socks):
        s.setblocking(False)
        try:
            head = s.recv(HEADER.size, socket.MSG_PEEK)
        except BlockingIOError:
            continue
        if head:
            reply = read_reply(s)
            assert reply.type == AT_ERROR and reply[AF_ERROR_KIND] == AE_BUSY
            busy.append(i)
    # The listen queue is first in, first out: the first 256 took the slots.
    # A connection of someone else's (the fixture's probe) would show here.
    assert busy == list(range(256, 300))
    for s in socks:
        s.close()
    agent.wait_idle_fds()
    hello_still_works(agent)


def test_idle_memory(agent):
    if SANITIZED:
        pytest.skip("sanitizer builds carry shadow memory")
    assert agent.rss_kib() <= 1024
    for _ in range(3):
        hello_still_works(agent)
    big = message(AT_RUN, (AF_ARG, "true"), *[(AF_ENV, "X=" + "y" * 200)] * 4000)
    r, w = os.pipe()
    sock = agent.request(big, [r, w, w])
    os.close(r)
    os.close(w)
    assert read_reply(sock).type == AT_STARTED
    assert read_reply(sock).type == AT_EXITED
    sock.close()
    assert agent.rss_kib() <= 1024, "request buffers are freed after use"


# ---- stopping -----------------------------------------------------------------

def test_sigterm_ends_runs_and_exits_0(tmp_path):
    a = Agent(tmp_path)
    sock, first, out_r, err_r = start(a, ["sleep", "7006.1"])
    stubborn, first2, out2, err2 = start(a, ["sh", "-c", "trap '' TERM; sleep 7006.2"])
    assert first.type == AT_STARTED and first2.type == AT_STARTED
    # Its sleep runs once the shell has set its trap: then SIGTERM may come.
    assert wait_for(lambda: alive("7006.2", under=a.pid))
    t0 = time.monotonic()
    a.proc.send_signal(signal.SIGTERM)
    exited = read_reply(sock)
    assert exited.type == AT_EXITED and exited[AF_SIGNAL] == signal.SIGTERM
    assert a.proc.wait(timeout=15) == 0
    assert 2.5 < time.monotonic() - t0 < 10  # the stubborn one held it for the grace
    assert not wait_gone("7006.")
    assert not a.path.exists()
    for fd in (out_r, err_r, out2, err2):
        os.close(fd)
    sock.close()
    stubborn.close()
    a.log.close()


def test_sigterm_when_idle_is_quick(tmp_path):
    a = Agent(tmp_path)
    t0 = time.monotonic()
    assert a.stop() == 0
    assert time.monotonic() - t0 < 2


# ---- as PID 1 ---------------------------------------------------------------

def test_as_pid_1(tmp_path):
    """In a pid namespace of its own, as in a session sandbox: it reaps every
    orphan, counts the whole namespace, and on SIGTERM ends everything."""
    path = tmp_path / "agent.sock"
    log = open(tmp_path / "agent.log", "wb")
    # --kill-child: a failing test leaves no agent behind.
    outer = subprocess.Popen(["unshare", "--user", "--map-root-user", "--pid", "--fork",
                              "--kill-child", "--mount-proc", str(AGENT), "--socket", str(path)],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        assert wait_for(lambda: path.exists() or outer.poll() is not None)
        if outer.poll() is not None:
            pytest.skip("no user and pid namespaces here: " + (tmp_path / "agent.log").read_text())

        class InNamespace(Agent):
            def __init__(self):
                self.path = path

        a = InNamespace()
        sock = a.request(message(AT_HELLO))
        assert read_reply(sock)[AF_PID] == 1
        sock.close()

        r = run(a, ["sh", "-c", "echo $$ $HUTCH_RUN; setsid sleep 0.4 </dev/null >/dev/null 2>&1 & "
                    "sleep 0.2"])
        assert r["stdout"] == "2 1.1\n", r
        # The escapee outlived its run, then died an orphan of PID 1: reaped.
        def stats():
            sock = a.request(message(AT_STATS))
            reply = read_reply(sock)
            sock.close()
            return reply

        assert wait_for(lambda: stats()[AF_PIDS] == 1), "only the agent is left: no zombies"
        assert stats()[AF_MEMORY] > 0

        # A command cannot stop its own session's agent: the signals are
        # queued before its run ends, and once the agent has taken them
        # (none pending) it is still there and serves.
        agent_pid = int(pathlib.Path(f"/proc/{outer.pid}/task/{outer.pid}/children")
                        .read_text().split()[0])
        assert run(a, ["sh", "-c", "kill -TERM 1 && kill -INT 1 && kill -HUP 1"])["code"] == 0
        assert wait_for(lambda: not pending_signals(agent_pid) & {signal.SIGTERM, signal.SIGINT,
                                                                  signal.SIGHUP}), \
            pending_signals(agent_pid)
        sock = a.request(message(AT_HELLO))
        assert read_reply(sock).type == AT_HELLO_OK
        sock.close()
        assert outer.poll() is None

        # SIGTERM: every process gets it (kill -1), the stubborn get SIGKILL
        # 3 s later, and the agent exits 0.
        r = run(a, ["sh", "-c", "setsid sleep 7007.1 </dev/null >/dev/null 2>&1 & sleep 0.2"])
        assert r["code"] == 0
        assert wait_for(lambda: len(alive("7007.1")) == 1)  # an orphan, of no run
        run_sock, first, out_r, err_r = start(a, ["sh", "-c", "trap '' TERM; sleep 7007.2"])
        assert first.type == AT_STARTED
        assert wait_for(lambda: len(alive("7007.")) == 2)
        sock = a.request(message(AT_STATS))
        assert read_reply(sock)[AF_PIDS] >= 4  # the agent, sh, two sleeps
        sock.close()
        children = pathlib.Path(f"/proc/{outer.pid}/task/{outer.pid}/children").read_text()
        t0 = time.monotonic()
        os.kill(int(children.split()[0]), signal.SIGTERM)
        assert not wait_gone("7007.1", timeout=2)
        exited = read_reply(run_sock)
        assert exited.type == AT_EXITED and exited[AF_SIGNAL] == signal.SIGKILL
        assert 2.5 < time.monotonic() - t0 < 10
        assert outer.wait(timeout=15) == 0
        assert not wait_gone("7007.")
        assert not path.exists()
        for fd in (out_r, err_r):
            os.close(fd)
        run_sock.close()
    finally:
        if outer.poll() is None:
            outer.kill()
            outer.wait()
        log.close()
