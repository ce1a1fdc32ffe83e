"""Agent tools in a container hutch did not make (--sandbox docker:NAME), as a
chat bot's operator makes it: `docker run -d --name NAME -v DATA:/workspace
IMAGE tail -f /dev/null` (harness shape 1). The same tool tests run against
a docker session hutch made and against that adopted container: all five
tools, session shell on a pty, session stats and hutch mcp; and the
container is never removed, restarted or changed beyond what the tools
wrote. On Docker, and in the Podman pass of scripts/test.sh.
docs/docker.md, "Tools in adopted containers"."""
import hashlib
import json
import os
import pathlib
import pty
import select
import time

import pytest

from conftest import HUTCH, Sessions
from helpers import (BUSYBOX, engine, is_podman, own_containers, read_pty, remove_containers,
                     wait_for)
from test_mcp import Mcp

pytestmark = pytest.mark.usefixtures("docker_engine")  # tests/conftest.py

PREFIX = f"hutch-ad{os.getpid()}-"


def operator_container(name, data):
    """docker run -d --name NAME -v DATA:/workspace BUSYBOX tail -f /dev/null,
    through the Engine API."""
    engine("DELETE", f"/containers/{name}?force=true")
    engine("POST", f"/containers/create?name={name}",
           {"Image": BUSYBOX, "Cmd": ["tail", "-f", "/dev/null"],
            "HostConfig": {"Binds": [f"{data}:/workspace"]}}, expect=201)
    engine("POST", f"/containers/{name}/start", expect=204)
    return engine("GET", f"/containers/{name}/json", expect=200)[1]


class Box:
    """A session to call tools in, and where its /workspace is on the host."""

    def __init__(self, sessions, key, workspace, container=None):
        self.sessions, self.key, self.workspace, self.container = sessions, key, workspace, container

    def tool(self, name, args, *extra, **kw):
        proc = self.sessions.run("tool", self.key, name, json.dumps(args), *extra, **kw)
        assert proc.stdout, (proc.returncode, proc.stderr)
        return json.loads(proc.stdout)

    def ok(self, name, args, *extra, **kw):
        result = self.tool(name, args, *extra, **kw)
        assert result["ok"] is True, result
        return result


@pytest.fixture(params=["session", "adopted"])
def box(request, hutch, tmp_path):
    """The same tests on a docker session hutch made and on an operator's
    container adopted by hutch."""
    sessions = Sessions(hutch, tmp_path)
    config = tmp_path / "docker.json"
    config.write_text(json.dumps({"sandbox": {"backend": "docker", "docker": {
        "containerPrefix": PREFIX, "image": BUSYBOX}}}))
    name = f"hutch-adopted-{os.getpid()}-{request.node.name[-40:].replace('[', '-').strip(']')}"
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)
    try:
        if request.param == "adopted":
            before = operator_container(name, data)
            sessions.run("session", "create", "box", "--sandbox", f"docker:{name}", check=0)
            b = Box(sessions, "box", data, container=name)
        else:
            sessions.run("session", "create", "box", "--config", str(config), check=0)
            b = Box(sessions, "box", pathlib.Path(sessions.status("box")["workspace"]))
        yield b
        if b.container:
            # Never removed, stopped or restarted; nothing of hutch's left.
            sessions.run("session", "rm", "box", check=0)
            after = engine("GET", f"/containers/{name}/json", expect=200)[1]
            assert after["Id"] == before["Id"] and after["State"]["Running"] is True
            assert after["State"]["StartedAt"] == before["State"]["StartedAt"]
            assert after["RestartCount"] == before["RestartCount"]
            left = hutch.run("run", "--sandbox", f"docker:{name}", "--", "sh", "-c",
                             "ls -a /tmp; ps -o args", check=0).stdout.decode()
            assert "hutch-agent" not in left and "hutch-init" not in left, left
    finally:
        sessions.cleanup()
        remove_containers(own_containers(paths=[sessions.state], kind="session"))
        engine("DELETE", f"/containers/{name}?force=true")


def test_write_read_edit_bash(box):
    result = box.ok("write", {"path": "dir/a.txt", "content": "one\ntwo\n"})
    assert result["bytes"] == 8
    assert "one\ntwo" in box.ok("read", {"path": "dir/a.txt"})["text"]
    result = box.ok("edit", {"path": "dir/a.txt", "oldText": "two", "newText": "three"})
    assert "-two" in result["diff"] and "+three" in result["diff"], result
    result = box.ok("bash", {"command": "pwd; cat dir/a.txt; exit 3"})
    assert result["exit_code"] == 3 and result["text"].startswith("/workspace\none\nthree\n"), result
    assert (box.workspace / "dir" / "a.txt").read_text() == "one\nthree\n"


def test_tool_failures_are_results(box):
    assert "outside" in box.tool("read", {"path": "/etc/passwd"})["error"]
    assert box.tool("read", {"path": "../../etc/passwd"})["ok"] is False
    assert box.tool("edit", {"path": "nope.txt", "oldText": "a", "newText": "b"})["ok"] is False
    result = box.tool("bash", {"command": "id", "network": "host"})
    assert result["ok"] is False and "unknown argument" in result["error"]


def test_write_streams_large_content(box, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"0123456789abcdef" * (256 * 1024))  # 4 MiB
    result = box.ok("write", {"path": "big.txt"}, "--content-from", str(big))
    assert result["bytes"] == 4 << 20, result
    result = box.ok("bash", {"command": "wc -c < big.txt; md5sum big.txt | cut -c1-32"})
    assert result["text"].split() == [str(4 << 20), hashlib.md5(big.read_bytes()).hexdigest()]


def test_bash_timeout_and_env(box):
    result = box.ok("bash", {"command": "sleep 20", "timeout": 1})
    assert result["timed_out"] is True, result
    result = box.ok("bash", {"command": "echo $GREETING", "env": {"GREETING": "hej"}})
    assert result["text"] == "hej\n"


def test_background_processes_between_calls(box):
    result = box.ok("bash", {"command": "echo started; read line; echo got $line; sleep 30",
                             "background": True})
    pid = result["id"]
    assert wait_for(lambda: "started" in box.ok("process", {"action": "log", "id": pid})["text"],
                    20)
    box.ok("process", {"action": "write", "id": pid, "data": "ping\n"})
    assert wait_for(lambda: "got ping" in box.ok("process", {"action": "log", "id": pid})["text"],
                    20)
    listed = box.ok("process", {"action": "list"})
    assert [p["state"] for p in listed["processes"] if p["id"] == pid] == ["running"]
    box.ok("process", {"action": "kill", "id": pid})
    assert wait_for(lambda: box.ok("process", {"action": "poll", "id": pid}).get("state")
                    != "running", 20)


def test_exec_starts_in_the_workspace(box):
    result, _ = box.sessions.exec_json(box.key, "--", "pwd")
    assert result["stdout"] == "/workspace\n", result
    if box.container:
        proc = box.sessions.run("run", "--sandbox", f"docker:{box.container}", "--", "pwd",
                                check=0)
        assert proc.stdout == b"/workspace\n"


def test_session_shell_on_a_pty(box):
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(HUTCH, [HUTCH, "session", "shell", box.key], box.sessions.hutch.env)
    deadline = time.monotonic() + 30
    # Typed at the prompt, as a person would.
    out = read_pty(fd, b"", lambda o: b"# " in o or b"$ " in o, deadline)
    os.write(fd, b"[ -t 0 ] && echo on-a-terminal; echo shell-$((6*7)); pwd\n")
    out = read_pty(fd, out, lambda o: b"shell-42\r\n/workspace" in o, deadline)
    os.write(fd, b"exit 7\n")
    out = read_pty(fd, out, deadline=deadline)
    _, status = os.waitpid(pid, 0)
    text = out.replace(b"\r", b"")
    assert b"shell-42" in out and b"\non-a-terminal" in text, out
    assert b"\n/workspace\n" in text, out
    assert os.WEXITSTATUS(status) == 7


def test_session_stats(box):
    box.ok("bash", {"command": "sleep 30", "background": True})
    proc = box.sessions.run("session", "stats", box.key, "--json", check=0)
    stats = json.loads(proc.stdout)
    assert stats["pids"] >= 2 and stats["memory_bytes"] > 0, stats


def test_mcp_tools_call(box):
    mcp = Mcp(box.sessions, key=box.key)
    try:
        mcp.initialize()
        result = mcp.call("write", {"path": "m.txt", "content": "via mcp\n"})
        assert result.get("isError") is not True, result
        result = mcp.call("bash", {"command": "cat m.txt; pwd"})
        assert "via mcp\n/workspace" in result["content"][0]["text"], result
        assert mcp.close() == 0
    finally:
        mcp.kill()


@pytest.mark.skipif(is_podman(), reason="same on Podman; once is enough")
def test_a_tool_call_in_an_adopted_container_costs_about_what_a_session_call_does(box):
    """Not a benchmark: the relay's exec must not make calls slow."""
    box.ok("bash", {"command": "true"})
    start = time.monotonic()
    for _ in range(5):
        box.ok("bash", {"command": "true"})
    assert (time.monotonic() - start) / 5 < 2.0


def test_unread_input_never_costs_output(hutch, tmp_path):
    """200 short commands in an adopted container, each given input that it
    never reads: exit status, stdout and stderr (binary, both streams) byte
    for byte every time, with no warning; and nothing left in /tmp. Podman
    lost output this way when the input shared the command's connection
    (docs/docker.md, "Podman"). Runs through hutch run --sandbox and, one in
    four, hutch exec in an adopted session (both make an exec)."""
    name = f"hutch-unread-{os.getpid()}"
    data = tmp_path / "data"
    data.mkdir()
    sessions = Sessions(hutch, tmp_path)
    script = "printf 'out %s\\0\\377\\n' \"$0\"; printf 'err %s\\001\\n' \"$0\" >&2; exit 3"
    wrong = []
    try:
        operator_container(name, data)
        sessions.run("session", "create", "ad", "--sandbox", f"docker:{name}", check=0)
        for i in range(200):
            given = bytes([i]) * (1 + (i % 8) * 40000)  # up to 280 KB, none of it read
            if i % 4 == 3:
                proc = sessions.run("exec", "ad", "--stdin", "--", "sh", "-c", script, str(i),
                                    input=given)
            else:
                proc = hutch.run("run", "--sandbox", f"docker:{name}", "--stdin", "--", "sh", "-c",
                                 script, str(i), input=given)
            want = (3, f"out {i}\0\377\n".encode("latin-1"), f"err {i}\1\n".encode())
            if (proc.returncode, proc.stdout, proc.stderr) != want:
                wrong.append((i, proc.returncode, proc.stdout[-300:], proc.stderr[-300:]))
        left = hutch.run("run", "--sandbox", f"docker:{name}", "--", "ls", "-a", "/tmp",
                         check=0).stdout.decode().split()
        assert [f for f in left if f not in (".", "..")] == [], left
    finally:
        sessions.cleanup()
        engine("DELETE", f"/containers/{name}?force=true")
    assert wrong == [], f"{len(wrong)} of 200 wrong: {wrong[:3]}"
