"""The agent tools (bash, read, write, edit, process) served by hutch-init.

The agent runs as an ordinary process, as in test_agent.py, and the tests
speak its protocol directly: AT_TOOL with the roots pointing into a temporary
directory (src/agent/proto.h, docs/agent.md, docs/tools.md). Runs as root and
as an unprivileged user; HUTCH_SANITIZED=1 skips only the memory ceilings."""
import base64
import json
import os
import pathlib
import signal
import socket
import stat
import struct
import threading
import time

import pytest

from conftest import SANITIZED
from helpers import wait_for
from test_agent import (AE_BAD_REQUEST, AE_FDS, AF_ENV, AF_FEATURES, AF_TIMEOUT_MS, AT_ERROR,
                        AT_HELLO, AT_HELLO_OK, FIELD, HEADER, Agent, alive, message, read_reply,
                        run, unread, wait_gone)

AT_TOOL, AT_TOOL_RESULT = 5, 105
AF_TOOL, AF_ARGS, AF_ROOT_READ, AF_ROOT_WRITE, AF_CONTENT_FD, AF_RESULT, AF_MORE, AF_OUTPUT_DIR = \
    range(20, 28)
ENV = ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"]
ROOT = os.geteuid() == 0
MiB = 1 << 20


# ---- the protocol --------------------------------------------------------------

def tool_message(name, args, roots_read, roots_write, env=ENV, timeout_ms=None, output_dir=None,
                 content_fd=False, raw_args=None):
    fields = [(AF_TOOL, name), (AF_ARGS, raw_args if raw_args is not None else json.dumps(args))]
    fields += [(AF_ROOT_READ, str(r)) for r in roots_read]
    fields += [(AF_ROOT_WRITE, str(r)) for r in roots_write]
    fields += [(AF_ENV, e) for e in env]
    if timeout_ms is not None:
        fields.append((AF_TIMEOUT_MS, timeout_ms))
    if output_dir is not None:
        fields.append((AF_OUTPUT_DIR, str(output_dir)))
    if content_fd:
        fields.append((AF_CONTENT_FD, 1))
    return message(AT_TOOL, *fields)


def read_raw(sock, timeout):
    """One message as (type, {tag: bytes}), or None at the end of the stream."""
    sock.settimeout(timeout)
    head = b""
    while len(head) < HEADER.size:
        chunk = sock.recv(HEADER.size - len(head))
        if not chunk:
            return None
        head += chunk
    _, _, type_, length = HEADER.unpack(head)
    assert length <= 1 << 20
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        assert chunk, "cut mid-message"
        body += chunk
    fields, off = {}, 0
    while off < len(body):
        tag, _, n = FIELD.unpack_from(body, off)
        fields[tag] = body[off + 8:off + 8 + n]
        off += 8 + n
    return type_, fields


def read_result(sock, timeout=60):
    """The result of a tool call (its pieces joined); the agent then closes."""
    text = b""
    while True:
        got = read_raw(sock, timeout)
        assert got is not None, "the agent closed without a result"
        type_, fields = got
        assert type_ == AT_TOOL_RESULT, (type_, fields)
        text += fields[AF_RESULT]
        if fields.get(AF_MORE) != struct.pack("=Q", 1):
            break
    assert read_raw(sock, 10) is None, "the connection stays open after the result"
    return json.loads(text)


class Box:
    """A workspace and its neighbours, and an agent serving tools on them."""

    def __init__(self, agent, base):
        self.agent = agent
        self.base = base
        self.ws = base / "ws"                  # the workspace: read and write
        self.ws2 = base / "ws2"                # a sibling sharing its name as prefix
        self.outside = base / "outside"        # not a root at all
        self.ro = base / "ro"                  # read only
        self.out = base / "out"                # bash's logs (readable)
        for d in (self.ws, self.ws2, self.outside, self.ro):
            d.mkdir()
        (self.ws2 / "secret.txt").write_text("ws2 secret\n")
        (self.outside / "secret.txt").write_text("outside secret\n")
        (self.ro / "note.txt").write_text("read only\n")
        self.read_roots = [self.ws, self.ro, self.out]
        self.write_roots = [self.ws]

    def send(self, name, args, fds=(), **kw):
        kw.setdefault("output_dir", self.out)
        data = tool_message(name, args, kw.pop("read_roots", self.read_roots),
                            kw.pop("write_roots", self.write_roots), **kw)
        sock = self.agent.connect()
        if fds:
            socket.send_fds(sock, [data], list(fds))
        else:
            sock.sendall(data)
        return sock

    def call(self, name, args, timeout=60, **kw):
        sock = self.send(name, args, **kw)
        try:
            return read_result(sock, timeout)
        finally:
            sock.close()

    def ok(self, name, args, **kw):
        r = self.call(name, args, **kw)
        assert r["ok"] is True, r
        return r

    def fail(self, name, args, **kw):
        r = self.call(name, args, **kw)
        assert r["ok"] is False and isinstance(r["error"], str) and "\n" not in r["error"], r
        return r["error"]


@pytest.fixture
def box(tmp_path):
    base = tmp_path / "x"
    base.mkdir()
    agent = Agent(tmp_path)
    b = Box(agent, base)
    yield b
    assert agent.proc.poll() is None, "hutch-init died: " + agent.log_text()
    # Every test leaves it without connections or workers: nothing may leak.
    agent.wait_idle_fds()
    wait_for(lambda: not workers(agent))
    assert agent.stop() == 0, agent.log_text()


def workers(agent):
    """The agent's live children: a tool call's worker, a command."""
    return [c for c in agent.children() if c[1] != "Z"]


def status_kib(pid, key):
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class HighWater:
    """The highest VmHWM of the agent and of each of its children, sampled
    while a call runs (workers live only as long as their call)."""

    def __init__(self, agent):
        self.agent = agent
        self.peak = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def sample(self):
        while not self.stop.is_set():
            pids = [self.agent.pid] + [p for p, state in self.agent.children() if state != "Z"]
            for pid in pids:
                kib = status_kib(pid, "VmHWM")
                if kib:
                    key = "agent" if pid == self.agent.pid else "worker"
                    self.peak[key] = max(self.peak.get(key, 0), kib)
            self.stop.wait(0.01)  # a sample every 10 ms, until stopped

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


# ---- the protocol additions ---------------------------------------------------------

def test_hello_offers_tools(box):
    sock = box.agent.request(message(AT_HELLO))
    reply = read_reply(sock)
    sock.close()
    assert reply.type == AT_HELLO_OK and "tools" in reply[AF_FEATURES].split()


def test_tool_requests_are_checked(box):
    cases = {
        "no roots": (message(AT_TOOL, (AF_TOOL, "read"), (AF_ARGS, "{}")), AE_BAD_REQUEST),
        "relative root": (message(AT_TOOL, (AF_TOOL, "read"), (AF_ARGS, "{}"),
                                  (AF_ROOT_READ, "ws")), AE_BAD_REQUEST),
        "no tool": (message(AT_TOOL, (AF_ARGS, "{}"), (AF_ROOT_READ, "/")), AE_BAD_REQUEST),
        "no args": (message(AT_TOOL, (AF_TOOL, "read"), (AF_ROOT_READ, "/")), AE_BAD_REQUEST),
        "content flag without fd": (tool_message("write", {"path": "a"}, [box.ws], [box.ws],
                                                 content_fd=True), AE_FDS),
    }
    for name, (data, kind) in cases.items():
        sock = box.agent.request(data)
        reply = read_reply(sock)
        sock.close()
        assert reply is not None and reply.type == AT_ERROR and reply[17] == kind, (name, reply)
    # A descriptor the request did not announce is refused too.
    r, w = os.pipe()
    sock = box.agent.request(tool_message("read", {"path": "a"}, [box.ws], []), [r])
    os.close(r)
    os.close(w)
    reply = read_reply(sock)
    sock.close()
    assert reply.type == AT_ERROR and reply[17] == AE_FDS


def test_bad_arguments_are_results(box):
    assert "not valid JSON" in box.fail("read", None, raw_args="{nope")
    assert "must be a JSON object" in box.fail("read", None, raw_args="[1, 2]")
    assert "unknown tool" in box.fail("grepp", {})
    assert "path must be a string" in box.fail("read", {"path": 7})
    assert "read needs a path" in box.fail("read", {})
    assert "offset must be" in box.fail("read", {"path": "a", "offset": 0})
    assert "offset must be a whole number" in box.fail("read", {"path": "a", "offset": "x"})
    assert "bash needs a command" in box.fail("bash", {"command": ""})
    assert "unknown action" in box.fail("process", {"action": "explode"})


def test_large_results_come_in_pieces(box):
    # A 5 MiB image is 6.7 MiB of base64: over one message, so in pieces.
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(5 * MiB - 8)
    (box.ws / "big.png").write_bytes(png)
    r = box.ok("read", {"path": "big.png"})
    assert base64.b64decode(r["image"]["data"]) == png


# ---- write and read -----------------------------------------------------------------

def test_write_and_read_back(box):
    r = box.ok("write", {"path": "a/b/c.txt", "content": "hello\nworld\n"})
    assert r["text"] == "Wrote 12 bytes to a/b/c.txt" and r["bytes"] == 12 and r["created"]
    assert (box.ws / "a/b/c.txt").read_text() == "hello\nworld\n"
    r = box.ok("read", {"path": "a/b/c.txt"})
    assert r["text"] == "hello\nworld\n" and r["total_lines"] == 2 and not r["truncated"]
    # Absolute paths work inside a root.
    r = box.ok("read", {"path": str(box.ws / "a/b/c.txt"), "offset": 2})
    assert r["text"] == "world\n"
    # A replacement keeps the file's mode, and leaves no temporary file.
    os.chmod(box.ws / "a/b/c.txt", 0o751)
    r = box.ok("write", {"path": "a/b/c.txt", "content": "new"})
    assert not r["created"]
    assert stat.S_IMODE(os.stat(box.ws / "a/b/c.txt").st_mode) == 0o751
    assert os.listdir(box.ws / "a/b") == ["c.txt"]
    # Content may hold NUL bytes and any text.
    box.ok("write", {"path": "nul.bin", "content": "a\u0000b\u00e9"})
    assert (box.ws / "nul.bin").read_bytes() == b"a\0b\xc3\xa9"
    box.ok("write", {"path": "empty", "content": ""})
    assert (box.ws / "empty").read_bytes() == b""


def test_write_refusals(box):
    (box.ws / "dir").mkdir()
    assert "is a directory" in box.fail("write", {"path": "dir", "content": "x"})
    assert "names a directory" in box.fail("write", {"path": "new/", "content": "x"})
    assert "names a directory" in box.fail("write", {"path": ".", "content": "x"})
    assert "needs content" in box.fail("write", {"path": "x.txt"})
    assert "not in a writable place" in box.fail(
        "write", {"path": str(box.ro / "note.txt"), "content": "x"})
    assert (box.ro / "note.txt").read_text() == "read only\n"
    (box.ws / "file").write_text("f")
    assert "not a directory" in box.fail("write", {"path": "file/x", "content": "x"})


def test_write_streams_content_from_a_descriptor(box):
    r, w = os.pipe()
    os.write(w, b"streamed\n" * 1000)
    os.close(w)
    sock = box.send("write", {"path": "s.txt"}, fds=[r], content_fd=True)
    os.close(r)
    res = read_result(sock)
    sock.close()
    assert res["ok"] and res["bytes"] == 9000
    assert (box.ws / "s.txt").read_bytes() == b"streamed\n" * 1000


def test_write_replaces_a_symlink_not_its_target(box):
    (box.ws / "target.txt").write_text("target\n")
    os.symlink("target.txt", box.ws / "link.txt")
    box.ok("write", {"path": "link.txt", "content": "new\n"})
    assert not os.path.islink(box.ws / "link.txt")
    assert (box.ws / "link.txt").read_text() == "new\n"
    assert (box.ws / "target.txt").read_text() == "target\n"
    # Also when the link points out of the workspace.
    os.symlink(box.outside / "secret.txt", box.ws / "out-link")
    box.ok("write", {"path": "out-link", "content": "mine\n"})
    assert (box.outside / "secret.txt").read_text() == "outside secret\n"


def test_read_head_and_notice(box):
    (box.ws / "long.txt").write_text("".join(f"line {i}\n" for i in range(1, 5001)))
    r = box.ok("read", {"path": "long.txt"})
    lines = r["text"].split("\n")
    assert lines[0] == "line 1" and lines[1999] == "line 2000"
    assert r["text"].endswith("\n\n[Showing lines 1-2000 of 5000. Use offset=2001 to continue.]")
    assert r["truncated"] and r["next_offset"] == 2001 and r["total_lines"] == 5000
    r = box.ok("read", {"path": "long.txt", "offset": 2001, "limit": 10})
    assert r["text"].startswith("line 2001\n") and r["lines"] == 10
    assert "[Showing lines 2001-2010 of 5000. Use offset=2011 to continue.]" in r["text"]
    r = box.ok("read", {"path": "long.txt", "offset": 4999})
    assert r["text"] == "line 4999\nline 5000\n" and not r["truncated"]
    assert "past the end of long.txt, which has 5000 lines" in box.fail(
        "read", {"path": "long.txt", "offset": 5001})
    # The byte limit: whole lines only.
    (box.ws / "wide.txt").write_text(("x" * 99 + "\n") * 1000)
    r = box.ok("read", {"path": "wide.txt"})
    assert len(r["text"].encode()) < 51400 and r["lines"] == 512
    assert "[Showing lines 1-512 of 1000 (50 KiB limit). Use offset=513 to continue.]" in r["text"]
    # One line over the limit alone: how to get at it.
    (box.ws / "one.txt").write_text("y" * 60000 + "\nshort\n")
    err = box.fail("read", {"path": "one.txt"})
    assert "line 1 of one.txt is 60001 bytes long" in err and "sed -n" in err
    assert box.ok("read", {"path": "one.txt", "offset": 2})["text"] == "short\n"
    # No newline at the end; an empty file; bytes that are not UTF-8.
    (box.ws / "nonl.txt").write_text("a\nb")
    assert box.ok("read", {"path": "nonl.txt"})["text"] == "a\nb"
    (box.ws / "empty.txt").write_text("")
    assert box.ok("read", {"path": "empty.txt"})["text"] == "[The file is empty.]"
    (box.ws / "latin1.txt").write_bytes(b"caf\xe9\n")
    assert box.ok("read", {"path": "latin1.txt"})["text"] == "caf\ufffd\n"


def test_read_refuses_what_is_not_text(box):
    (box.ws / "d").mkdir()
    assert "d is a directory: use bash with ls" in box.fail("read", {"path": "d"})
    assert "is a directory" in box.fail("read", {"path": "."})
    os.mkfifo(box.ws / "fifo")
    start = time.monotonic()
    assert "a FIFO" in box.fail("read", {"path": "fifo"})
    assert time.monotonic() - start < 5
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(box.ws / "sock"))
    assert "a socket" in box.fail("read", {"path": "sock"})
    sock.close()
    if ROOT:
        os.mknod(box.ws / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        assert "a device" in box.fail("read", {"path": "null"})
    (box.ws / "bin").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(100))
    assert "is a binary file" in box.fail("read", {"path": "bin"})
    assert "does not exist" in box.fail("read", {"path": "nope.txt"})


def test_read_images(box):
    samples = {
        "a.png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(50), "image/png"),
        "a.jpg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(50), "image/jpeg"),
        "a.gif": (b"GIF89a\x01\x00\x01\x00" + bytes(50), "image/gif"),
        "a.webp": (b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(50), "image/webp"),
    }
    for name, (data, mime) in samples.items():
        (box.ws / name).write_bytes(data)
        r = box.ok("read", {"path": name})
        assert r["image"]["mimeType"] == mime, name
        assert base64.b64decode(r["image"]["data"]) == data, name
        assert mime in r["text"]
    with open(box.ws / "huge.png", "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.truncate(5 * MiB + 1)
    assert "images are returned up to 5 MiB" in box.fail("read", {"path": "huge.png"})


# ---- paths that lead out ------------------------------------------------------------

def test_paths_that_escape_are_refused(box):
    ws = box.ws
    (ws / "a").mkdir()
    os.symlink(box.outside / "secret.txt", ws / "abs-link")
    os.symlink("../outside/secret.txt", ws / "rel-link")
    os.symlink("../outside", ws / "dir-link")
    os.symlink("loop2", ws / "loop1")
    os.symlink("loop1", ws / "loop2")
    os.symlink("/proc/self/root/etc/passwd", ws / "proc-link")
    escapes = {
        "../outside/secret.txt": "leads outside",
        "a/../../outside/secret.txt": "leads outside",
        str(box.outside / "secret.txt"): "outside the workspace",
        str(box.ws2 / "secret.txt"): "outside the workspace",  # /x/ws2 is not in /x/ws
        str(ws) + "/../ws2/secret.txt": "leads outside",
        "abs-link": "leads outside",
        "rel-link": "leads outside",
        "dir-link/secret.txt": "leads outside",
        "loop1": "symlink loop",
        "proc-link": "leads outside",
        "/proc/self/root/etc/passwd": "outside the workspace",
        "/etc/passwd": "outside the workspace",
    }
    for path, why in escapes.items():
        err = box.fail("read", {"path": path})
        assert why in err and "secret\n" not in err, (path, err)
        # edit never follows a final symlink at all
        err = box.fail("edit", {"path": path, "oldText": "s", "newText": "t"})
        assert why in err or "is a symlink" in err or "writable" in err, (path, err)
        # write replaces a final symlink: the outside stays as it is
        r = box.call("write", {"path": path, "content": "pwned"})
        assert r["ok"] or why in r["error"] or "writable" in r["error"], (path, r)
    assert (box.outside / "secret.txt").read_text() == "outside secret\n"
    assert (box.ws2 / "secret.txt").read_text() == "ws2 secret\n"
    assert os.listdir(box.outside) == ["secret.txt"]
    assert "contains a NUL byte" in box.fail("read", {"path": "a\u0000b"})
    assert "is 5000 bytes long: the limit is 4096" in box.fail("read", {"path": "a" * 5000})
    assert "the path is empty" in box.fail("read", {"path": ""})
    assert "workdir: " in box.fail("bash", {"command": "pwd", "workdir": "dir-link"})


def test_proc_magic_links_are_refused(box):
    # With /proc as a root, its magic links still lead nowhere.
    fd = os.open(box.outside / "secret.txt", os.O_RDONLY)
    try:
        roots = box.read_roots + ["/proc"]
        for path in ("/proc/self/root/etc/passwd", f"/proc/{os.getpid()}/fd/{fd}",
                     f"/proc/{box.agent.pid}/cwd/x", "/proc/self/exe"):
            err = box.fail("read", {"path": path}, read_roots=roots)
            assert "magic link" in err or "does not exist" in err, (path, err)
    finally:
        os.close(fd)
    # A root that is not a directory holds nothing.
    not_dir = box.outside / "secret.txt"
    assert "cannot open the root" in box.fail(
        "read", {"path": f"{not_dir}/x"}, read_roots=[not_dir])


def test_symlink_swaps_never_lead_out(box):
    (box.ws / "inside").mkdir()
    (box.ws / "inside" / "secret.txt").write_text("inside\n")
    os.symlink("inside", box.ws / "flip")
    stop = threading.Event()

    def flipper():
        targets = ["inside", "../outside", str(box.outside)]
        i = 0
        while not stop.is_set():
            tmp = box.ws / f".flip{i % 2}"
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            os.symlink(targets[i % 3], tmp)
            os.replace(tmp, box.ws / "flip")
            i += 1

    thread = threading.Thread(target=flipper, daemon=True)
    thread.start()
    seen = {"inside": 0, "refused": 0}
    try:
        for i in range(200):
            r = box.call("read", {"path": "flip/secret.txt"})
            assert "outside secret" not in json.dumps(r), r
            if r["ok"]:
                assert r["text"] == "inside\n"
                seen["inside"] += 1
            else:
                seen["refused"] += 1
            if i % 20 == 0:
                r = box.call("write", {"path": f"flip/w{i}.txt", "content": "x"})
                assert not (box.outside / f"w{i}.txt").exists(), r
    finally:
        stop.set()
        thread.join()
    print("swap race:", seen)
    assert seen["inside"] + seen["refused"] == 200
    assert os.listdir(box.outside) == ["secret.txt"]


# ---- edit -----------------------------------------------------------------------------

def test_edit(box):
    f = box.ws / "main.c"
    f.write_text("int main(void)\n{\n    return 0;\n}\n")
    os.chmod(f, 0o640)
    r = box.ok("edit", {"path": "main.c", "oldText": "return 0;", "newText": "return 1;"})
    assert f.read_text() == "int main(void)\n{\n    return 1;\n}\n"
    assert r["diff"] == ("--- main.c\n+++ main.c\n@@ -1,4 +1,4 @@\n int main(void)\n {\n"
                         "-    return 0;\n+    return 1;\n }\n")
    assert r["text"] == "Edited main.c: 1 edit, +1 -1 lines" and r["first_changed_line"] == 3
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o640
    # Several at once, against the original text.
    r = box.ok("edit", {"path": "main.c", "edits": [
        {"oldText": "int main", "newText": "static int main"},
        {"oldText": "return 1;", "newText": "return 2;"}]})
    assert f.read_text() == "static int main(void)\n{\n    return 2;\n}\n" and r["edits"] == 2
    # A dry run shows and does not write.
    r = box.ok("edit", {"path": "main.c", "oldText": "2", "newText": "3", "dryRun": True})
    assert "+    return 3;" in r["diff"] and "+    return 3;" in r["text"] and r["dryRun"]
    assert "return 2;" in f.read_text()
    # A dry run may look at a read-only root.
    box.ok("edit", {"path": str(box.ro / "note.txt"), "oldText": "read", "newText": "write",
                    "dryRun": True})
    assert "not in a writable place" in box.fail(
        "edit", {"path": str(box.ro / "note.txt"), "oldText": "read", "newText": "write"})


def test_edit_errors(box):
    f = box.ws / "t.txt"
    f.write_text("x = 1\nx = 1\ny = 2\n")
    assert "oldText not found" in box.fail("edit", {"path": "t.txt", "oldText": "z",
                                                    "newText": "w"})
    err = box.fail("edit", {"path": "t.txt", "oldText": "x = 1", "newText": "x = 3"})
    assert "t.txt: oldText found 2 times: add surrounding lines to make it unique" == err
    err = box.fail("edit", {"path": "t.txt", "edits": [
        {"oldText": "y", "newText": "Y"}, {"oldText": "y = 2", "newText": "Y"}]})
    assert "oldText #1 and #2 overlap" in err
    assert "oldText is empty" in box.fail("edit", {"path": "t.txt", "oldText": "",
                                                   "newText": "w"})
    assert "newText is missing" in box.fail("edit", {"path": "t.txt", "oldText": "y"})
    assert "edit needs oldText and newText" in box.fail("edit", {"path": "t.txt"})
    assert "does not exist: use write" in box.fail("edit", {"path": "no.txt", "oldText": "a",
                                                            "newText": "b"})
    assert f.read_text() == "x = 1\nx = 1\ny = 2\n"
    (box.ws / "bin").write_bytes(b"a\0b")
    assert "binary" in box.fail("edit", {"path": "bin", "oldText": "a", "newText": "b"})
    with open(box.ws / "big.txt", "wb") as big:
        big.truncate(16 * MiB + 1)
    assert "edit handles files up to 16 MiB" in box.fail(
        "edit", {"path": "big.txt", "oldText": "a", "newText": "b"})
    os.symlink("t.txt", box.ws / "link")
    assert "is a symlink (to t.txt)" in box.fail("edit", {"path": "link", "oldText": "y",
                                                          "newText": "Y"})


def test_edit_keeps_line_endings_and_bom(box):
    f = box.ws / "win.txt"
    f.write_bytes(b"\xef\xbb\xbfone\r\ntwo\r\nthree\r\n")
    box.ok("edit", {"path": "win.txt", "oldText": "one\ntwo\n", "newText": "1\n2\n"})
    assert f.read_bytes() == b"\xef\xbb\xbf1\r\n2\r\nthree\r\n"


# ---- big files, little memory ------------------------------------------------------

def test_a_gigabyte_in_and_out(box):
    size = 1 << 30
    line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq\n"  # 64 bytes
    chunk = line * 1024
    r, w = os.pipe()

    def feed():
        with os.fdopen(w, "wb") as f:
            for _ in range(size // len(chunk)):
                f.write(chunk)

    feeder = threading.Thread(target=feed, daemon=True)
    with HighWater(box.agent) as hw:
        sock = box.send("write", {"path": "big.txt"}, fds=[r], content_fd=True)
        os.close(r)
        feeder.start()
        res = read_result(sock, timeout=300)
        sock.close()
        feeder.join()
        assert res["ok"] and res["bytes"] == size, res
        res = box.ok("read", {"path": "big.txt"}, timeout=300)
    assert os.path.getsize(box.ws / "big.txt") == size
    assert res["text"].startswith(line.decode() * 3)
    assert res["text"].endswith("[Showing lines 1-800 of 16777216 (50 KiB limit). "
                                "Use offset=801 to continue.]")
    os.unlink(box.ws / "big.txt")
    print("VmHWM KiB:", hw.peak)
    if not SANITIZED:
        assert hw.peak["agent"] < 16 * 1024, hw.peak
        assert hw.peak.get("worker", 0) < 16 * 1024, hw.peak


# ---- bash -------------------------------------------------------------------------------

def test_bash_output_and_exit(box):
    r = box.ok("bash", {"command": "echo out; echo err >&2; exit 3"})
    assert r["text"] == "out\nerr\n\nExit code 3" and r["exit_code"] == 3
    assert not r["timed_out"] and not r["truncated"]
    assert pathlib.Path(r["output_file"]).parent == box.out
    assert pathlib.Path(r["output_file"]).read_text() == "out\nerr\n"
    r = box.ok("bash", {"command": "true"})
    assert r["text"] == "(no output)" and r["exit_code"] == 0
    r = box.ok("bash", {"command": "kill -9 $$"})
    assert r["exit_code"] == 137 and r["signal"] == 9 and "Killed by signal 9" in r["text"]
    # The environment: the request's, then args.env; stdin is empty.
    r = box.ok("bash", {"command": 'echo "$FOO $LANG $BAR"; cat; echo "[$HUTCH_RUN]"',
                        "env": {"BAR": "bar", "LANG": "C", "HUTCH_RUN": "fake"}},
               env=ENV + ["FOO=foo"])
    first, tag = r["text"].split("\n")[:2]
    assert first == "foo C bar" and tag != "[fake]" and ".t" in tag
    # The working directory: the workspace, or workdir within the roots.
    (box.ws / "sub").mkdir()
    assert box.ok("bash", {"command": "pwd"})["text"] == f"{box.ws}\n"
    assert box.ok("bash", {"command": "pwd", "workdir": "sub"})["text"] == f"{box.ws}/sub\n"
    assert box.ok("bash", {"command": "pwd", "workdir": str(box.ro)})["text"] == f"{box.ro}\n"
    assert "outside" in box.fail("bash", {"command": "pwd", "workdir": "/"})
    assert "env.X must be a string" in box.fail("bash", {"command": "true", "env": {"X": 1}})


def test_bash_keeps_the_tail(box):
    r = box.ok("bash", {"command": "seq 1 5000"})
    lines = r["text"].split("\n")
    assert lines[0] == "3001" and lines[1999] == "5000"
    assert r["text"].endswith(f"[Output cut: showing the last 2000 lines of 5000; full output "
                              f"in {r['output_file']}]")
    assert r["truncated"] and r["total_lines"] == 5000
    assert pathlib.Path(r["output_file"]).read_text() == "".join(f"{i}\n" for i in range(1, 5001))
    # The byte limit, never a partial first line.
    r = box.ok("bash", {"command": "for i in $(seq 1 100); do printf '%0999d\\n' $i; done"})
    body = r["text"].split("\n\n[Output cut")[0].split("\n")
    assert all(len(l) == 999 for l in body) and body[-1].endswith("100")
    assert "showing the last 51 lines of 100" in r["text"]
    # One line longer than the limit: its end.
    r = box.ok("bash", {"command": "head -c 60000 /dev/zero | tr '\\0' a; echo; exit 0"})
    assert "showing the last 50 KiB of the last line" in r["text"]
    # The log keeps the last 8-16 MiB of a flood.
    r = box.ok("bash", {"command": "yes 0123456789abcdef | head -c 40000000"}, timeout=120)
    assert r["total_bytes"] == 40000000 and os.path.getsize(r["output_file"]) <= 16 * MiB
    assert "the last 8 MiB of it are in" in r["text"]


def test_bash_timeout(box):
    start = time.monotonic()
    r = box.ok("bash", {"command": "echo started; sleep 30.1"}, timeout_ms=500)
    assert r["timed_out"] and "Timed out after 0.5 s" in r["text"] and "started" in r["text"]
    assert r["exit_code"] == 124 and r["signal"] == 15  # 124 as run and exec say it
    assert time.monotonic() - start < 5
    # SIGTERM ignored: SIGKILL 2 s later.
    start = time.monotonic()
    r = box.ok("bash", {"command": "trap '' TERM; echo ready; sleep 30.2; echo never",
                        "timeout": 1})
    took = time.monotonic() - start
    assert r["timed_out"] and 2.5 < took < 10 and "never" not in r["text"]
    assert "Timed out after 1 s" in r["text"]
    assert not wait_gone("30.")


def test_bash_kills_what_it_left_behind(box):
    r = box.ok("bash", {"command": "sleep 101 & echo bg"})
    assert r["text"] == "bg\n"
    assert not wait_gone("101")


def test_cancelling_a_call_kills_its_command(box):
    sock = box.send("bash", {"command": "sleep 102; echo never"})
    assert wait_for(lambda: alive("102"))
    sock.close()  # the host gives up
    assert not wait_gone("102", timeout=10)
    # A write whose content never ends: cancelled, and nothing is left.
    r, w = os.pipe()
    os.write(w, b"partial")
    sock = box.send("write", {"path": "never.txt"}, fds=[r], content_fd=True)
    os.close(r)
    assert wait_for(lambda: workers(box.agent)), "no worker took the call"
    sock.close()
    assert wait_for(lambda: not workers(box.agent)), workers(box.agent)
    os.close(w)
    assert os.listdir(box.ws) == []


def test_the_agent_serves_while_a_tool_runs(box):
    sock = box.send("bash", {"command": "sleep 3; echo done"})
    start = time.monotonic()
    for _ in range(5):
        res = run(box.agent, ["echo", "hi"])
        assert res["code"] == 0 and res["stdout"] == "hi\n"
        assert box.ok("read", {"path": str(box.ro / "note.txt")})["text"] == "read only\n"
    assert time.monotonic() - start < 2.5
    assert read_result(sock)["text"] == "done\n"
    sock.close()


# ---- background processes -----------------------------------------------------------

def wait_poll(box, pid_id, want, timeout=10):
    """Polls the process until its output so far holds want: (that output,
    the last poll's result)."""
    seen = {"output": "", "last": None}

    def poll():
        seen["last"] = box.ok("process", {"action": "poll", "id": pid_id})
        seen["output"] += seen["last"]["output"]
        return want in seen["output"]

    assert wait_for(poll, timeout), seen["output"]
    return seen["output"], seen["last"]


def test_background_processes(box):
    r = box.ok("bash", {"command": "echo start; read line; echo got $line; sleep 103",
                        "background": True})
    pid_id, pid = r["id"], r["pid"]
    assert pid_id == "p1" and pid > 0 and r["output_file"] == f"{box.out}/p1.log"
    r = box.ok("process", {"action": "list"})
    assert [p["id"] for p in r["processes"]] == ["p1"] and r["processes"][0]["state"] == "running"
    assert "p1  pid" in r["text"]
    seen, r = wait_poll(box, pid_id, "start\n")
    assert "[p1 running" in r["text"]
    r = box.ok("process", {"action": "poll", "id": pid_id})
    assert r["output"] == "" and "no new output" in r["text"]
    assert box.ok("process", {"action": "write", "id": pid_id, "data": "hello\n"})["bytes"] == 6
    seen, r = wait_poll(box, pid_id, "got hello\n")
    r = box.ok("process", {"action": "log", "id": pid_id})
    assert r["text"] == "start\ngot hello\n"
    r = box.ok("process", {"action": "log", "id": pid_id, "offset": 2})
    assert r["text"] == "got hello\n" and r["total_lines"] == 2
    assert "still running: kill it first" in box.fail("process", {"action": "remove",
                                                                  "id": pid_id})
    r = box.ok("process", {"action": "kill", "id": pid_id})
    assert "SIGTERM" in r["text"]
    assert wait_for(lambda: box.ok("process", {"action": "list"})["processes"][0]["state"]
                    != "running")
    p = box.ok("process", {"action": "list"})["processes"][0]
    assert p["state"] == "exited" and p["signal"] == 15 and p["exit_code"] == 143
    assert not wait_gone("103")
    assert "has exited" in box.fail("process", {"action": "write", "id": pid_id, "data": "x"})
    assert box.ok("process", {"action": "kill", "id": pid_id})["text"] == \
        "p1 is not running (killed by signal 15)"
    box.ok("process", {"action": "remove", "id": pid_id})
    assert not (box.out / "p1.log").exists()
    assert box.ok("process", {"action": "list"})["text"] == "No background processes."
    assert "no background process p1" in box.fail("process", {"action": "poll", "id": "p1"})
    assert "needs the id" in box.fail("process", {"action": "poll"})


def test_background_exit_and_logs(box):
    r = box.ok("bash", {"command": "seq 1 3000; exit 4", "background": True})
    first = lambda: box.ok("process", {"action": "list"})["processes"][0]
    assert wait_for(lambda: first()["state"] == "exited"), first()
    assert first()["exit_code"] == 4
    r = box.ok("process", {"action": "log", "id": "p1"})
    assert r["text"].startswith("1001\n") and "[Showing the last 2000 lines" in r["text"]
    r = box.ok("process", {"action": "log", "id": "p1", "offset": 10, "limit": 2})
    assert r["text"].startswith("10\n11\n") and "Use offset=12" in r["text"]
    r = box.ok("process", {"action": "poll", "id": "p1"})
    assert r["output"].startswith("1\n") and r["more"] and "poll again" in r["text"]
    r = box.ok("process", {"action": "poll", "id": "p1"})
    assert r["output"].endswith("3000\n") and not r["more"] and "exited with code 4" in r["text"]
    # A flood: the log stays bounded, and poll says what was dropped.
    r = box.ok("bash", {"command": "yes 0123456789abcdef | head -c 40000000; sleep 0.5",
                        "background": True})
    assert wait_for(lambda: box.ok("process", {"action": "list"})["processes"][-1]["state"]
                    != "running", timeout=60, interval=0.1)
    assert os.path.getsize(box.out / "p2.log") <= 16 * MiB
    r = box.ok("process", {"action": "poll", "id": "p2"})
    assert "bytes of output were dropped" in r["text"]
    assert "were dropped" in box.ok("process", {"action": "log", "id": "p2"})["text"]
    # What a background command leaves in its group goes with it.
    box.ok("bash", {"command": "sleep 104 & echo left", "background": True})
    wait_poll(box, "p3", "left")
    assert not wait_gone("104")


def test_stopping_the_agent_stops_everything(tmp_path):
    base = tmp_path / "x"
    base.mkdir()
    agent = Agent(tmp_path)
    box = Box(agent, base)
    box.ok("bash", {"command": "sleep 105", "background": True})
    sock = box.send("bash", {"command": "sleep 106"})
    assert wait_for(lambda: alive("105") and alive("106"), timeout=5)
    assert agent.stop() == 0, agent.log_text()
    sock.close()
    assert not wait_gone("105") and not wait_gone("106")


def test_big_results_from_the_loop_wait_for_a_slow_host(box):
    # 50 KiB of control bytes are 300 KiB of JSON: more than a socket holds.
    box.ok("bash", {"command": "head -c 51200 /dev/zero | tr '\\0' '\\1'", "background": True})
    assert wait_for(lambda: box.ok("process", {"action": "list"})["processes"][0]["output_bytes"]
                    >= 51200)
    sock = box.send("process", {"action": "poll", "id": "p1"})
    # The scenario: the agent has begun its answer, which this socket cannot
    # hold whole, and meanwhile serves others.
    assert wait_for(lambda: unread(sock) > 0), "no answer begun"
    assert box.ok("process", {"action": "list"})["processes"][0]["id"] == "p1"
    r = read_result(sock)
    sock.close()
    assert r["output"] == "\x01" * 51200
