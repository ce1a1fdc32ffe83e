"""hutch tool: the host side of the agent tools, through the real binary —
tool policy, argument checking and clamping, the audit log, large writes
and reads with bounded memory, unsandboxed sessions. What each tool does
inside the sandbox is tested against the agent in test_agent_tools.py."""
import json
import os
import pathlib
import subprocess
import time

import pytest

from conftest import HUTCH, SANITIZED, one_line_error


def tool(sessions, key, name, args=None, *extra, **kw):
    proc = sessions.run("tool", key, name, *([json.dumps(args)] if args is not None else []),
                        *extra, **kw)
    assert proc.stdout, (proc.returncode, proc.stderr)
    return json.loads(proc.stdout), proc


def test_write_read_edit_bash_round_trip(sessions):
    result, proc = tool(sessions, "t", "write", {"path": "dir/a.txt", "content": "one\ntwo\n"})
    assert result["ok"] is True and proc.returncode == 0, result
    result, _ = tool(sessions, "t", "read", {"path": "dir/a.txt"})
    assert "one\ntwo" in result["text"], result
    result, _ = tool(sessions, "t", "edit", {"path": "dir/a.txt", "oldText": "two",
                                             "newText": "three"})
    assert result["ok"] is True and "-two" in result["diff"] and "+three" in result["diff"]
    result, _ = tool(sessions, "t", "bash", {"command": "cat dir/a.txt; exit 3"})
    assert result["exit_code"] == 3 and "three" in result["text"], result
    ws = pathlib.Path(sessions.status("t")["workspace"])
    assert (ws / "dir" / "a.txt").read_text() == "one\nthree\n"


def test_tools_in_a_session_with_tmpfs_options(sessions):
    """--tmpfs PATH:OPTIONS: PATH is a root the tools may use (the options
    were once taken for the path, and every call failed)."""
    sessions.run("session", "create", "tm", "--tmpfs", "/scratch:size=8m", check=0)
    result, _ = tool(sessions, "tm", "write", {"path": "/scratch/a.txt", "content": "x\n"})
    assert result["ok"] is True, result
    result, _ = tool(sessions, "tm", "read", {"path": "/scratch/a.txt"})
    assert result["ok"] is True and "x" in result["text"], result


def test_unknown_and_denied_tools(sessions, tmp_path):
    proc = sessions.run("tool", "t", "browser", "{}")
    assert proc.returncode == 125 and "unknown tool browser" in one_line_error(proc)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"sandbox": {"tools": {"deny": ["bash"]}}}))
    proc = sessions.run("tool", "t", "bash", '{"command": "id"}', "--config", str(config))
    assert proc.returncode == 125 and "not offered" in one_line_error(proc)
    config.write_text(json.dumps({"sandbox": {"tools": {"allow": ["read"], "deny": ["read"]}}}))
    proc = sessions.run("tool", "t", "read", '{"path": "x"}', "--config", str(config))
    assert proc.returncode == 125, "deny wins over allow"
    config.write_text(json.dumps({"sandbox": {"tools": {"allow": ["read"]}}}))
    proc = sessions.run("tool", "t", "write", '{"path": "x", "content": ""}', "--config", str(config))
    assert proc.returncode == 125


def test_arguments_cannot_change_the_policy(sessions):
    for args in ({"command": "id", "dangerouslyDisableSandbox": True},
                 {"command": "id", "network": "host"},
                 {"command": "id", "mounts": ["/:/host"]}):
        result, proc = tool(sessions, "t", "bash", args)
        assert result["ok"] is False and proc.returncode == 1
        assert "unknown argument" in result["error"] and "policy" in result["error"], result
    result, _ = tool(sessions, "t", "read", {"path": 7})
    assert result["ok"] is False and "must be a string" in result["error"]
    result, _ = tool(sessions, "t", "read", {})
    assert "arguments.path is required" in result["error"]
    proc = sessions.run("tool", "t", "read", "{not json")
    assert proc.returncode == 125 and "not valid JSON" in one_line_error(proc)


def test_timeout_is_clamped_to_the_policy(sessions, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"sandbox": {"limits": {"timeoutSeconds": 1}}}))
    start = time.monotonic()
    result, _ = tool(sessions, "t", "bash", {"command": "sleep 30", "timeout": 1000},
                     "--config", str(config))
    assert result.get("timed_out") is True, result
    assert time.monotonic() - start < 15


def test_audit_log(sessions):
    tool(sessions, "a", "write", {"path": "big.txt", "content": "x" * 5000})
    tool(sessions, "a", "bash", {"command": "echo hi"})
    tool(sessions, "a", "bash", {"command": "id", "network": "host"})
    proc = sessions.run("session", "log", "a", check=0)
    lines = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [line["tool"] for line in lines] == ["write", "bash", "bash"]
    assert lines[0]["args"]["content"] == {"bytes": 5000}
    assert lines[1]["ok"] is True and lines[1]["exit_code"] == 0
    assert lines[2]["ok"] is False and "unknown argument" in lines[2]["summary"]
    assert all(line["session"] == "a" and line["time"].endswith("Z") and
               line["duration_ms"] >= 0 for line in lines)
    follower = subprocess.Popen([HUTCH, "session", "log", "a", "--follow"], env=sessions.hutch.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(3):
            follower.stdout.readline()
        tool(sessions, "a", "read", {"path": "big.txt"})
        assert json.loads(follower.stdout.readline())["tool"] == "read"
    finally:
        follower.kill()
        follower.wait()


def test_one_gib_write_and_read_with_bounded_memory(sessions, tmp_path):
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq\n"  # 64 bytes
        chunk = line * (1 << 14)
        for _ in range((1 << 30) // len(chunk)):
            f.write(chunk)
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", HUTCH, "tool", "g", "write",
                           '{"path": "big.txt"}', "--content-from", str(big)],
                          env=sessions.hutch.env, capture_output=True, timeout=600)
    result = json.loads(proc.stdout)
    assert result["ok"] is True, result
    host_rss_kib = int(proc.stderr.decode().strip().splitlines()[-1])
    ws = pathlib.Path(sessions.status("g")["workspace"])
    assert (ws / "big.txt").stat().st_size == 1 << 30
    big.unlink()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", HUTCH, "tool", "g", "read",
                           '{"path": "big.txt", "offset": 1000000}'],
                          env=sessions.hutch.env, capture_output=True, timeout=600)
    result = json.loads(proc.stdout)
    assert result["ok"] is True
    assert len(result["text"].encode()) <= 51 * 1024 + 200
    assert "Showing lines 1000000-" in result["text"] and "of 16777216" in result["text"]
    if not SANITIZED:
        assert host_rss_kib < 32 * 1024, host_rss_kib
        assert int(proc.stderr.decode().strip().splitlines()[-1]) < 32 * 1024
        stats = json.loads(sessions.run("session", "stats", "g", "--json", check=0).stdout)
        assert stats["memory_bytes"] < 64 << 20


def test_unsandboxed_session_tools_stay_in_the_workspace(sessions, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"sandbox": {"mode": "off"}}))
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    result, _ = tool(sessions, "h", "write", {"path": "in.txt", "content": "x"},
                     "--config", str(config))
    assert result["ok"] is True, result
    ws = pathlib.Path(sessions.status("h")["workspace"])
    assert (ws / "in.txt").read_text() == "x"
    for path in (str(outside), "../../outside.txt"):
        result, _ = tool(sessions, "h", "read", {"path": path}, "--config", str(config))
        assert result["ok"] is False and "secret" not in json.dumps(result), result
    os.symlink(outside, ws / "link")
    result, _ = tool(sessions, "h", "read", {"path": "link"}, "--config", str(config))
    assert result["ok"] is False and "secret" not in json.dumps(result), result
    result, _ = tool(sessions, "h", "bash", {"command": "pwd"}, "--config", str(config))
    assert result["text"].strip().endswith(ws.name), result
