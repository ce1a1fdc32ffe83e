"""Attacks on hutch mcp, the MCP server: what any process on the machine can
send to its HTTP port, and what a client can put in a message, on both
transports. Idle and slow connections (slowloris) must not lock a client
out, huge bodies must not take the server's memory, and values the JSON
library cannot hold must neither cost a request its answer nor be cut short
on their way to a tool. Runs as root and as an unprivileged user, and under
ASan/UBSan (memory ceilings then not checked). docs/mcp.md."""
import http.client
import json
import os
import pathlib
import re
import selectors
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import HUTCH, SANITIZED, wait_for

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {},
    "clientInfo": {"name": "pytest", "version": "1.0"}}}


class Server:
    """hutch mcp --http 0, with a protocol session of its own."""

    def __init__(self, sessions, key):
        self.proc = subprocess.Popen(
            [HUTCH, "mcp", "--session", key, "--http", "0"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(sessions.hutch.env))
        line = self.proc.stderr.readline().decode()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/mcp", line)
        assert match, line
        self.port = int(match.group(1))
        self.stderr = []
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()
        status, body, headers = self.post(INIT, session=None)
        assert status == 200, (status, body)
        self.session = headers["mcp-session-id"]

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace"))

    def post(self, message, session="default", timeout=10, headers=None):
        """One POST: (status, parsed body or raw bytes, lower-cased headers)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if session == "default":
            session = getattr(self, "session", None)
        if session:
            h["Mcp-Session-Id"] = session
        h.update(headers or {})
        body = message if isinstance(message, bytes) else json.dumps(message).encode()
        try:
            conn.request("POST", "/mcp", body=body, headers=h)
            resp = conn.getresponse()
            payload = resp.read()
        finally:
            conn.close()
        try:
            payload = json.loads(payload)
        except ValueError:
            pass
        return resp.status, payload, {k.lower(): v for k, v in resp.getheaders()}

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def status_field(self, name):
        text = pathlib.Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"^{name}:\s+(\d+)", text, re.M).group(1))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=30) == 0, "".join(self.stderr)[-3000:]
        self.reader.join(timeout=10)  # it ends at the end of the server's stderr


@pytest.fixture
def server(sessions):
    servers = []

    def start(key="mcp-attack"):
        s = Server(sessions, key)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


class Attacker:
    """Holds connections open on a thread of its own, and opens them again as
    the server drops them, as a patient attacker would: `idle` that send
    nothing, `trickle` that send their headers one byte every `every`
    seconds (slowloris), `slow_body` that send whole headers announcing a
    small body and then trickle it, and `large_body` that announce 1 MiB and
    trickle that."""

    HEADERS = (b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"X-Padding: " + b"a" * 4000 + b"\r\n\r\n")

    def __init__(self, port, idle=0, trickle=0, slow_body=0, large_body=0, every=0.5):
        self.port = port
        self.every = every
        self.wanted = ([("idle", b"")] * idle + [("trickle", self.HEADERS)] * trickle +
                       [("slow_body", self._with_length(100))] * slow_body +
                       [("large_body", self._with_length(1 << 20))] * large_body)
        self.opened = 0
        self.dropped = 0
        self.peak_open = 0
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run)

    @staticmethod
    def _with_length(n):
        return (b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n{" % n)

    def _open(self, sel, kind, script):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", self.port))
        # Whole headers go at once for the body tricklers: it is the body that is slow.
        state = {"kind": kind, "script": script, "sent": 0, "next": time.monotonic()}
        if kind in ("slow_body", "large_body"):
            state["sent"] = len(script) - 1
            state["pending"] = script[:-1]
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, state)
        self.opened += 1

    def _run(self):
        sel = selectors.DefaultSelector()
        try:
            for kind, script in self.wanted:
                self._open(sel, kind, script)
            self.ready.set()
            while not self.stop_event.is_set():
                now = time.monotonic()
                for key, events in sel.select(timeout=0.05):
                    s, st = key.fileobj, key.data
                    gone = False
                    if events & selectors.EVENT_READ:
                        try:
                            gone = s.recv(65536) == b""
                        except BlockingIOError:
                            pass
                        except OSError:
                            gone = True
                    if not gone and events & selectors.EVENT_WRITE:
                        try:
                            if st.get("pending"):
                                s.send(st.pop("pending"))
                            sel.modify(s, selectors.EVENT_READ, st)
                        except BlockingIOError:
                            pass
                        except OSError:
                            gone = True
                    if gone:
                        sel.unregister(s)
                        s.close()
                        self.dropped += 1
                        self._open(sel, st["kind"], st["script"])
                # One more byte from every trickling connection that is due.
                for key in list(sel.get_map().values()):
                    st = key.data
                    if st["kind"] == "idle" or now < st["next"] or "pending" in st:
                        continue
                    st["next"] = now + self.every
                    payload = st["script"][st["sent"]:st["sent"] + 1] or b" "
                    try:
                        key.fileobj.send(payload)
                        st["sent"] += 1
                    except OSError:
                        pass
                self.peak_open = max(self.peak_open, len(sel.get_map()))
        finally:
            for key in list(sel.get_map().values()):
                key.fileobj.close()
            sel.close()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(30), "the attacker could not open its connections"
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the attacker thread did not end"


def ping_latencies(server, seconds, every=0.5):
    """A legitimate client's pings for `seconds`: the time each took."""
    took = []
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
        started = time.monotonic()
        try:
            status, body, _ = server.post({"jsonrpc": "2.0", "id": f"p{n}", "method": "ping"},
                                          timeout=8)
            assert status == 200 and body == {"jsonrpc": "2.0", "id": f"p{n}", "result": {}}, (
                status, body)
            took.append(time.monotonic() - started)
        except (OSError, http.client.HTTPException) as e:
            took.append(f"failed: {e!r}")
        time.sleep(every)
    return took


def test_idle_and_slowloris_connections_do_not_lock_a_client_out(server):
    """Hundreds of connections that send nothing or trickle their headers (and
    some that trickle a body), kept up for longer than the server lets one
    wait: a client's requests are still answered within seconds, and when the
    attack ends nothing is left behind (descriptors, threads)."""
    s = server()
    baseline_fds = s.fds()
    baseline_threads = s.status_field("Threads")
    with Attacker(s.port, idle=300, trickle=300, slow_body=40, large_body=10) as attack:
        assert wait_for(lambda: attack.peak_open >= 600, timeout=20), attack.peak_open
        took = ping_latencies(s, seconds=14)
        fds_during = s.fds()
        threads_during = s.status_field("Threads")
        rss_during = s.status_field("VmRSS")
    failed = [t for t in took if isinstance(t, str)]
    assert not failed, failed[:3]
    assert max(took) < 3.0, sorted(took)[-5:]
    # The attack was real: it held hundreds of connections and the server
    # dropped them (the oldest for room, the rest at the deadline).
    assert attack.opened >= 650 and attack.dropped >= 300, (attack.opened, attack.dropped)
    # Bounded while it lasted: a table entry per waiting connection, not a thread.
    assert fds_during < baseline_fds + 256 + 128 + 32, fds_during
    assert threads_during < baseline_threads + 64, threads_during
    if not SANITIZED:
        assert rss_during < 128 * 1024, f"RSS {rss_during} KiB under attack"
    # And nothing leaks once it is over.
    assert wait_for(lambda: s.fds() <= baseline_fds + 2, timeout=20), (s.fds(), baseline_fds)
    assert wait_for(lambda: s.status_field("Threads") <= baseline_threads + 2, timeout=20)
    assert ping_latencies(s, seconds=1)[0] < 1.0


def test_a_connection_that_never_finishes_its_request_is_closed(server):
    """Headers sent a byte at a time, more slowly than the deadline allows:
    the server closes the connection (10 s), however steady the trickle."""
    s = server()
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    sock.settimeout(0.5)
    started = time.monotonic()
    closed_after = None
    sent = 0
    while closed_after is None and time.monotonic() - started < 25:
        try:
            sock.send(Attacker.HEADERS[sent % 200:sent % 200 + 1])
            sent += 1
            data = sock.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            data = b""
        if data == b"":
            closed_after = time.monotonic() - started
    sock.close()
    assert sent >= 15, sent
    assert closed_after is not None and 9 <= closed_after <= 13, closed_after


def test_huge_bodies_do_not_take_the_servers_memory(server):
    """Thirty clients each send a 15 MiB message at once and hold back its last
    byte: the server takes four of them in (503 for the rest) instead of
    holding 450 MiB, and still answers a small request meanwhile."""
    s = server()
    pad = b"x" * (15 << 20)
    message = (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"' + pad + b'"}}')
    head = (b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Accept: application/json\r\nMcp-Session-Id: " + s.session.encode() +
            b"\r\nContent-Length: %d\r\n\r\n" % len(message))
    answers = {}
    held = threading.Semaphore(0)
    release = threading.Event()

    def client(i):
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=60)
        try:
            try:
                sock.sendall(head + message[:-1])
            finally:
                held.release()
            assert release.wait(60)
            sock.sendall(message[-1:])
            answers[i] = sock.recv(65536).split(b" ", 2)[1]
        except OSError as e:
            answers[i] = repr(e)
        finally:
            sock.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    try:
        # Once every client has sent all but its last byte (or been turned away):
        for _ in threads:
            assert held.acquire(timeout=60), "a client could not send its body"
        status, body, _ = s.post({"jsonrpc": "2.0", "id": "small", "method": "ping"}, timeout=5)
    finally:
        release.set()  # the clients end even when the test does not get this far
        for t in threads:
            t.join(timeout=60)
    assert status == 200 and body["result"] == {}, (status, body)
    assert not [t for t in threads if t.is_alive()]
    served = [a for a in answers.values() if a == b"200"]
    refused = [a for a in answers.values() if a != b"200"]
    assert len(served) >= 4 and len(refused) >= 20, answers
    if not SANITIZED:
        peak = s.status_field("VmHWM")
        assert peak < 200 * 1024, f"peak RSS {peak} KiB with 30 huge bodies"
    # Once they are gone, one is taken in again.
    status, body, _ = s.post(message.replace(b'"id":1', b'"id":"again"'), timeout=30)
    assert status == 200 and body["id"] == "again", status


# ---- values the JSON library cannot hold -----------------------------------------------------

BIG = 18446744073709551616  # 2^64


def unreadable_cases():
    """(raw message, the id it must be answered with, the error code)."""
    call = '"method":"tools/call","params":{"name":"bash","arguments":{"command":"echo hi"%s}}}'
    return [
        (('{"jsonrpc":"2.0","id":7,' + call % ',"timeout":%d') % BIG, 7, -32602),
        (('{"jsonrpc":"2.0","id":"s",' + call % ',"comm\\u0000and":1'), "s", -32602),
        (('{"jsonrpc":"2.0","id":8,' + call % ',"x":"\\ud800"'), 8, -32602),
        ('{"jsonrpc":"2.0","id":9,"method":"ping","x":%d}' % BIG, 9, -32600),
        ('{"jsonrpc":"2.0","id":10,"method":"ping","x":1e400}', 10, -32600),
        ('{"jsonrpc":"2.0","id":11,"method":"ping\\u0000x"}', 11, -32600),
        ('{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"bash\\u0000x",'
         '"arguments":{"command":"echo hi"}}}', 12, -32602),
        ('{"jsonrpc":"2.0","id":%d,"method":"ping"}' % BIG, None, -32600),
    ]


def run_stdio(sessions, lines, key="mcp-nul"):
    proc = subprocess.run([HUTCH, "mcp", "--session", key], input="\n".join(lines).encode() + b"\n",
                          capture_output=True, env=dict(sessions.hutch.env), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_unreadable_values_keep_the_request_id_on_stdio(sessions):
    cases = unreadable_cases()
    init = json.dumps(INIT)
    answers = run_stdio(sessions, [init] + [c[0] for c in cases])
    assert answers[0]["id"] == 1 and "result" in answers[0]
    assert len(answers) == len(cases) + 1, answers
    for (line, id, code), answer in zip(cases, answers[1:]):
        assert answer["id"] == id and answer["error"]["code"] == code, (line, answer)


def test_unreadable_values_keep_the_request_id_over_http(server):
    s = server()
    for line, id, code in unreadable_cases():
        status, body, _ = s.post(line.encode())
        # A request whose id can be read is answered like any other; the rest is a 400.
        assert status == (200 if id is not None else 400), (line, status, body)
        assert body["id"] == id and body["error"]["code"] == code, (line, body)


def test_a_nul_cannot_cut_a_command_path_or_tool_name_short(sessions, server):
    """A C string ends at a NUL: "touch marker\\u0000-never" must not run as
    "touch marker". Commands, paths and names with a NUL are refused; file
    content carries it as data."""
    init = json.dumps(INIT)

    def call(id, name, arguments):
        return json.dumps({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                           "params": {"name": name, "arguments": arguments}})

    answers = run_stdio(sessions, [
        init,
        call(2, "bash", {"command": "touch /workspace/marker\u0000-never"}),
        call(3, "bash", {"command": "true", "workdir": "/workspace\u0000/../etc"}),
        call(4, "write", {"path": "written\u0000.sh", "content": "x"}),
        call(5, "write", {"path": "data.bin", "content": "a\u0000b"}),
        call(7, "bash\u0000", {"command": "touch /workspace/marker"}),
        call(8, "bash", {"command": "echo ok", "env": {"X": "a\u0000b"}}),
    ])
    # Calls run at once (docs/mcp.md): what they left is looked at after all ended.
    answers += run_stdio(sessions, [
        init, call(6, "bash", {"command": "od -An -c /workspace/data.bin; ls /workspace"})])
    by_id = {a["id"]: a for a in answers}
    for id in (2, 3, 4, 8):
        result = by_id[id]["result"]
        assert result["isError"] is True and "NUL" in result["content"][0]["text"], by_id[id]
    assert by_id[5]["result"]["isError"] is False, by_id[5]
    assert by_id[7]["error"]["code"] == -32602, by_id[7]
    listing = by_id[6]["result"]["structuredContent"]["text"]
    assert "a  \\0   b" in listing, listing
    assert "marker" not in listing and "written" not in listing, listing
    # Over HTTP, the same refusal.
    s = server("mcp-nul-http")
    status, body, _ = s.post(call(9, "bash", {"command": "touch /workspace/marker\u0000-never"}).encode())
    assert status == 200 and body["result"]["isError"] is True, body
