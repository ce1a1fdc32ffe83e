"""hutch run, driven through the real binary: behaviour every backend shares
(parametrized over native and spawn), and what is particular to spawn and host."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import HUTCH, SANITIZED, one_line_error, processes_matching, wait_for
from helpers import cancel_while_stopped, child_pids


def mark(seconds):
    """A sleep duration that names this test run's processes: seconds with
    the pytest process's pid as further digits, so that other runs' on this
    machine are neither counted nor killed."""
    return f"{seconds}{os.getpid():07d}"


# ---- exit status -----------------------------------------------------------

def test_exit_code_is_the_commands(hutch, backend):
    assert hutch.run("run", "--backend", backend, "--", "sh", "-c", "exit 7").returncode == 7
    assert hutch.run("run", "--backend", backend, "--", "true").returncode == 0


def test_signal_is_128_plus_n(hutch, backend):
    result, _ = hutch.run_json("--backend", backend, "--", "sh", "-c", "kill -TERM $$")
    assert result["exit_code"] == 143 and result["signal"] == 15
    assert hutch.run("run", "--backend", backend, "--", "sh", "-c", "kill -KILL $$").returncode == 137


def test_not_found_is_127(hutch, backend):
    proc = hutch.run("run", "--backend", backend, "--", "no-such-command-hutch-test")
    assert proc.returncode == 127
    assert proc.stderr.decode() == "hutch: cannot run no-such-command-hutch-test: command not found\n"
    result, _ = hutch.run_json("--backend", backend, "--", "no-such-command-hutch-test")
    assert result["exit_code"] == 127
    assert result["error"] == "cannot run no-such-command-hutch-test: command not found"


def test_not_executable_is_126(hutch, tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    proc = hutch.run("run", "--backend", "spawn", "--", str(script))
    assert proc.returncode == 126
    assert "Permission denied" in proc.stderr.decode()
    assert hutch.run("run", "--backend", "spawn", "--", str(tmp_path)).returncode == 126


# ---- argv and shell --------------------------------------------------------

def test_argv_arrives_intact(hutch, backend):
    args = ["a b", '"quoted"', "$(id)", "`id`", "--json", "-x", "", "*", "it's", "tab\there",
            "new\nline", "ünïcødé"]
    proc = hutch.run("run", "--backend", backend, "--", "python3", "-c",
                     "import json, sys; print(json.dumps(sys.argv[1:]))", *args, check=0)
    assert json.loads(proc.stdout) == args


def test_options_after_the_command_belong_to_it(hutch, backend):
    proc = hutch.run("run", "--backend", backend, "echo", "--json", "--memory", "1", check=0)
    assert proc.stdout == b"--json --memory 1\n"


def test_shell_string_and_positional_args(hutch, backend):
    proc = hutch.run("run", "--backend", backend, "-c", 'echo "$0:$1:$#"', "--", "zero", "one two", check=0)
    assert proc.stdout == b"zero:one two:1\n"
    proc = hutch.run("run", "--backend", backend, "-c", "echo $((6 * 7)) | tr 4 X", check=0)
    assert proc.stdout == b"X2\n"


# ---- timeout and process cleanup -------------------------------------------

def test_timeout_kills_grandchildren(hutch, backend):
    marker = mark("913.25")
    start = time.monotonic()
    result, proc = hutch.run_json("--backend", backend, "--timeout", "1", "--", "sh", "-c",
                                  f"sleep {marker} & sleep {marker}")
    elapsed = time.monotonic() - start
    assert result["timed_out"] is True
    assert result["exit_code"] == 124 and proc.returncode == 124
    assert result["signal"] == 15
    assert 0.9 < elapsed < 5, elapsed
    assert processes_matching(f"sleep {marker}") == []


def test_timeout_escalates_to_sigkill(hutch, backend):
    start = time.monotonic()
    marker = mark("914.25")
    result, _ = hutch.run_json("--backend", backend, "--timeout", "500ms", "--", "sh", "-c",
                               f"trap '' TERM; sleep {marker}")
    elapsed = time.monotonic() - start
    assert result["timed_out"] and result["exit_code"] == 124
    assert result["signal"] == 9
    assert 2.0 < elapsed < 6, elapsed  # 0.5 s timeout + 2 s grace
    assert processes_matching(f"sleep {marker}") == []


def test_timeout_message_in_live_mode(hutch, backend):
    proc = hutch.run("run", "--backend", backend, "--timeout", "200ms", "--", "sleep", "30")
    assert proc.returncode == 124
    assert "hutch: timed out after 0.2s; the command was killed" in proc.stderr.decode()


def test_leftover_background_jobs_are_killed_at_exit(hutch, backend):
    marker = mark("915.25")
    proc = hutch.run("run", "--backend", backend, "--", "sh", "-c", f"sleep {marker} & echo started",
                     check=0)
    assert proc.stdout == b"started\n"
    assert wait_for(lambda: processes_matching(f"sleep {marker}") == []), "the job survived"


def test_setsid_escapee_does_not_hang_hutch(hutch):
    # Documented limitation of spawn: a process that leaves the process
    # group with setsid survives. hutch must still return promptly, without
    # waiting for the escapee to close the output pipe it holds.
    start = time.monotonic()
    result, _ = hutch.run_json("--backend", "spawn", "--", "sh", "-c",
                               f"setsid sleep {mark('916.25')} & echo x", timeout=20)
    elapsed = time.monotonic() - start
    for pid in processes_matching(f"sleep {mark('916.25')}"):
        os.kill(pid, signal.SIGKILL)
    assert result["exit_code"] == 0 and result["stdout"] == "x\n"
    assert elapsed < 5, elapsed


def test_sigint_to_hutch_reaches_the_command(hutch, backend):
    marker = mark("917.25")
    proc = subprocess.Popen([HUTCH, "run", "--backend", backend, "--", "sleep", marker], env=hutch.env,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    assert wait_for(lambda: processes_matching(f"sleep {marker}", start=True)), "never started"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 130
    assert processes_matching(f"sleep {marker}") == []


def test_a_run_cancelled_during_setup_never_starts_its_command(hutch, tmp_path):
    """SIGTERM while hutch sets up the sandbox (held stopped meanwhile, so that
    it is certain nothing had started): the command never runs, and the run
    ends as SIGTERM would have ended it. A later SIGTERM reaches the command:
    it was lost at times (exit 137 after the grace). Native only: spawn starts
    its command within microseconds of catching signals, too soon to stop it
    before (it looks for a cancel right before the start too). 200 denyRead
    paths that do not exist, each looked up on the host before the sandbox
    is made, keep that stretch long enough to be caught in: a faster hutch
    left it to 3 of 40 tries."""
    missing = [arg for n in range(200) for arg in ("--deny-read", f"/nonexistent-hutch-{n}/key")]
    certain = 0
    for i in range(40):
        ran = tmp_path / f"ran-{i}"
        proc = hutch.popen("run", "--backend", "native", "--rw", str(tmp_path), *missing, "--",
                           "sh", "-c",
                           f"touch {ran}; exec sleep {mark('918.25')}", stdin=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, start_new_session=True)
        before, status, _, err = cancel_while_stopped(proc, lambda: child_pids(proc.pid))
        assert status == 128 + signal.SIGTERM, (status, err)
        if before:
            certain += 1
            assert not ran.exists(), f"run {i}: the cancelled run started its command"
        if certain == 10:
            break
    assert certain >= 5, f"only {certain} of {i + 1} cancels came certainly before the start"
    assert processes_matching(f"sleep {mark('918.25')}") == []


# ---- output ----------------------------------------------------------------

def test_flood_of_4_gib_keeps_memory_bounded(hutch, backend, tmp_path):
    # GNU time measures hutch alone: a fork of this Python process would
    # carry Python's own resident size into the count.
    rss_file = tmp_path / "rss"
    proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", str(rss_file), HUTCH, "run",
                             "--backend", backend, "--json", "--", "sh", "-c", "yes | head -c 4G"],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=hutch.env)
    out = proc.stdout.read()
    assert proc.wait() == 0
    result = json.loads(out)
    assert result["stdout_bytes"] == 4 * 1024 ** 3
    assert result["stdout_truncated"] is True
    assert len(result["stdout"]) == 1024 * 1024
    peak_kib = int(rss_file.read_text().split()[-1])
    if not SANITIZED:
        assert peak_kib < 32 * 1024, f"peak RSS {peak_kib} KiB"


def test_stderr_flood_does_not_deadlock(hutch, backend):
    result, _ = hutch.run_json("--backend", backend, "--", "sh", "-c",
                               "head -c 100M /dev/zero >&2; echo done", timeout=60)
    assert result["stdout"] == "done\n"
    assert result["stderr_bytes"] == 100 * 1024 * 1024
    assert result["stderr_truncated"] is True
    result, _ = hutch.run_json("--backend", backend, "--", "sh", "-c",
                               "head -c 50M /dev/zero >&2 & head -c 50M /dev/zero; wait",
                               timeout=60)
    assert result["stdout_bytes"] == result["stderr_bytes"] == 50 * 1024 * 1024


def test_output_limit_in_json(hutch, backend):
    result, _ = hutch.run_json("--backend", backend, "--output-limit", "10", "--", "printf", "0123456789abcdef")
    assert result["stdout"] == "0123456789"
    assert result["stdout_bytes"] == 16 and result["stdout_truncated"] is True
    assert result["stderr_bytes"] == 0 and result["stderr_truncated"] is False


def test_output_limit_in_live_mode_relays(hutch, backend):
    proc = hutch.run("run", "--backend", backend, "--output-limit", "10", "--", "printf", "0123456789abcdef", check=0)
    assert proc.stdout == b"0123456789"
    assert "hutch: stdout cut at --output-limit (16 bytes written in all)" in proc.stderr.decode()


def test_live_mode_passes_output_through(hutch, backend):
    proc = hutch.run("run", "--backend", backend, "--", "sh", "-c", "echo out; echo err >&2", check=0)
    assert proc.stdout == b"out\n" and proc.stderr == b"err\n"


def test_binary_output_is_valid_json(hutch, backend):
    result, _ = hutch.run_json("--backend", backend, "--", "printf", "a\\377b\\000c")
    assert result["stdout"] == "a\ufffdb\x00c"
    assert result["stdout_bytes"] == 5


def test_json_result_shape(hutch):
    result, _ = hutch.run_json("--backend", "spawn", "--", "sh", "-c", "echo hi; echo oops >&2; exit 2")
    assert result == {
        **result,
        "backend": "spawn", "isolated": False, "exit_code": 2, "signal": None,
        "timed_out": False, "oom_killed": False, "limits_via": "none",
        "stdout": "hi\n", "stderr": "oops\n",
        "stdout_truncated": False, "stderr_truncated": False, "stdout_bytes": 3,
        "stderr_bytes": 5, "degraded": False, "error": None,
    }
    assert isinstance(result["duration_ms"], float) and 0 < result["duration_ms"] < 10000


# ---- environment, working directory, stdin ----------------------------------

def env_of(hutch, *flags, extra_env=None):
    result, _ = hutch.run_json(*flags, "--", "env", env=extra_env)
    assert result["exit_code"] == 0
    return dict(line.split("=", 1) for line in result["stdout"].splitlines())


def test_environment_is_scrubbed(hutch):
    env = env_of(hutch, "--backend", "spawn", extra_env={"SECRET_TOKEN": "s3cr3t", "TERM": "xterm"})
    assert set(env) == {"PATH", "HOME", "LANG", "TERM"}
    assert env["TERM"] == "xterm" and env["LANG"] == "C.UTF-8"


def test_env_flags(hutch):
    env = env_of(hutch, "--backend", "spawn", "--env", "A=1", "--env", "B=x=y z", "--env", "FROM_HOST",
                 extra_env={"FROM_HOST": "copied", "OTHER": "no"})
    assert env["A"] == "1" and env["B"] == "x=y z" and env["FROM_HOST"] == "copied"
    assert "OTHER" not in env


def test_inherit_env(hutch):
    env = env_of(hutch, "--backend", "spawn", "--inherit-env", "--env", "A=2", extra_env={"KEEP_ME": "yes"})
    assert env["KEEP_ME"] == "yes" and env["A"] == "2"


def test_env_flag_errors(hutch):
    line = one_line_error(hutch.run("run", "--backend", "spawn", "--env", "1X=2", "--", "true"))
    assert line == 'hutch: --env: "1X=2" is not NAME=VALUE with NAME made of letters, digits and _'
    line = one_line_error(hutch.run("run", "--backend", "spawn", "--env", "UNSET_IN_HUTCH_XYZ", "--", "true"))
    assert "UNSET_IN_HUTCH_XYZ is not set in hutch's environment" in line


def test_workdir_and_workspace(hutch, tmp_path):
    assert hutch.run("run", "--backend", "spawn", "--workdir", "/tmp", "--", "pwd", check=0).stdout == b"/tmp\n"
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    assert hutch.run("run", "--backend", "spawn", "--workspace", str(ws), "--", "pwd", check=0).stdout == f"{ws}\n".encode()
    proc = hutch.run("run", "--backend", "spawn", "--workspace", str(ws), "--workdir", "sub", "--", "pwd", check=0)
    assert proc.stdout == f"{ws}/sub\n".encode()
    line = one_line_error(hutch.run("run", "--backend", "spawn", "--workdir", "/nonexistent-dir", "--", "pwd"))
    assert line == ("hutch: cannot enter the working directory /nonexistent-dir: "
                    "No such file or directory")


def test_stdin_is_dev_null_by_default(hutch, backend):
    proc = hutch.run("run", "--backend", backend, "--", "cat", input=b"hello", timeout=10, check=0)
    assert proc.stdout == b""


def test_stdin_flag_passes_it_through(hutch, backend):
    proc = hutch.run("run", "--backend", backend, "--stdin", "--", "cat", input=b"hello", check=0)
    assert proc.stdout == b"hello"
    result, _ = hutch.run_json("--backend", backend, "--stdin", "--", "wc", "-c", input=b"12345")
    assert result["stdout"].strip() == "5"


def test_no_extra_file_descriptors_cross(hutch, backend):
    proc = hutch.run("run", "--backend", backend, "--", "ls", "/proc/self/fd", check=0)
    # ls itself opens the directory: 0, 1, 2 and that one.
    assert len(proc.stdout.split()) == 4, proc.stdout


# ---- backends --------------------------------------------------------------

def test_host_backend_warns(hutch):
    result, proc = hutch.run_json("--backend", "host", "--", "echo", "hi")
    assert result["backend"] == "host" and result["isolated"] is False
    assert "no isolation at all" in proc.stderr.decode()


def test_spawn_refuses_what_it_cannot_enforce(hutch):
    cases = {
        ("--net", "none"): "network.mode (--net): it shares the host's network",
        ("--pids", "5"): "limits.pids (--pids): it has no cgroup",
        ("--cpus", "0.5"): "limits.cpus (--cpus): it has no cgroup",
        ("--ro", "/usr"): "filesystem.readOnly (--ro): it shares the host's filesystem",
        ("--deny-read", "/etc"): "filesystem.denyRead (--deny-read)",
        ("--read-only-root",): "filesystem.readOnlyRoot (--read-only-root)",
        ("--user", "1000"): "user (--user): it runs as the calling user",
    }
    for flags, expected in cases.items():
        line = one_line_error(hutch.run("run", "--backend", "spawn", *flags, "--", "true"))
        assert line.startswith("hutch: the spawn backend cannot enforce "), line
        assert expected in line, line
        assert "use --backend native or docker" in line


def test_host_refuses_limits(hutch):
    line = one_line_error(hutch.run("run", "--backend", "host", "--memory", "64m", "--", "true"))
    assert "the host backend cannot enforce limits.memory (--memory)" in line


def test_spawn_memory_limit(hutch):
    proc = hutch.run("run", "--backend", "spawn", "--memory", "64m", "--", "python3", "-c",
                     "x = bytearray(256 * 1024 * 1024)")
    assert proc.returncode == 1 and b"MemoryError" in proc.stderr


def test_spawn_file_size_limit(hutch, tmp_path):
    target = tmp_path / "big"
    proc = hutch.run("run", "--backend", "spawn", "--file-size", "1k", "--", "sh", "-c",
                     f"head -c 4096 /dev/zero > {target}")
    assert proc.returncode != 0
    assert target.stat().st_size <= 1024


# ---- usage errors ----------------------------------------------------------

@pytest.mark.parametrize("args,expected", [
    (["run", "--memory", "12q", "--", "true"], 'hutch: --memory: "12q" is not a size like 512m'),
    (["run", "--timeout", "soon", "--", "true"],
     'hutch: --timeout: "soon" is not a duration like 30s, 500ms or 5m'),
    (["run", "--cpus", "lots", "--", "true"], 'hutch: --cpus: "lots" is not a CPU count like 0.5 or 2'),
    (["run", "--backend", "vm", "--", "true"],
     'hutch: --backend: "vm" is not one of host, spawn, native, docker'),
    (["run", "--bogus", "--", "true"],
     "hutch: unknown option --bogus (put the command after --, or see 'hutch help run')"),
    (["run", "--timeout"], "hutch: --timeout needs a value"),
    (["run"], "hutch: nothing to run: give a command, e.g. hutch run -- echo hi, or -c 'SHELL STRING'"),
    (["run", "--net", "allow", "--", "true"], 'hutch: --net: "allow" needs domains: write allow:DOMAIN[,DOMAIN...]'),
    (["run", "--net", "allow:*.com", "--", "true"],
     'hutch: --net: "*.com" is not a domain like example.com or *.example.com'),
    (["frobnicate"], "hutch: unknown command 'frobnicate' (see 'hutch --help')"),
])
def test_bad_flags_are_one_line_and_125(hutch, args, expected):
    assert one_line_error(hutch.run(*args)) == expected


def test_help_and_version(hutch):
    proc = hutch.run("--version", check=0)
    assert proc.stdout.decode().startswith("hutch 0.")
    for args in (["--help"], ["help"], ["help", "run"], ["run", "--help"], ["help", "config"],
                 ["help", "policy"], ["config", "--help"]):
        text = hutch.run(*args, check=0).stdout.decode()
        assert "NAME" in text or "POLICY OPTIONS" in text, args
    run_help = hutch.run("help", "run", check=0).stdout.decode()
    for section in ("SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "EXAMPLES",
                    "--memory SIZE", "--timeout DURATION", "Config key: sandbox.limits.memory"):
        assert section in run_help, section
    one_line_error(hutch.run("help", "nope"))
