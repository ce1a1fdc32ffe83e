"""approval.require through the real binary: the question on the
controlling terminal (a pty answered y and n), refusals without a terminal,
stdin that does not answer, what a question shows, the audit log of tool
calls and session commands, the options a session keeps, hutch session
shell, and the coding agent's requireApproval. MCP's elicitation:
test_mcp.py. Runs as root and as an unprivileged user (scripts/test.sh).
docs/config.md, docs/library.md."""
import json
import os
import pty
import subprocess
import time

from conftest import HUTCH, one_line_error
from helpers import read_pty

QUESTION = b"[y/N] "


def on_a_terminal(hutch, *args, answer=b"y\n", timeout=60):
    """hutch ARGS on a pty of its own (its controlling terminal); answer is
    typed once the question is there (None: never asked, just read).
    Returns (everything it wrote, exit status, whether it asked)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(HUTCH, [HUTCH, *args], hutch.env)
        finally:
            os._exit(127)
    deadline = time.monotonic() + timeout
    try:
        out = read_pty(fd, until=lambda o: answer is not None and QUESTION in o,
                       deadline=deadline)
        if answer is not None and QUESTION in out:
            os.write(fd, answer)
        out = read_pty(fd, out, deadline=deadline)
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return out.replace(b"\r\n", b"\n"), os.waitstatus_to_exitcode(status), QUESTION in out


def without_terminal(hutch, *args, input=b""):
    """hutch ARGS in a session of its own (no controlling terminal), with
    input on its stdin."""
    proc = hutch.popen(*args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, start_new_session=True)
    out, err = proc.communicate(input, timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def audit(sessions, key):
    path = sessions.run("session", "log", key, check=0).stdout.decode()
    return [json.loads(line) for line in path.splitlines()]


# ---- the question on the terminal -------------------------------------------------------------

def test_run_asks_and_y_runs_it(hutch, tmp_path):
    out, rc, asked = on_a_terminal(hutch, "run", "--backend", "spawn", "--require-approval",
                                   "command:*", "--", "echo", "approved run")
    assert asked and rc == 0, out
    assert b"hutch: approve the command echo 'approved run'? [y/N] y\n" in out, out
    assert b"\napproved run\n" in out, out


def test_n_refuses_and_nothing_runs(hutch, tmp_path):
    mark = tmp_path / "ran"
    out, rc, asked = on_a_terminal(hutch, "run", "--backend", "spawn", "--require-approval",
                                   "command:*", "--", "touch", str(mark), answer=b"n\n")
    assert asked and rc == 125, out
    assert out.endswith(b"hutch: not approved: refused on the terminal\n"), out
    assert not mark.exists()
    # Anything but y or yes is no.
    out, rc, _ = on_a_terminal(hutch, "run", "--backend", "spawn", "--require-approval",
                               "command:*", "--", "touch", str(mark), answer=b"sure\n")
    assert rc == 125 and not mark.exists(), out
    out, rc, _ = on_a_terminal(hutch, "run", "--backend", "spawn", "--require-approval",
                               "command:*", "--", "touch", str(mark), answer=b"YES\n")
    assert rc == 0 and mark.exists(), out


def test_without_a_terminal_it_is_refused(hutch, tmp_path):
    mark = tmp_path / "ran"
    # stdin says y: it belongs to the command, and answers nothing.
    proc = without_terminal(hutch, "run", "--backend", "spawn", "--require-approval",
                            "command:touch *", "--", "touch", str(mark), input=b"y\n")
    line = one_line_error(proc)
    assert line == ('hutch: not approved: approval.require has "command:touch *" and there is no '
                    "terminal to ask on: run it from a terminal, or take the entry out of "
                    "approval.require"), line
    assert not mark.exists()


def test_only_what_an_entry_names_is_asked_about(hutch):
    out, rc, asked = on_a_terminal(hutch, "run", "--backend", "spawn", "--require-approval",
                                   "command:rm *", "--", "echo", "not asked", answer=None)
    assert rc == 0 and not asked and b"not asked" in out, out


def test_the_question_cannot_be_rewritten(hutch):
    """Control bytes in a command are shown, never sent to the terminal."""
    out, rc, asked = on_a_terminal(hutch, "run", "--backend", "spawn", "--require-approval",
                                   "command:*", "--", "printf", "\x1b[2K\rhidden\\n",
                                   answer=b"n\n")
    assert asked and rc == 125, out
    question = out.split(QUESTION)[0]
    assert b"\x1b" not in question and b"\r" not in question, question
    assert b"printf '\\x1b[2K\\x0dhidden\\\\n'?" in question, question


def test_a_bad_entry_is_refused(hutch):
    line = one_line_error(hutch.run("run", "--require-approval", "cmd:rm", "--", "true"))
    assert "--require-approval" in line and "command:GLOB" in line, line


# ---- sessions: commands, tools, the audit log -------------------------------------------------

def test_exec_commands_are_asked_about_and_logged(sessions):
    hutch = sessions.hutch
    flags = ("--require-approval", "command:rm *")
    out, rc, asked = on_a_terminal(hutch, "exec", "ap1", *flags, "--", "sh", "-c",
                                   "echo kept > /workspace/f", answer=None)
    assert rc == 0 and not asked, out
    out, rc, asked = on_a_terminal(hutch, "exec", "ap1", *flags, "--", "rm", "/workspace/f",
                                   answer=b"n\n")
    assert asked and rc == 125, out
    assert b"hutch: approve the command rm /workspace/f in session ap1? [y/N]" in out, out
    assert b"hutch: not approved: refused on the terminal" in out, out
    result, _ = sessions.exec_json("ap1", "--", "cat", "/workspace/f")
    assert result["stdout"] == "kept\n", result
    out, rc, asked = on_a_terminal(hutch, "exec", "ap1", *flags, "--", "rm", "/workspace/f")
    assert asked and rc == 0, out
    lines = [line for line in audit(sessions, "ap1") if line.get("event") == "command"]
    assert [(line["command"], line["approval"]) for line in lines] == [
        ("rm /workspace/f", "refused"), ("rm /workspace/f", "approved")], lines
    assert lines[0]["summary"] == "not approved: refused on the terminal", lines
    assert lines[0]["session"] == "ap1" and lines[0]["time"].endswith("Z")


def test_tool_calls_are_asked_about_and_logged(sessions):
    hutch = sessions.hutch
    # Refusals are logged once the session exists (none is made for them).
    sessions.run("session", "create", "ap2", check=0)
    args = json.dumps({"command": "echo tool ran"})
    out, rc, asked = on_a_terminal(hutch, "tool", "ap2", "bash", args, "--require-approval",
                                   "bash", answer=b"n\n")
    assert asked and rc == 1, out
    assert b'hutch: approve bash {"command":"echo tool ran"} in session ap2? [y/N]' in out, out
    result = json.loads(out.split(b"\n")[-2])
    assert result == {"ok": False, "error": "not approved: refused on the terminal"}, out
    out, rc, asked = on_a_terminal(hutch, "tool", "ap2", "bash", args, "--require-approval",
                                   "bash")
    assert asked and rc == 0, out
    assert json.loads(out.split(b"\n")[-2])["text"] == "tool ran\n", out
    # Other tools are not asked about; patterns match bash's command too.
    out, rc, asked = on_a_terminal(hutch, "tool", "ap2", "read", '{"path": "x"}',
                                   "--require-approval", "bash", answer=None)
    assert not asked, out
    proc = without_terminal(hutch, "tool", "ap2", "bash", '{"command": "git push -f"}',
                            "--require-approval", "command:git push*")
    assert proc.returncode == 1, proc
    assert "no terminal to ask on" in json.loads(proc.stdout)["error"], proc.stdout
    lines = [(line["tool"], line["ok"], line.get("approval"), line["summary"][:24])
             for line in audit(sessions, "ap2")]
    assert lines == [("bash", False, "refused", "not approved: refused on"),
                     ("bash", True, "approved", "tool ran\n"),
                     ("read", False, None, "x does not exist (relati"),
                     ("bash", False, "refused", "not approved: approval.r")], lines


def test_a_session_keeps_the_options_it_was_created_with(sessions):
    """hutch exec builds its policy from the session's recorded options:
    what session create asked for approval of stays asked, without a flag."""
    sessions.run("session", "create", "ap3", "--require-approval", "command:*", check=0)
    proc = without_terminal(sessions.hutch, "exec", "ap3", "--", "true")
    assert "not approved" in one_line_error(proc)
    # Its config file counts the same way.


def test_session_shell_asks_before_the_terminal_is_raw(sessions):
    sessions.run("session", "create", "ap4", check=0)
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(HUTCH, [HUTCH, "session", "shell", "ap4", "--require-approval",
                              "command:*"], sessions.hutch.env)
        finally:
            os._exit(127)
    deadline = time.monotonic() + 30
    out = read_pty(fd, until=lambda o: QUESTION in o, deadline=deadline)
    os.write(fd, b"y\n")
    os.write(fd, b"echo shell-$((6*7)); exit 3\n")
    out = read_pty(fd, out, deadline=deadline)
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    assert b"hutch: approve the command /bin/sh -c" in out and b"in session ap4?" in out, out
    assert b"shell-42" in out and os.waitstatus_to_exitcode(status) == 3, out


def test_requireapproval_of_the_coding_agent_asks_about_every_command(hutch, tmp_path):
    config = tmp_path / "executor.json5"
    config.write_text("{mode: 'spawn', timeout: 60000, requireApproval: true}")
    checked = json.loads(hutch.run("config", "check", str(config), check=0).stdout)
    assert checked["sandbox"]["approval"]["require"] == ["command:*"], checked
    line = one_line_error(without_terminal(hutch, "run", "--config", str(config), "--", "true"))
    assert 'approval.require has "command:*"' in line, line
    out, rc, asked = on_a_terminal(hutch, "run", "--config", str(config), "--", "echo", "ok")
    assert asked and rc == 0 and out.endswith(b"ok\n"), out
