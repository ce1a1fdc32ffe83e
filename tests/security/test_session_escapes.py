"""Escape attempts through a session's agent socket and workspace: the
sandboxed side controls /.hutch and /workspace, so everything hutch does
with them on the host must hold up against what it plants there. Runs as
root and as an unprivileged user."""
import json
import os
import pathlib
import socket
import subprocess
import time
import uuid

import pytest

from conftest import BUILD_DIR


CANARY = "hutch-canary-" + uuid.uuid4().hex


def test_a_symlink_planted_as_the_socket_is_not_followed(sessions, tmp_path):
    """The agent's socket replaced by a symlink to a socket of the host's
    (the sandbox cannot do it any more: its /.hutch is read-only; here the
    host side is tampered with): hutch must not connect there."""
    trap = tmp_path / "trap.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(trap))
    os.chmod(trap, 0o777)
    listener.listen(8)
    listener.setblocking(False)
    try:
        sessions.run("exec", "s", "--", "true", check=0)
        inside = sessions.run("exec", "s", "-c",
                              f"rm /.hutch/agent.sock; ln -s {trap} /.hutch/agent.sock")
        assert inside.returncode != 0 and b"Read-only file system" in inside.stderr
        sock = pathlib.Path(sessions.status("s")["state_dir"]) / "run" / "agent.sock"
        sock.unlink()
        sock.symlink_to(trap)
        # The next use finds no agent, restarts the sandbox, and runs.
        proc = sessions.run("exec", "s", "--", "echo", "served", check=0)
        assert proc.stdout == b"served\n"
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()


def test_rm_workspaces_does_not_follow_links_out(sessions, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text(CANARY)
    os.chmod(tmp_path, 0o755)
    sessions.run("exec", "w", "-c", f"ln -s {outside} /workspace/link; "
                 f"mkdir -p /workspace/d; ln -s {outside}/keep.txt /workspace/d/file", check=0)
    sessions.run("session", "rm", "w", "--workspaces", check=0)
    assert (outside / "keep.txt").read_text() == CANARY
    assert not any(p.name.startswith("w-") for p in (sessions.state / "workspaces").iterdir())


def test_the_relay_stop_does_not_follow_links_out(tmp_path):
    """hutch-init --stop DIR, run as root in an adopted container, removes
    DIR and the DIR-*.init binaries: what the container's processes plant
    there (links to elsewhere, a link as a DIR-*.init) goes, what the links
    point to stays."""
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "keep.txt").write_text(CANARY)
    (outside / "sub" / "deep.txt").write_text(CANARY)
    relay = tmp_path / "relay"
    (relay / "d").mkdir(parents=True)
    (relay / "link").symlink_to(outside)
    (relay / "d" / "file").symlink_to(outside / "keep.txt")
    (relay / "d" / "dir").symlink_to(outside / "sub")
    (tmp_path / "relay-1.init").symlink_to(outside / "keep.txt")
    proc = subprocess.run([str(BUILD_DIR / "hutch-init"), "--stop", str(relay)],
                          capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert not os.path.lexists(relay) and not os.path.lexists(tmp_path / "relay-1.init")
    assert (outside / "keep.txt").read_text() == CANARY
    assert (outside / "sub" / "deep.txt").read_text() == CANARY


def test_the_state_directory_is_private(sessions):
    sessions.run("exec", "p", "--", "true", check=0)
    status = sessions.status("p")
    state_dir = pathlib.Path(status["state_dir"])
    assert oct(state_dir.stat().st_mode & 0o777) == "0o700"
    assert oct((state_dir / "record.json").stat().st_mode & 0o777) == "0o600"
    workspace = pathlib.Path(status["workspace"])
    assert workspace.stat().st_mode & 0o077 == 0, oct(workspace.stat().st_mode)


def test_the_use_count_is_out_of_the_sandbox_reach(sessions):
    """The count and time of a session's use live in its lock file, next to
    the record, and are read back on every command: a command inside must
    not find that file through its runtime directory (/.hutch is the
    session's run/, not the session's directory) nor anywhere else."""
    sessions.run("exec", "n", "--", "true", check=0)
    state_dir = pathlib.Path(sessions.status("n")["state_dir"])
    lock = state_dir / "lock"
    before = lock.read_bytes()
    inside = sessions.run(
        "exec", "n", "-c",
        "for p in /.hutch/../lock /.hutch/../../lock /.hutch/lock "
        f"'{lock}' '{state_dir}/record.json'; do "
        "  printf '%41s\\n' '999999 0' > \"$p\" 2>/dev/null && echo WROTE $p; done; "
        f"ls -a /.hutch; test -e '{state_dir}' && echo SEES-STATE; true")
    out = inside.stdout.decode()
    assert "WROTE" not in out and "SEES-STATE" not in out, out
    assert "lock" not in out.split() and "record.json" not in out.split(), out
    assert lock.stat().st_size == len(before)
    status = sessions.status("n")
    assert status["exec_count"] == 2, status


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the CPU pin is skipped with one CPU")
def test_a_command_cannot_pin_hutch_or_another_session(sessions):
    """hutch and the agent stay on one CPU while a command starts, and give
    the command the agent's CPUs (docs/sessions.md, "Where commands run").
    A command that pins every process it can see (the agent included) to
    one CPU narrows its own session only: another session's commands get
    their own agent's CPUs, and no process of that session is pinned."""
    one = str(sorted(os.sched_getaffinity(0))[0])
    proc = sessions.run("exec", "narrowed", "-c",
                        "for p in /proc/[0-9]*; do taskset -a -p -c " + one +
                        " ${p#/proc/} >/dev/null 2>&1; done; "
                        "grep Cpus_allowed_list /proc/1/status", check=0)
    assert proc.stdout.decode().split(":")[-1].strip() == one, proc.stdout
    # Its later commands get what its agent has now: its own business.
    result, _ = sessions.exec_json("narrowed", "--", "nproc")
    assert result["stdout"] == "1\n", result
    # Another session is not narrowed, nor is any of its processes.
    result, _ = sessions.exec_json("other", "--", "nproc")
    assert int(result["stdout"]) == len(os.sched_getaffinity(0)), result
    inside = sessions.run("exec", "other", "-c", "cat /proc/[0-9]*/status", check=0)
    lists = [line.split(":")[1].strip() for line in inside.stdout.decode().splitlines()
             if line.startswith("Cpus_allowed_list")]
    assert lists and all("-" in l or "," in l for l in lists), lists


def test_the_output_pipes_the_agent_holds_are_out_of_reach(sessions):
    """The agent keeps a run's output pipes open until it reports the exit
    (so that hutch wakes once). Another command of the session must not
    reach them through the agent's /proc/1/fd to write into that run's
    output, which is another caller's result."""
    sessions.run("exec", "held", "--", "true", check=0)
    victim = sessions.hutch.popen("exec", "held", "--json", "--", "sh", "-c",
                                  "sleep 1.5; echo mine", stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
    time.sleep(0.5)
    attack = sessions.run("exec", "held", "-c",
                          "ls /proc/1/fd >/dev/null 2>&1 && echo listed; "
                          "for n in $(seq 0 64); do "
                          "  (echo INJECTED > /proc/1/fd/$n) 2>/dev/null && echo wrote $n; "
                          "done; true", check=0)
    out, err = victim.communicate(timeout=60)
    result = json.loads(out)
    assert result["stdout"] == "mine\n" and result["stderr"] == "", result
    assert attack.stdout == b"", attack.stdout
