"""What a process inside an adopted container can do to the host side of its
tool calls (docs/docker.md, "Tools in adopted containers"). The container
is the operator's, and its processes may do anything there, as root: here
one replaces hutch's relay (the binary each tool call execs, whose output
is what hutch reads) with a script of the same size, which lies in every
way it can. hutch must end each call in bounded time and memory with one
error, print none of the container's control bytes, leak none of its own
environment into the container, and leave the container running."""
import base64
import io
import json
import os
import re
import struct
import subprocess
import tarfile
import time

import pytest

from conftest import HUTCH, SANITIZED, Sessions
from helpers import BUSYBOX, engine, wait_for

pytestmark = pytest.mark.usefixtures("docker_engine")  # tests/conftest.py

MAGIC, VERSION = 0x48435448, 1
HELLO_OK, TOOL_RESULT = 101, 105
AF_PID, AF_VERSION, AF_FEATURES, AF_RESULT, AF_MORE = 9, 12, 13, 25, 26


def field(tag, data):
    return struct.pack("=HHI", tag, 0, len(data)) + data


def message(kind, body):
    return struct.pack("=IHHI", MAGIC, VERSION, kind, len(body)) + body


HELLO = message(HELLO_OK, field(AF_VERSION, struct.pack("=Q", VERSION)) +
                field(AF_PID, struct.pack("=Q", 7)) + field(AF_FEATURES, b"tools"))


def b64(data):
    return base64.b64encode(data).decode()


@pytest.fixture
def adopted(hutch, tmp_path):
    """A session of an operator's container, its agent uploaded by a first
    call; yields (sessions, container name, (the relay binary's path, size))."""
    name = f"hutch-adopted-esc-{os.getpid()}"
    engine("DELETE", f"/containers/{name}?force=true")
    engine("POST", f"/containers/create?name={name}",
           {"Image": BUSYBOX, "Cmd": ["tail", "-f", "/dev/null"]}, expect=201)
    engine("POST", f"/containers/{name}/start", expect=204)
    sessions = Sessions(hutch, tmp_path)
    try:
        sessions.run("session", "create", "esc", "--sandbox", f"docker:{name}", check=0)
        proc = sessions.run("tool", "esc", "bash",
                            '{"command": "ls /tmp/hutch-agent-*.init; stat -c %s /tmp/hutch-agent-*.init"}',
                            check=0)
        binary, size = json.loads(proc.stdout)["text"].split()
        binary = (binary, int(size))
        started = engine("GET", f"/containers/{name}/json", expect=200)[1]["State"]["StartedAt"]
        yield sessions, name, binary
        info = engine("GET", f"/containers/{name}/json", expect=200)[1]
        assert info["State"]["Running"] and info["State"]["StartedAt"] == started
    finally:
        # The container first: removing the session would run the lying
        # relay once more (to stop the agent), for seconds.
        engine("DELETE", f"/containers/{name}?force=true")
        sessions.cleanup()


def swap_relay(name, relay, script):
    """Replaces the relay with script, padded to the same size (so that hutch
    sees its own build there), as a process of the container could."""
    binary, size = relay
    data = ("#!/bin/sh\n" + script + "\nexit 0\n#").encode()
    assert len(data) < size
    data += b"x" * (size - len(data))
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as t:
        info = tarfile.TarInfo(os.path.basename(binary))
        info.size, info.mode = len(data), 0o755
        t.addfile(info, io.BytesIO(data))
    status, _ = engine_put(f"/containers/{name}/archive?path=/tmp", tar.getvalue())
    assert status == 200


def engine_put(path, data):
    from helpers import SOCKET
    import http.client
    import socket as pysocket

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = pysocket.socket(pysocket.AF_UNIX)
            self.sock.connect(SOCKET)

    c = Conn("docker")
    c.request("PUT", path, body=data, headers={"Content-Type": "application/x-tar"})
    r = c.getresponse()
    return r.status, r.read()


def call(sessions, limit_s):
    """A tool call under /usr/bin/time: (result, hutch's stdout+stderr, its
    peak memory in KiB, seconds)."""
    start = time.monotonic()
    proc = subprocess.run(["/usr/bin/time", "-f", "maxrss=%M", HUTCH, "tool", "esc", "bash",
                           '{"command": "echo hi"}'], env=sessions.hutch.env,
                          capture_output=True, timeout=limit_s)
    took = time.monotonic() - start
    err = proc.stderr.decode(errors="replace")
    rss = int(err.rsplit("maxrss=", 1)[1].split()[0])
    assert proc.stdout, (proc.returncode, err)
    return json.loads(proc.stdout), proc.stdout + proc.stderr, rss, took


def relay_leftovers(name):
    """The container's live processes but its own (tail) and hutch's agent:
    what is left of relay execs. (Podman's rows are one string; a process
    shown as [name] is a zombie, which the container's tail does not reap.)"""
    _, top = engine("GET", f"/containers/{name}/top", expect=200)
    rows = [" ".join(p) for p in top["Processes"] or []]
    return [r for r in rows if "tail -f /dev/null" not in r and "--socket" not in r and
            not re.search(r"\[[^\]]+\]( <defunct>)?$", r)]


def refused(sessions, name, limit_s=60):
    result, output, rss, took = call(sessions, limit_s)
    assert result["ok"] is False, result
    assert b"\x1b" not in output and b"\x07" not in output, output
    # KiB: nothing the container sends is held unbounded. Not under the
    # sanitizers: ASan's quarantine keeps freed buffers (up to 256 MiB).
    if not SANITIZED:
        assert rss < 200 * 1024, rss
    # A relay given up on is stopped: one left sending would keep the
    # engine (Podman's conmon) busy on a CPU of the host's.
    assert wait_for(lambda: not relay_leftovers(name), timeout=20, interval=0.5), \
        relay_leftovers(name)
    return result["error"], took


def test_a_relay_that_never_answers_times_out(adopted):
    sessions, name, binary = adopted
    swap_relay(name, binary, "sleep 3600")
    error, took = refused(sessions, name)
    assert "did not answer" in error and took < 40, (error, took)


def test_a_relay_that_floods_stderr_is_bounded(adopted):
    sessions, name, binary = adopted
    swap_relay(name, binary, "head -c 50000000 /dev/zero | tr '\\0' 'e' >&2")
    error, _ = refused(sessions, name)
    assert len(error) < 2000


def test_garbage_instead_of_the_protocol(adopted):
    sessions, name, binary = adopted
    swap_relay(name, binary, "cat /dev/zero")
    error, took = refused(sessions, name)
    assert "bad reply" in error and took < 20, error
    # Removing the session runs the (swapped) binary to stop the agent: it
    # floods and never ends, and the engine may be slow with it. The removal
    # still ends soon, and says what it could not do.
    start = time.monotonic()
    proc = sessions.run("session", "rm", "esc", check=0, timeout=100)
    took = time.monotonic() - start
    assert proc.returncode == 0 and took < 90, (proc.returncode, took, proc.stderr)
    assert b"hutch: warning: hutch's agent in the container" in proc.stderr, proc.stderr
    assert sessions.ls() == []
    assert wait_for(lambda: not relay_leftovers(name), timeout=20, interval=0.5), \
        relay_leftovers(name)


def test_an_oversized_message_is_refused_unread(adopted):
    sessions, name, binary = adopted
    head = struct.pack("=IHHI", MAGIC, VERSION, HELLO_OK, 0xFFFFFFF0)
    swap_relay(name, binary, f"printf %s {b64(head)} | base64 -d; cat /dev/zero")
    error, took = refused(sessions, name)
    assert "bad reply" in error and took < 20, error


def test_a_result_that_never_ends_is_cut_at_16_mib(adopted):
    sessions, name, binary = adopted
    piece = (1 << 20) - 64  # a message's body is at most 1 MiB
    head = struct.pack("=IHHI", MAGIC, VERSION, TOOL_RESULT, 8 + piece + 8 + 8) + \
        struct.pack("=HHI", AF_RESULT, 0, piece)
    more = field(AF_MORE, struct.pack("=Q", 1))
    swap_relay(name, binary, f"""
printf %s {b64(HELLO)} | base64 -d
{{ printf %s {b64(head)} | base64 -d; head -c {piece} /dev/zero | tr '\\0' a;
   printf %s {b64(more)} | base64 -d; }} > /tmp/hutch-fake-piece
while cat /tmp/hutch-fake-piece; do :; done""")
    error, took = refused(sessions, name)
    assert "over 16 MiB" in error, error


def test_a_result_that_is_not_json(adopted):
    sessions, name, binary = adopted
    result = message(TOOL_RESULT, field(AF_RESULT, b'{"ok": true, "text": '))
    swap_relay(name, binary, f"printf %s {b64(HELLO + result)} | base64 -d; sleep 1")
    error, _ = refused(sessions, name)
    assert "not a JSON object" in error, error


def test_terminal_escapes_from_the_container_are_not_printed(adopted, docker_engine):
    sessions, name, binary = adopted
    swap_relay(name, binary, "printf '\\033]0;pwned\\007\\033[2J' >&2; exit 1")
    error, _ = refused(sessions, name)
    # Said, but as text. A relay that exits leaving hutch's HELLO unread may
    # lose what it wrote on Podman, which then reports its own attach error
    # instead (docs/docker.md, "Podman"): never the escapes either way.
    assert "pwned" in error or (docker_engine and "unixpacket" in error), error


def test_the_host_environment_does_not_enter(adopted):
    sessions, name, _ = adopted
    sessions.hutch.env["HUTCH_CANARY_SECRET"] = "canary-8d1f"
    proc = sessions.run("tool", "esc", "bash",
                        '{"command": "env; cat /proc/*/environ | tr \'\\\\0\' \'\\\\n\'"}',
                        check=0)
    assert b"canary-8d1f" not in proc.stdout, proc.stdout[:2000]
    # The agent runs as the container's own process: no descriptor of the host's.
    proc = sessions.run("tool", "esc", "bash",
                        '{"command": "ls -l /proc/*/fd 2>/dev/null | grep -c hutch-content"}',
                        check=0)
    assert json.loads(proc.stdout)["text"].startswith("0\n")


THIEF = r"""
mkdir -p /tmp/thief
while [ ! -e /tmp/thief-stop ]; do
  for f in /tmp/.hutch-stdin-*; do
    [ -e "$f" ] || continue
    echo "$f" >> /tmp/thief/seen
    cat "$f" >> /tmp/thief/stolen 2>/dev/null
    echo injected 2>/dev/null > "$f"
    mv "$f" /tmp/thief/ 2>/dev/null
    rm "$f" 2>/dev/null
  done
done
"""


def test_another_user_in_the_container_cannot_take_the_commands_input(hutch, docker_engine):
    """With Podman, a command's input passes through a FIFO in the adopted
    container's /tmp (docs/docker.md, "Podman"). Another user there, racing
    every run, can neither read the input from it, write its own into it,
    nor move or remove it before the command has opened it: each command
    reads exactly its input, and the thief gets none of it."""
    if not docker_engine:
        pytest.skip("Docker: the input goes on the command's own connection, through no FIFO")
    name = f"hutch-fifo-esc-{os.getpid()}"
    engine("DELETE", f"/containers/{name}?force=true")
    # /tmp as most images have it, sticky and writable by all (busybox's is 0755).
    engine("POST", f"/containers/create?name={name}",
           {"Image": BUSYBOX, "Cmd": ["sh", "-c", "chmod 1777 /tmp && exec tail -f /dev/null"]},
           expect=201)
    try:
        engine("POST", f"/containers/{name}/start", expect=204)
        _, thief = engine("POST", f"/containers/{name}/exec",
                          {"Cmd": ["sh", "-c", THIEF], "User": "65534:65534"}, expect=201)
        engine("POST", f"/exec/{thief['Id']}/start", {"Detach": True}, expect=200)
        wrong = []
        for i in range(30):
            secret = f"secret {i} ".encode() * 1000
            proc = hutch.run("run", "--sandbox", f"docker:{name}", "--stdin", "--", "cat",
                             input=secret)
            if (proc.returncode, proc.stdout, proc.stderr) != (0, secret, b""):
                wrong.append((i, proc.returncode, proc.stdout[:100], proc.stderr[-300:]))
        hutch.run("run", "--sandbox", f"docker:{name}", "--", "touch", "/tmp/thief-stop", check=0)
        loot = hutch.run("run", "--sandbox", f"docker:{name}", "--", "sh", "-c",
                         "cat /tmp/thief/seen; echo ---; cat /tmp/thief/stolen",
                         check=0).stdout.decode()
    finally:
        engine("DELETE", f"/containers/{name}?force=true")
    seen, taken = loot.split("---\n")
    assert wrong == [], wrong
    assert seen.strip(), "the thief never saw a FIFO: the test proved nothing"
    assert taken == "\n" or taken == "", taken[:500]
