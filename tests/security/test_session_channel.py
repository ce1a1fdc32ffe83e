"""Attacks from inside a session on what joins it to the host: the caller's
terminal, files and stdin, which must never be handed into the sandbox; the
agent's socket, which no sandboxed process may replace, bind or be served
on; PID 1, which may not be traced or read; an agent that stops
answering, which must not hang the caller; and output shaped against
hutch's own heap, which must come back whole. Native and docker sessions;
scripts/test.sh runs this as root and as an unprivileged user."""
import json
import os
import pathlib
import pty
import signal
import socket
import struct
import subprocess
import time
import uuid

import pytest

from conftest import HUTCH, processes_matching
from helpers import ensure_engine, wait_for


CANARY = "hutch-channel-" + uuid.uuid4().hex
DEBIAN = "hutch-sandbox:bookworm-slim"


@pytest.fixture(params=["native", "docker"])
def backend(request):
    if request.param == "docker":
        ensure_engine()
        return ["--backend", "docker", "--image", DEBIAN]
    return ["--backend", "native"]


def popen(sessions, *args, **kw):
    return subprocess.Popen([HUTCH, *args], env=sessions.hutch.env, **kw)


def agent_pid(sessions, key):
    record = json.loads(sessions.record_path(key).read_text())
    return record["agent_pid"]


def test_a_later_process_cannot_write_or_read_the_callers_file(sessions, backend, tmp_path):
    sessions.run("session", "create", "f", *backend, check=0)
    out = tmp_path / "out.txt"
    out.write_text(f"PRIVATE-{CANARY}\n")
    leftover = "leftover-" + uuid.uuid4().hex  # names the process that stays behind
    script = (
        # Stays behind, and writes when the call is long over.
        f"setsid sh -c 'sleep 1; echo LATE-WRITE; : {leftover}' & sleep 0.3; "
        # Reads the file behind its stdout, and rewrites it from the start.
        "python3 -c \"import os\n"
        "try:\n"
        "    fd = os.open('/proc/self/fd/1', os.O_RDONLY | os.O_NONBLOCK)\n"
        "    print('read:', os.read(fd, 200))\n"
        "except OSError as e:\n"
        "    print('refused', e.errno)\"; "
        "sh -c 'echo CLOBBER 1<>/proc/self/fd/1'; echo now")
    with open(out, "a") as f:
        proc = subprocess.run([HUTCH, "exec", "f", "-c", script], env=sessions.hutch.env,
                              stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.PIPE,
                              timeout=60)
    assert proc.returncode == 0, proc.stderr
    # Once the leftover process is gone, it has written, if it could.
    assert wait_for(lambda: not processes_matching(leftover), timeout=20)
    text = out.read_text()
    assert text.startswith(f"PRIVATE-{CANARY}\n"), text
    assert f"read: b'PRIVATE-{CANARY}" not in text
    assert "LATE-WRITE" not in text
    assert text.endswith("now\n"), text


def test_a_later_process_cannot_read_the_callers_stdin(sessions, backend):
    sessions.run("session", "create", "i", *backend, check=0)
    read_end, write_end = os.pipe()
    leftover = "leftover-" + uuid.uuid4().hex  # names the process that stays behind
    try:
        proc = subprocess.run(
            [HUTCH, "exec", "i", "--stdin", "-c",
             # A background job's stdin is /dev/null: keep the real one as fd 3.
             f"exec 3<&0; setsid sh -c 'sleep 1; cat <&3 > /workspace/captured; : {leftover}' "
             ">/dev/null 2>&1 & sleep 0.5; echo started"],
            env=sessions.hutch.env, stdin=read_end, capture_output=True, timeout=60)
        assert proc.returncode == 0 and proc.stdout == b"started\n", proc
        # What the caller types once the call is over is not the sandbox's.
        os.write(write_end, f"TYPED-LATER-{CANARY}\n".encode())
        os.close(write_end)
        write_end = -1
        captured = pathlib.Path(sessions.status("i")["workspace"]) / "captured"
        assert wait_for(captured.exists, timeout=10)
        # Once the leftover process is gone, its cat has read what it could.
        assert wait_for(lambda: not processes_matching(leftover), timeout=20)
        assert CANARY not in captured.read_text()
        # Nothing was taken from the caller's input behind its back.
        assert os.read(read_end, 4096) == f"TYPED-LATER-{CANARY}\n".encode()
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def test_a_terminal_is_never_handed_in(sessions, backend):
    sessions.run("session", "create", "t", *backend, check=0)
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([HUTCH, "exec", "t", "--", "sh", "-c",
                               "readlink /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; "
                               "tty; true"],
                              env=sessions.hutch.env, stdin=slave, stdout=slave, stderr=slave,
                              timeout=60)
        os.close(slave)
        slave = -1
        assert proc.returncode == 0
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        text = seen.decode()
        assert "/dev/pts" not in text and "not a tty" in text, text
        assert text.count("pipe:") >= 2, text
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


PROBE = r"""
import ctypes, errno, os, socket, struct
libc = ctypes.CDLL(None, use_errno=True)
def result(name, fn):
    try:
        fn()
        print(name, "allowed")
    except OSError as e:
        print(name, "refused", errno.errorcode.get(e.errno, e.errno))
def hello():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect("/.hutch/agent.sock")
    s.sendall(struct.pack("=IHHI", 0x48435448, 1, 1, 0))
    reply = s.recv(64)
    if not reply:
        raise OSError(errno.ECONNRESET, "closed")
def fake():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("/.hutch/fake.sock")
def swap():
    os.rename("/.hutch/agent.sock", "/.hutch/moved.sock")
def remove():
    os.unlink("/.hutch/agent.sock")
def ptrace():
    if libc.ptrace(16, 1, None, None) != 0:  # PTRACE_ATTACH
        raise OSError(ctypes.get_errno(), "ptrace")
result("hello", hello)
result("bind", fake)
result("rename", swap)
result("unlink", remove)
result("mem", lambda: open("/proc/1/mem", "rb").read(1))
result("environ", lambda: open("/proc/1/environ", "rb").read(1))
result("fds", lambda: os.listdir("/proc/1/fd"))
result("ptrace", ptrace)
result("kill", lambda: os.kill(1, 15))
"""


def test_only_the_host_talks_to_the_agent(sessions, backend):
    sessions.run("session", "create", "a", *backend, check=0)
    r, _ = sessions.exec_json("a", "--", "python3", "-c", PROBE)
    lines = dict(line.split(" ", 1) for line in r["stdout"].splitlines())
    assert set(lines) == {"hello", "bind", "rename", "unlink", "mem", "environ", "fds",
                          "ptrace", "kill"}, r
    for name, verdict in lines.items():
        if name == "kill":
            continue  # PID 1 ignores what comes from inside
        assert verdict.startswith("refused"), (name, verdict, r["stderr"])
    # The agent is still there and serves the host.
    again, _ = sessions.exec_json("a", "--", "echo", "still")
    assert again["stdout"] == "still\n"


def blocked_on_a_socket(pid):
    """The process sleeps with a socket open: a call waiting on its agent."""
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        fds = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return False
    return state == "S" and any(fd.startswith("socket:") for fd in fds)


def test_a_stuck_agent_does_not_hang_the_caller(sessions, backend):
    sessions.run("session", "create", "stuck", *backend, check=0)
    pid = agent_pid(sessions, "stuck")
    os.kill(pid, signal.SIGSTOP)
    try:
        # No timeout: Ctrl-C still ends the call, at once.
        call = popen(sessions, "exec", "stuck", "--", "echo", "hi", stdin=subprocess.DEVNULL,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert wait_for(lambda: blocked_on_a_socket(call.pid), 20), "the call never waited"
        call.send_signal(signal.SIGINT)
        try:
            out, err = call.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            call.kill()
            raise
        assert call.returncode != 0 and out == b"", err
        # With a timeout: the call ends soon after it, and the session is
        # marked for recreation.
        start = time.monotonic()
        proc = sessions.run("exec", "stuck", "--timeout", "2", "--", "echo", "hi", timeout=60)
        assert time.monotonic() - start < 20
        assert proc.returncode == 125 and b"recreated" in proc.stderr, proc
    finally:
        os.kill(pid, signal.SIGCONT)
    # The next use recreates the sandbox, and it works.
    proc = sessions.run("exec", "stuck", "--", "echo", "back", check=0)
    assert proc.stdout == b"back\n"
    assert b"recreating" in proc.stderr
    assert agent_pid(sessions, "stuck") != pid


def test_a_tool_call_to_a_stuck_agent_ends(sessions, backend):
    sessions.run("session", "create", "tool", *backend, check=0)
    pid = agent_pid(sessions, "tool")
    os.kill(pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        proc = sessions.run("tool", "tool", "bash", json.dumps({"command": "true", "timeout": 2}),
                            timeout=60)
        assert time.monotonic() - start < 20
        result = json.loads(proc.stdout)
        assert result["ok"] is False and "recreated" in result["error"], result
    finally:
        os.kill(pid, signal.SIGCONT)
    proc = sessions.run("tool", "tool", "bash", json.dumps({"command": "echo back"}), check=0)
    assert json.loads(proc.stdout)["text"] == "back\n"


def test_a_fake_agent_gets_nothing_and_the_session_is_recreated(sessions, backend):
    """Whatever serves the agent's socket but the agent (here planted on the
    host side, since the sandbox cannot) is refused before hutch sends it a
    byte or a descriptor, and the session's sandbox is made anew."""
    sessions.run("session", "create", "fake", *backend, check=0)
    sock = pathlib.Path(sessions.status("fake")["state_dir"]) / "run" / "agent.sock"
    old_pid = agent_pid(sessions, "fake")
    sock.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    here = os.getcwd()
    os.chdir(sock.parent)  # the path may be longer than sun_path allows
    try:
        listener.bind(sock.name)
    finally:
        os.chdir(here)
    listener.listen(8)
    listener.settimeout(0.2)
    got = []
    call = popen(sessions, "exec", "fake", "--timeout", "3", "--", "echo", "hi",
                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while call.poll() is None and time.monotonic() < deadline:
            try:
                conn, _ = listener.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(1)
            try:
                data, anc, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(16))
                got.append((data, anc))
                # Lies: STARTED, then nothing.
                conn.sendall(struct.pack("=IHHI", 0x48435448, 1, 102, 16) +
                             struct.pack("=HHIQ", 9, 0, 8, 42))
            except OSError:
                pass
            conn.close()
        out, err = call.communicate(timeout=30)
    finally:
        if call.poll() is None:
            call.kill()
        listener.close()
    assert call.returncode == 0 and out == b"hi\n", (out, err)
    assert b"not by the session's agent" in err and b"recreating" in err, err
    assert got and all(data == b"" and not anc for data, anc in got), got
    assert agent_pid(sessions, "fake") != old_pid
    proc = sessions.run("exec", "fake", "--", "echo", "served", check=0)
    assert proc.stdout == b"served\n"


HEAP_SHAPED_OUTPUT = (
    "import os, random\n"
    "r = random.Random(7)\n"
    "for i in range(120):\n"
    "    n = r.choice([1, 15, 16, 17, 4095, 16383, 16384, 16385, 20000])\n"
    "    os.write(1 + i % 2, bytes([65 + i % 26]) * n)\n")


def heap_shaped_expected():
    import random
    r = random.Random(7)
    streams = {1: [], 2: []}
    for i in range(120):
        n = r.choice([1, 15, 16, 17, 4095, 16383, 16384, 16385, 20000])
        streams[1 + i % 2].append(chr(65 + i % 26) * n)
    return "".join(streams[1]), "".join(streams[2])


def test_output_shaped_against_hutchs_heap_comes_back_whole(sessions, backend):
    """The static hutch takes its first small blocks from a startup arena
    (blocks up to 16 KiB, 256 KiB in all; src/base/arena_malloc.c), then
    from musl's heap. Output from inside in pieces around those sizes,
    alternating between the streams and past the arena's size on each, does
    not crash hutch or mix the streams: each comes back byte for byte."""
    sessions.run("session", "create", "heap", *backend, check=0)
    result, proc = sessions.exec_json("heap", "--", "python3", "-c", HEAP_SHAPED_OUTPUT)
    out, err = heap_shaped_expected()
    assert len(out) > 256 * 1024 and len(err) > 256 * 1024
    assert proc.returncode == 0 and result["exit_code"] == 0, result
    assert result["stdout"] == out and result["stderr"] == err, (
        len(result["stdout"]), len(out), len(result["stderr"]), len(err))
