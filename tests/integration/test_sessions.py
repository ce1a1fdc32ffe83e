"""Sessions on the native backend, through the real binary: the lifecycle,
state records and locking, recreation, setupCommand, modes, prune, the
agent going away, and isolation between sessions. Runs as root and as an
unprivileged user (scripts/test.sh). Docker sessions: test_docker_sessions.py."""
import concurrent.futures
import json
import os
import pathlib
import pty
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import HUTCH, ROOT, age, alive, one_line_error, wait_for
from helpers import build_library_program, read_pty


def test_exec_creates_the_session_and_it_persists(sessions):
    result, _ = sessions.exec_json("chat-1", "--", "sh", "-c", "echo kept > /tmp/mark; "
                                   "echo ws > /workspace/file; hostname")
    assert result["exit_code"] == 0 and result["stdout"] == "hutch\n", result
    assert result["backend"] == "native" and result["isolated"] is True
    status = sessions.status("chat-1")
    assert status["state"] == "running" and status["backend"] == "native"
    assert status["exec_count"] == 1
    workspace = pathlib.Path(status["workspace"])
    assert workspace.parent == sessions.state / "workspaces"
    assert workspace.name.startswith("chat-1-") and (workspace / "file").read_text() == "ws\n"
    # The same sandbox serves the next call: /tmp is still there.
    result, _ = sessions.exec_json("chat-1", "--", "cat", "/tmp/mark", "/workspace/file")
    assert result["stdout"] == "kept\nws\n", result
    assert sessions.status("chat-1")["exec_count"] == 2
    assert sessions.status("chat-1")["init_pid"] == status["init_pid"]


def test_use_is_counted_without_rewriting_the_record(sessions):
    """A command writes its use to the session's lock file, not record.json;
    the record takes what it says, and ignores it when it is not a use."""
    sessions.run("exec", "u", "--", "true", check=0)
    record = sessions.record_path("u")
    before = record.stat().st_ino, record.read_bytes()
    for _ in range(3):
        sessions.run("exec", "u", "--", "true", check=0)
    status = sessions.status("u")
    assert status["exec_count"] == 4 and time.time() - status["last_used_at"] < 60, status
    assert (record.stat().st_ino, record.read_bytes()) == before
    lock = record.parent / "lock"
    assert lock.stat().st_size == 42 and lock.read_text().split()[0] == "4"
    for junk in ("", "garbage", " " * 41 + "\n", "9" * 100, "-5 -5".rjust(41) + "\n"):
        lock.write_text(junk)
        assert sessions.status("u")["exec_count"] == json.loads(record.read_text())["exec_count"]
    # A changed record (here: a stopped sandbox) is written whole again.
    sessions.run("session", "stop", "u", check=0)
    sessions.run("exec", "u", "--", "true", check=0)
    assert json.loads(record.read_text())["state"] == "running"
    assert sessions.status("u")["exec_count"] >= 1


def cpus_of(pid="self"):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no Cpus_allowed_list for {pid}")


MANY_CPUS = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                               reason="the CPU pin is skipped with one CPU")


@MANY_CPUS
def test_commands_get_every_cpu_of_the_session(sessions):
    """hutch and the agent keep a command's start on one CPU (docs/sessions.md,
    "Where commands run"), but the command gets back the agent's CPUs before
    its exec: never a pinned command, nor a pinned `nproc`. What a command
    asks for itself (taskset) stands: nothing re-widens it afterwards."""
    mine = cpus_of()
    first = sorted(os.sched_getaffinity(0))[0]
    for _ in range(40):
        result, _ = sessions.exec_json("cpus", "--", "grep", "Cpus_allowed_list",
                                       "/proc/self/status")
        assert result["stdout"].split(":", 1)[1].strip() == mine, result
        result, _ = sessions.exec_json("cpus", "--", "taskset", "-c", str(first), "grep",
                                       "Cpus_allowed_list", "/proc/self/status")
        assert result["stdout"].split(":", 1)[1].strip() == str(first), result
    result, _ = sessions.exec_json("cpus", "--", "nproc")
    assert int(result["stdout"]) == len(os.sched_getaffinity(0)), result
    # The agent itself is back on all of them between commands.
    assert cpus_of(sessions.status("cpus")["init_pid"]) == mine


def test_output_is_whole_and_the_agent_keeps_no_descriptor(sessions):
    """The agent holds a run's output pipes until it reports the exit, so
    that hutch wakes once: all a command wrote before it exited is still
    read, however much, and the agent closes them with the report (its
    descriptors are as many after 30 commands as before)."""
    sessions.run("exec", "fds", "--", "true", check=0)
    fd_dir = pathlib.Path(f"/proc/{sessions.status('fds')['init_pid']}/fd")
    # The agent is not dumpable: only root reads its descriptors from outside.
    before = len(list(fd_dir.iterdir())) if ROOT else None
    for size in (0, 1, 65536, 300000):
        result, _ = sessions.exec_json("fds", "-c", f"head -c {size} /dev/zero | tr '\\0' x; "
                                       f"head -c {size} /dev/zero | tr '\\0' y >&2")
        assert result["stdout"] == "x" * size and result["stderr"] == "y" * size, (
            size, len(result["stdout"]), len(result["stderr"]))
    for _ in range(26):
        sessions.run("exec", "fds", "--", "true", check=0)
    if ROOT:
        assert len(list(fd_dir.iterdir())) == before


CPU_CALLER = r"""
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <hutch.h>

int main(void)
{
    hutch_error err;
    hutch_policy *policy = hutch_policy_new();
    if (hutch_policy_set(policy, "backend", "native", &err) < 0)
        return 1;
    cpu_set_t before, after;
    sched_getaffinity(0, sizeof before, &before);
    const char *argv[] = {"grep", "Cpus_allowed_list", "/proc/self/status", NULL};
    hutch_command cmd;
    hutch_command_init(&cmd);
    cmd.argv = argv;
    hutch_result result;
    for (int i = 0; i < 5; i++) {
        if (hutch_session_exec(policy, "cpu-caller", &cmd, &result, &err) < 0) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        printf("inside %s", result.out.data);
        hutch_result_free(&result);
        sched_getaffinity(0, sizeof after, &after);
        printf("caller %s\n", CPU_EQUAL(&before, &after) ? "same" : "changed");
    }
    hutch_session_remove("cpu-caller", 1, &err);
    hutch_policy_free(policy);
    return 0;
}
"""


@MANY_CPUS
def test_a_library_caller_gets_its_cpus_back(sessions, tmp_path):
    """hutch_session_exec keeps the calling thread on its CPU while the
    command runs, and gives it back the CPUs it had when it returns."""
    program = build_library_program(CPU_CALLER, tmp_path / "cpu-caller")
    proc = subprocess.run([program], capture_output=True, timeout=120, env=sessions.hutch.env)
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    assert lines == [f"inside Cpus_allowed_list:\t{cpus_of()}", "caller same"] * 5, lines


def test_stop_start_and_rm(sessions):
    sessions.run("session", "create", "k", check=0)
    sessions.run("exec", "k", "--", "sh", "-c", "echo t > /tmp/t; echo w > /workspace/w", check=0)
    init = sessions.status("k")["init_pid"]
    proc = sessions.run("session", "stop", "k", check=0)
    assert "stopped" in proc.stderr.decode()
    assert wait_for(lambda: not alive(init))
    assert sessions.status("k")["state"] == "stopped"
    # The next use starts a new sandbox over the same workspace.
    result, _ = sessions.exec_json("k", "-c", "cat /workspace/w; ls /tmp")
    assert result["stdout"] == "w\n", result
    sessions.run("session", "stop", "k", check=0)
    sessions.run("session", "start", "k", check=0)
    assert sessions.status("k")["state"] == "running"
    workspace = pathlib.Path(sessions.status("k")["workspace"])
    init = sessions.status("k")["init_pid"]
    proc = sessions.run("session", "rm", "k", check=0)
    assert "workspace kept" in proc.stderr.decode()
    assert wait_for(lambda: not alive(init))
    assert sessions.ls() == [] and (workspace / "w").exists()
    # --workspaces removes what hutch made.
    sessions.run("exec", "k", "--", "true", check=0)
    sessions.run("session", "rm", "k", "--workspaces", check=0)
    assert not workspace.exists()


def test_create_keeps_its_options_and_exec_refuses_them(sessions, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("from the host\n")
    if ROOT:
        os.chmod(tmp_path, 0o755)
        os.chmod(data, 0o755)
        os.chmod(data / "in.txt", 0o644)
    sessions.run("session", "create", "opts", "--ro", f"{data}:/data", "--pids", "64", check=0)
    result, _ = sessions.exec_json("opts", "--", "cat", "/data/in.txt")
    assert result["stdout"] == "from the host\n", result
    proc = sessions.run("session", "create", "opts")
    assert proc.returncode == 125 and "already exists" in one_line_error(proc)
    proc = sessions.run("exec", "opts", "--memory", "1g", "--", "true")
    line = one_line_error(proc)
    assert proc.returncode == 125 and "--memory" in line and "session create" in line, line
    # Per-run options are fine.
    result, _ = sessions.exec_json("opts", "--env", "X=1", "--workdir", "/data", "--", "sh", "-c",
                                   "echo $X; pwd")
    assert result["stdout"] == "1\n/data\n", result


def test_results_exit_codes_and_timeout(sessions):
    result, proc = sessions.exec_json("r", "-c", "echo out; echo err >&2; exit 3")
    assert (result["exit_code"], result["stdout"], result["stderr"]) == (3, "out\n", "err\n")
    assert proc.returncode == 3
    result, _ = sessions.exec_json("r", "--", "no-such-command")
    assert result["exit_code"] == 127
    result, _ = sessions.exec_json("r", "-c", "kill -TERM $$")
    assert result["exit_code"] == 143 and result["signal"] == 15
    start = time.monotonic()
    result, _ = sessions.exec_json("r", "--timeout", "1", "-c", "sleep 30 & sleep 30")
    assert result["timed_out"] is True and result["exit_code"] == 124
    assert time.monotonic() - start < 10
    # Nothing of the run is left in the session.
    result, _ = sessions.exec_json("r", "-c", "ps -eo comm | grep -c sleep || true")
    assert result["stdout"].strip() == "0", result
    # Live mode: straight to our pipes, hutch exits with the status.
    proc = sessions.run("exec", "r", "--", "sh", "-c", "echo live; exit 5")
    assert proc.returncode == 5 and proc.stdout == b"live\n"
    # stdin passes through only when asked.
    proc = sessions.run("exec", "r", "--stdin", "--", "cat", input=b"piped\n")
    assert proc.stdout == b"piped\n"
    proc = sessions.run("exec", "r", "--", "cat", input=b"not passed\n")
    assert proc.stdout == b""


def test_output_limit_applies(sessions):
    result, _ = sessions.exec_json("big", "--output-limit", "1000", "-c", "head -c 1000000 /dev/zero")
    assert result["stdout_truncated"] is True and result["stdout_bytes"] == 1000000
    assert len(result["stdout"]) == 1000


def test_bad_input_is_refused_with_one_line(sessions):
    for args, words in [
        (("exec",), "session key"),
        (("exec", "k"), "nothing to run"),
        (("exec", "bad\x01key", "--", "true"), "control character"),
        (("session", "frobnicate", "k"), "unknown session command"),
        (("session", "status", "nope"), "no session nope"),
        (("session", "stop", "nope"), "no session nope"),
        (("session", "create"), "needs a session key"),
        (("session", "rm", "k", "--bogus"), "--bogus"),
        (("prune", "--bogus"), "--bogus"),
    ]:
        proc = sessions.run(*args)
        line = one_line_error(proc)
        assert proc.returncode == 125 and words in line, (args, line)


def test_config_change_recreates_with_a_notice(sessions, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"sandbox": {"filesystem": {"tmpfs": ["/scratch"]}}}))
    sessions.run("exec", "cfg", "--config", str(config), "--", "sh", "-c",
                 "echo 1 > /tmp/t; echo w > /workspace/w; test -d /scratch", check=0)
    first = sessions.status("cfg")["init_pid"]
    # Unchanged: the same sandbox, no notice.
    proc = sessions.run("exec", "cfg", "--", "cat", "/tmp/t", check=0)
    assert proc.stderr == b""
    config.write_text(json.dumps({"sandbox": {"filesystem": {"tmpfs": ["/other"]}}}))
    proc = sessions.run("exec", "cfg", "--", "sh", "-c",
                        "cat /workspace/w; test -d /other && ! test -e /tmp/t", check=0)
    assert proc.stdout == b"w\n"
    assert "configuration of session cfg changed" in proc.stderr.decode()
    assert sessions.status("cfg")["init_pid"] != first
    assert wait_for(lambda: not alive(first))


def test_setup_command_runs_once_and_failure_is_recorded(sessions, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"sandbox": {
        "setupCommand": "echo ran >> /workspace/setup.log"}}))
    for _ in range(3):
        sessions.run("exec", "setup", "--config", str(config), "--", "true", check=0)
    ws = pathlib.Path(sessions.status("setup")["workspace"])
    assert (ws / "setup.log").read_text() == "ran\n"

    config.write_text(json.dumps({"sandbox": {
        "setupCommand": "echo missing-package >&2; exit 3"}}))
    proc = sessions.run("session", "create", "broken-setup", "--config", str(config))
    line = one_line_error(proc)
    assert proc.returncode == 125
    assert "setupCommand failed with exit code 3" in line and "missing-package" in line, line
    status = sessions.status("broken-setup")
    assert status["state"] == "failed" and "missing-package" in status["failure"]
    assert "init_pid" not in status or not alive(status["init_pid"])
    # Never half-ready: exec does not run in it, it tries again and says why.
    proc = sessions.run("exec", "broken-setup", "--", "echo", "ran")
    assert proc.returncode == 125 and b"ran" not in proc.stdout
    assert "missing-package" in one_line_error(proc)


def test_32_concurrent_execs_on_one_session(sessions):
    """All succeed, one sandbox serves them, and every use is counted."""
    procs = [subprocess.Popen([HUTCH, "exec", "many", "--json", "--", "sh", "-c", f"echo {i}"],
                              env=sessions.hutch.env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(32)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for i, (p, (out, err)) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, (i, out, err)
        assert json.loads(out)["stdout"] == f"{i}\n"
    status = sessions.status("many")
    assert status["exec_count"] == 32, status
    assert len(sessions.ls()) == 1


def test_the_agent_killed_is_reported_and_recovered(sessions):
    sessions.run("exec", "victim", "--", "sh", "-c", "echo w > /workspace/w", check=0)
    init = sessions.status("victim")["init_pid"]
    os.kill(init, signal.SIGKILL)
    assert wait_for(lambda: not alive(init))
    status = sessions.status("victim")
    assert status["state"] == "broken", status
    assert "gone" in status["detail"]
    proc = sessions.run("exec", "victim", "--", "cat", "/workspace/w", check=0)
    assert proc.stdout == b"w\n"
    assert "broken" in proc.stderr.decode() and "restarting" in proc.stderr.decode()
    assert sessions.status("victim")["state"] == "running"


def agent_message(type_, fields=b""):
    return struct.pack("=IHHI", 0x48435448, 1, type_, len(fields)) + fields


def test_malformed_agent_requests_do_not_hurt_the_session(sessions):
    sessions.run("exec", "m", "--", "true", check=0)
    path = sessions.status("m")["socket"]
    bad = [
        b"garbage that is not a message at all",
        struct.pack("=IHHI", 0xdeadbeef, 1, 1, 0),
        struct.pack("=IHHI", 0x48435448, 99, 1, 0),
        struct.pack("=IHHI", 0x48435448, 1, 2, 0x7fffffff),
        agent_message(77),
        agent_message(2, struct.pack("=HHI", 1, 0, 100) + b"short"),
    ]
    # Through an O_PATH descriptor, as hutch does: the path may be longer
    # than a socket address can hold.
    path_fd = os.open(path, os.O_PATH)
    for payload in bad:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(f"/proc/self/fd/{path_fd}")
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
    os.close(path_fd)
    result, _ = sessions.exec_json("m", "--", "echo", "still serving")
    assert result["stdout"] == "still serving\n"
    assert sessions.status("m")["state"] == "running"


def test_two_sessions_see_nothing_of_each_other(sessions):
    sessions.run("exec", "alice", "-c", "echo secret > /workspace/alice.txt; "
                 "echo tmp > /tmp/alice-tmp; setsid sleep 300 >/dev/null 2>&1 & sleep 0.3", check=0)
    a = sessions.status("alice")
    result, _ = sessions.exec_json("bob", "-c", "ls -a /workspace /tmp; ps -eo comm")
    out = result["stdout"]
    assert "alice" not in out and "sleep" not in out, out
    # Alice's host paths do not exist in Bob's sandbox at all.
    for path in (a["workspace"], a["state_dir"], a["socket"]):
        result, _ = sessions.exec_json("bob", "--", "ls", path)
        assert result["exit_code"] != 0 and "No such file" in result["stderr"], result
    # Alice's own sleep is still there: it was hers, not killed by Bob's run.
    result, _ = sessions.exec_json("alice", "-c", "ps -eo comm | grep -c sleep")
    assert result["stdout"].strip() == "1", result
    # Bob cannot reach Alice's agent: only his own socket is in /.hutch.
    result, _ = sessions.exec_json("bob", "--", "ls", "/.hutch")
    assert result["stdout"] == "agent.sock\n"


def test_stats(sessions):
    sessions.run("exec", "st", "-c", "setsid sleep 300 >/dev/null 2>&1 & sleep 0.3", check=0)
    proc = sessions.run("session", "stats", "st", "--json", check=0)
    stats = json.loads(proc.stdout)
    assert stats["pids"] >= 2, stats
    assert stats["memory_bytes"] > 0 and stats["cpu_seconds"] >= 0
    proc = sessions.run("session", "stats", "st", check=0)
    assert b"pids" in proc.stdout and b"memory" in proc.stdout


def test_modes(sessions, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"sandbox": {"mode": "non-main", "mainSession": "main"}}))
    result, proc = sessions.exec_json("main", "--config", str(config), "--", "hostname")
    assert result["backend"] == "host" and result["isolated"] is False
    assert result["stdout"] == socket.gethostname() + "\n"
    assert "unsandboxed" in proc.stderr.decode()
    result, _ = sessions.exec_json("other", "--config", str(config), "--", "hostname")
    assert result["backend"] == "native" and result["stdout"] == "hutch\n"
    config.write_text(json.dumps({"sandbox": {"mode": "off"}}))
    result, _ = sessions.exec_json("loose", "--config", str(config), "--", "pwd")
    assert result["isolated"] is False
    assert result["stdout"].strip() == sessions.status("loose")["workspace"]
    config.write_text(json.dumps({"sandbox": {"perSession": False}}))
    sessions.run("exec", "a", "--config", str(config), "-c", "echo shared > /workspace/f", check=0)
    result, _ = sessions.exec_json("b", "--config", str(config), "--", "cat", "/workspace/f")
    assert result["stdout"] == "shared\n" and "shared" in [s["key"] for s in sessions.ls()]
    config.write_text(json.dumps({"sandbox": {"autoCreate": False}}))
    proc = sessions.run("exec", "unknown", "--config", str(config), "--", "true")
    assert proc.returncode == 125 and "hutch session create unknown" in one_line_error(proc)


def test_prune_idle_and_old(sessions):
    for key in ("fresh", "idle", "old"):
        sessions.run("exec", key, "--", "true", check=0)
    age(sessions, "idle", last_used_at=30)
    age(sessions, "old", created_at=8 * 24)
    inits = {s["key"]: s["init_pid"] for s in sessions.ls()}
    proc = sessions.run("prune", "--dry-run", check=0)
    out = proc.stdout.decode()
    assert "would prune idle: idle 30" in out and "would prune old" in out, out
    assert "fresh" not in out and len(sessions.ls()) == 3
    proc = sessions.run("prune", "--json", check=0)
    pruned = {p["key"] for p in json.loads(proc.stdout)["pruned"]}
    assert pruned == {"idle", "old"}
    assert [s["key"] for s in sessions.ls()] == ["fresh"]
    assert wait_for(lambda: not alive(inits["idle"]) and not alive(inits["old"]))
    workspaces = sorted(p.name.split("-")[0] for p in (sessions.state / "workspaces").iterdir())
    assert workspaces == ["fresh", "idle", "old"]  # kept without --workspaces
    # 0 disables a rule.
    config = sessions.hutch.tmp / "config.json"
    config.write_text(json.dumps({"sandbox": {"prune": {"idleHours": 0, "maxAgeDays": 0}}}))
    age(sessions, "fresh", last_used_at=1000, created_at=100000)
    assert b"nothing to prune" in sessions.run("prune", "--config", str(config), check=0).stdout
    sessions.run("prune", "--workspaces", check=0)
    assert sessions.ls() == [] and not any(
        p.name.startswith("fresh") for p in (sessions.state / "workspaces").iterdir())


def pruners(sessions):
    """pids of live hutch processes of this state directory that prune or
    may be about to (the detached child of an exec, before its execv)."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = pathlib.Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            environ = pathlib.Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        live = stat.rsplit(")", 1)[1].split()[0] != "Z"
        if (live and len(argv) > 1 and argv[1] in (b"prune", b"exec")
                and f"HUTCH_STATE_DIR={sessions.state}".encode() in environ):
            found.append(int(entry))
    return found


def test_automatic_prune_pass(sessions):
    sessions.run("exec", "stale", "--", "true", check=0)
    age(sessions, "stale", last_used_at=48)
    del sessions.hutch.env["HUTCH_NO_AUTO_PRUNE"]
    sessions.run("exec", "active", "--", "true", check=0)
    assert wait_for(lambda: [s["key"] for s in sessions.ls()] == ["active"], 20), sessions.ls()
    # At most every 5 minutes: a second stale session stays for now.
    sessions.run("exec", "stale2", "--", "true", check=0)
    age(sessions, "stale2", last_used_at=48)
    sessions.run("exec", "active", "--", "true", check=0)
    # A pass would be forked before that exec returned (src/cli/session_common.c,
    # maybe_prune_in_background): once none of its processes is left, any
    # (wrong) pass has run.
    assert wait_for(lambda: not pruners(sessions), 20), pruners(sessions)
    assert "stale2" in [s["key"] for s in sessions.ls()]


def test_session_shell_on_a_pty(sessions):
    sessions.run("session", "create", "sh1", check=0)
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(HUTCH, [HUTCH, "session", "shell", "sh1"], sessions.hutch.env)
    os.write(fd, b"[ -t 0 ] && echo on-a-terminal; echo shell-$((6*7))\n")
    deadline = time.monotonic() + 20
    out = read_pty(fd, until=lambda o: b"shell-42" in o, deadline=deadline)
    os.write(fd, b"exit 7\n")
    out = read_pty(fd, out, deadline=deadline)
    _, status = os.waitpid(pid, 0)
    assert b"shell-42" in out and b"\non-a-terminal" in out.replace(b"\r", b""), out
    assert os.WEXITSTATUS(status) == 7


def test_session_shell_needs_an_agent(sessions):
    """A host session has no agent to hand a terminal to: refused, with the
    way to run commands there, and nothing started."""
    sessions.run("session", "create", "hostsh", "--backend", "host", check=0)
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(HUTCH, [HUTCH, "session", "shell", "hostsh"], sessions.hutch.env)
    out = read_pty(fd)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 125, out
    assert b"no agent to open a terminal with (it runs on the host)" in out, out
    assert b"hutch exec hostsh -- COMMAND" in out, out


def test_create_with_per_session_false_makes_the_shared_session(sessions, tmp_path):
    """perSession false: every key means the shared session, for session
    create as for exec."""
    config = tmp_path / "shared.json"
    config.write_text(json.dumps({"sandbox": {"perSession": False}}))
    sessions.run("session", "create", "first", "--config", str(config), check=0)
    assert [s["key"] for s in sessions.ls()] == ["shared"]
    result, _ = sessions.exec_json("second", "--config", str(config), "--", "true")
    assert result["exit_code"] == 0 and [s["key"] for s in sessions.ls()] == ["shared"]


def test_removed_sessions_leave_no_directory(sessions):
    """session rm takes the key's directory (and its lock) along, also while
    other calls race for the same key: each of them works on a live lock."""
    root = pathlib.Path(sessions.state) / "sessions"
    sessions.run("exec", "gone", "--", "true", check=0)
    assert len(list(root.iterdir())) == 1
    sessions.run("session", "rm", "gone", check=0)
    assert list(root.iterdir()) == []
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        procs = list(pool.map(
            lambda i: sessions.run(*(("exec", "race", "--", "true") if i % 2 else
                                     ("session", "rm", "race"))), range(24)))
    # An exec whose sandbox an rm took away fails (as always); none finds a
    # lock or record in a bad state, and the key works afterwards.
    for proc in procs:
        assert b"lock" not in proc.stderr and b"record" not in proc.stderr, proc.stderr
    sessions.run("exec", "race", "--", "true", check=0)
    sessions.run("session", "rm", "race", check=0)
    assert list(root.iterdir()) == []


def test_long_and_odd_keys(sessions):
    key = "slack:T01/C02 thread #" + "x" * 200
    result, _ = sessions.exec_json(key, "--", "true")
    status = sessions.status(key)
    name = pathlib.Path(status["workspace"]).name
    assert len(name) <= 49 and all(c.isalnum() or c in "-_." for c in name), name
    assert status["key"] == key
    assert [s["key"] for s in sessions.ls()] == [key]


@pytest.mark.skipif(not ROOT, reason="cgroups for an unprivileged user need a delegated v2 subtree")
def test_session_memory_limit_and_oom(sessions):
    sessions.run("session", "create", "mem", "--memory", "64m", check=0)
    result, _ = sessions.exec_json("mem", "--", "python3", "-c",
                                   "x = bytearray(300 * 1024 * 1024); print('survived')")
    assert result["oom_killed"] is True and result["exit_code"] == 137, result
    assert result["limits_via"].startswith("cgroup")
    result, _ = sessions.exec_json("mem", "--", "echo", "still here")
    assert result["stdout"] == "still here\n" and result["oom_killed"] is False
    cgroups = sessions.status("mem")["cgroup_dirs"]
    assert cgroups and all(os.path.isdir(d) for d in cgroups)
    sessions.run("session", "rm", "mem", check=0)
    assert wait_for(lambda: not any(os.path.isdir(d) for d in cgroups))


def test_ctrl_c_reaches_the_command_and_hutch_dying_cancels_it(sessions):
    sessions.run("session", "create", "cc", check=0)
    proc = subprocess.Popen([HUTCH, "exec", "cc", "--", "sh", "-c", "echo up; exec sleep 60"],
                            env=sessions.hutch.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"up\n"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=20)
    assert proc.returncode == 130, proc.stderr.read()
    # hutch killed outright: the agent sees the connection go and ends the run.
    proc = subprocess.Popen([HUTCH, "exec", "cc", "--", "sh", "-c", "echo up; exec sleep 61"],
                            env=sessions.hutch.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"up\n"
    proc.kill()
    proc.wait()
    result = wait_for(lambda: sessions.exec_json("cc", "-c", "ps -eo args | grep -c '^sleep 6' || true")[0]
                      ["stdout"].strip() == "0", 10)
    assert result
