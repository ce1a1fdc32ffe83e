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



CANARY = "hutch-canary-" + uuid.uuid4().hex


def test_a_symlink_planted_as_the_socket_is_not_followed(sessions, tmp_path):
    """The sandbox replaces its agent's socket with a symlink to a socket of
    the host's: hutch must not connect there."""
    trap = tmp_path / "trap.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(trap))
    os.chmod(trap, 0o777)
    listener.listen(8)
    listener.setblocking(False)
    try:
        sessions.run("exec", "s", "--", "true", check=0)
        sessions.run("exec", "s", "-c", f"rm /.hutch/agent.sock; ln -s {trap} /.hutch/agent.sock",
                     check=0)
        # The next use finds no agent, restarts the sandbox, and runs.
        proc = sessions.run("exec", "s", "--", "echo", "served", check=0)
        assert proc.stdout == b"served\n"
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()


def test_a_fake_agent_cannot_crash_or_flood_hutch(sessions):
    """Code in the sandbox takes the agent's place and answers with lies."""
    sessions.run("exec", "f", "--", "true", check=0)
    fake = (
        "import os, socket, struct\n"
        "os.unlink('/.hutch/agent.sock')\n"
        "s = socket.socket(socket.AF_UNIX); s.bind('/.hutch/agent.sock'); s.listen(8)\n"
        "for n in range(3):\n"
        "    c, _ = s.accept(); c.recv(65536)\n"
        "    c.sendall(struct.pack('=IHHI', 0x48435448, 1, 102, 0x7fffffff) + b'x' * 65536)\n"
        "    c.close()\n"
    )
    sessions.run("exec", "f", "-c", f"setsid python3 -c \"{fake}\" >/dev/null 2>&1 & sleep 1",
                 check=0)
    proc = sessions.run("exec", "f", "--", "echo", "hi", timeout=60)
    assert proc.returncode == 125, (proc.returncode, proc.stdout, proc.stderr)
    line = proc.stderr.decode().strip().splitlines()[-1]
    assert line.startswith("hutch: ") and ("agent" in line or "hutch-init" in line), line
    assert proc.stdout == b""


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


def test_the_state_directory_is_private(sessions):
    sessions.run("exec", "p", "--", "true", check=0)
    status = sessions.status("p")
    state_dir = pathlib.Path(status["state_dir"])
    assert oct(state_dir.stat().st_mode & 0o777) == "0o700"
    assert oct((state_dir / "record.json").stat().st_mode & 0o777) == "0o600"
    workspace = pathlib.Path(status["workspace"])
    assert workspace.stat().st_mode & 0o077 == 0, oct(workspace.stat().st_mode)
