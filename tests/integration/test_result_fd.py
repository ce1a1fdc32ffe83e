"""hutch run/exec --result-fd N: the output streams to hutch's stdout and
stderr as the command writes it, and one JSON result goes to descriptor N
(docs/run.md, "Streaming with a result"). The SDKs read runs this way."""
import json
import os
import select
import subprocess
import time

import pytest

from conftest import HUTCH, RESULT_KEYS, one_line_error


def run_with_result_fd(hutch, *args, timeout=60):
    """hutch ARGS with a pipe as fd 3: (process, stdout, stderr, result text)."""
    read_end, write_end = os.pipe()
    proc = hutch.popen(*[a.replace("{fd}", str(write_end)) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(write_end,))
    os.close(write_end)
    with os.fdopen(read_end, "rb") as result_pipe:
        out, err = proc.communicate(timeout=timeout)
        result = result_pipe.read()
    return proc, out, err, result.decode()


def test_result_on_its_own_descriptor(hutch):
    proc, out, err, text = run_with_result_fd(
        hutch, "run", "--result-fd", "{fd}", "-c", "echo out; echo err >&2; exit 3")
    assert proc.returncode == 3
    assert out == b"out\n" and err == b"err\n"
    assert text.endswith("\n") and text.count("\n") == 1
    result = json.loads(text)
    assert set(result) == RESULT_KEYS
    assert result["exit_code"] == 3 and result["backend"] == "native" and result["error"] is None
    # The output went to the streams, not into the result.
    assert result["stdout"] is None and result["stderr"] is None


def test_output_streams_before_the_command_ends(hutch):
    read_end, write_end = os.pipe()
    proc = hutch.popen("run", "--result-fd", str(write_end), "-c", "echo first; read x; echo second",
                       "--stdin", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, pass_fds=(write_end,))
    os.close(write_end)
    try:
        # The first line arrives while the command still waits for input.
        assert proc.stdout.readline() == b"first\n"
        ready, _, _ = select.select([read_end], [], [], 0.2)
        assert not ready, "the result came before the command ended"
        proc.stdin.write(b"go\n")
        proc.stdin.close()
        assert proc.stdout.read() == b"second\n"
        assert proc.wait(30) == 0
        result = json.loads(os.read(read_end, 65536))
        assert result["exit_code"] == 0 and not result["timed_out"]
    finally:
        os.close(read_end)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_limits_and_timeout_are_in_the_result(hutch):
    proc, out, err, text = run_with_result_fd(
        hutch, "run", "--result-fd", "{fd}", "--output-limit", "10", "--timeout", "1s",
        "-c", "printf '%s' 0123456789abcdef; sleep 30")
    result = json.loads(text)
    assert proc.returncode == 124 and result["timed_out"] and result["exit_code"] == 124
    assert out == b"0123456789"
    assert result["stdout_truncated"] and result["stdout_bytes"] == 16
    # The result says it; nothing about it is mixed into the command's stderr.
    assert err == b""


def test_session_exec_with_result_fd(hutch):
    proc, out, err, text = run_with_result_fd(
        hutch, "exec", "rfd", "--result-fd", "{fd}", "--", "sh", "-c", "echo in-session; exit 7")
    assert proc.returncode == 7 and out == b"in-session\n"
    assert json.loads(text)["exit_code"] == 7
    hutch.run("session", "rm", "rfd", check=0)


def test_hutch_failure_is_in_the_result_too(hutch):
    proc, out, err, text = run_with_result_fd(
        hutch, "run", "--result-fd", "{fd}", "--memory", "lots", "--", "true")
    line = one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    assert "--memory" in line
    result = json.loads(text)
    assert result["exit_code"] == 125 and result["error"] == line[len("hutch: "):]


@pytest.mark.parametrize("value, why", [
    ("2", "above 2"), ("x", "above 2"), ("999", "not an open descriptor"),
])
def test_bad_result_fd(hutch, value, why):
    proc = hutch.run("run", "--result-fd", value, "--", "true")
    assert why in one_line_error(proc)


def test_result_fd_and_json_exclude_each_other(hutch):
    read_end, write_end = os.pipe()
    proc = hutch.popen("run", "--json", "--result-fd", str(write_end), "--", "true",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(write_end,))
    os.close(write_end)
    out, err = proc.communicate(timeout=30)
    os.close(read_end)
    assert "do not go together" in one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
