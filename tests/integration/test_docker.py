"""The docker backend against a real engine: hardened ephemeral containers,
adopted containers, images, skills, the engine going away, and fallback.

The engine is started by scripts/docker-up.sh (the script CI uses), which
also builds the small test image hutch-test-busybox; the default image
hutch-sandbox:bookworm-slim comes from scripts/bootstrap-image.sh. Runs as
root and as an unprivileged member of the docker group (scripts/test.sh). The
tests talk to the engine themselves only to look (and to remove what a test
of theirs left behind): everything hutch does goes through the real binary.
The engine helpers are in tests/helpers.py."""
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import ROOT, one_line_error
from helpers import (BUSYBOX, SOCKET, cancel_while_stopped, engine, hutch_containers, is_podman,
                     own_containers, owned_by, remove_containers, wait_for)

# The engine (tests/conftest.py): DOCKER_HOST=unix://... runs the same tests
# against another engine, such as Podman's Docker-compatible socket.
pytestmark = pytest.mark.usefixtures("docker_engine")


def docker_only(what):
    if is_podman():
        pytest.skip(f"Podman: {what} (docs/docker.md, Podman)")


@pytest.fixture
def no_leftovers(hutch):
    """Checks that the test left none of its containers behind, and removes
    any it did. Only the test's own count (helpers.own_containers): those of
    the hutch processes it started through the hutch fixture (hutch.run,
    hutch.popen: label hutch.owner=HOST:PID) and those mounting a path in its
    tmp_path. Other users' and test runs' containers on the same engine are
    neither counted nor touched."""
    yield
    mine = lambda: own_containers(hutch.procs, [hutch.tmp])
    if not wait_for(lambda: not mine(), 10):
        left = mine()
        remove_containers(left)
        pytest.fail(f"containers left behind: {[c['Names'] for c in left]}")


def run_docker(hutch, *args, **kw):
    """hutch run --json --backend docker ARGS."""
    return hutch.run_json("--backend", "docker", *args, **kw)


def run_busybox(hutch, *args, **kw):
    return run_docker(hutch, "--image", BUSYBOX, *args, **kw)


# ---- ephemeral runs --------------------------------------------------------------------

def test_ordinary_work_in_the_default_image(hutch, no_leftovers):
    result, _ = run_docker(hutch, "--", "sh", "-c",
                           "cd /workspace && git init -q r && cd r && echo hi > a && "
                           "git add a && git -c user.name=A -c user.email=a@example.com "
                           "commit -qm first && git log --format=%s && "
                           "python3 -c 'print(6*7)' && echo '{\"a\":1}' | jq .a && id -u")
    assert result["exit_code"] == 0, result
    assert result["stdout"] == "first\n42\n1\n1000\n"
    assert result["backend"] == "docker" and result["isolated"] is True
    assert result["degraded"] is False


def test_exit_codes_and_signals(hutch, no_leftovers):
    result, _ = run_busybox(hutch, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result["exit_code"], result["stdout"], result["stderr"]) == (3, "out\n", "err\n")
    result, _ = run_busybox(hutch, "--", "sh", "-c", "kill -TERM $$")
    assert result["exit_code"] == 143 and result["signal"] == 15, result


def test_pid_1_passes_signals_on_and_reaps_orphans(hutch, no_leftovers):
    """hutch-init, PID 1 of the container: the timeout's SIGTERM reaches the
    command, and an orphan that exits does not stay a zombie."""
    # The orphan's pid is gone once PID 1 has reaped it (waited for up to 4 s).
    result, _ = run_busybox(hutch, "--timeout", "5s", "--", "sh", "-c",
                            "trap 'echo got TERM; exit 5' TERM; "
                            "orphan=$(sh -c 'sleep 0.2 >/dev/null & echo $!'); n=0; "
                            "while [ -e /proc/$orphan ] && [ $n -lt 40 ]; do "
                            "sleep 0.1; n=$((n + 1)); done; "
                            "echo zombies $(grep -c '^[0-9]* ([^)]*) Z' /proc/[0-9]*/stat | "
                            "grep -vc ':0$'); sleep 30 & wait")
    assert result["stdout"] == "zombies 0\ngot TERM\n", result
    assert result["timed_out"] is True, result


def test_command_not_found_is_127(hutch, no_leftovers):
    result, _ = run_busybox(hutch, "--", "no-such-command")
    assert result["exit_code"] == 127, result
    assert "no-such-command" in result["stderr"]


def test_argv_and_stdin_arrive_intact(hutch, no_leftovers):
    weird = ["a b", "$(id)", "--flag", "'quoted'", "ünïcode", ""]
    result, _ = run_busybox(hutch, "--", "printf", "[%s]\\n", *weird)
    assert result["stdout"] == "".join(f"[{w}]\n" for w in weird)
    data = b"line one\nline two\n" * 5000
    result, _ = run_busybox(hutch, "--stdin", "--", "sh", "-c", "wc -c; echo done",
                            input=data)
    assert result["stdout"] == f"{len(data)}\ndone\n", result


def test_live_mode_streams_and_exits_with_the_status(hutch, no_leftovers):
    proc = hutch.run("run", "--backend", "docker", "--image", BUSYBOX, "--", "sh", "-c",
                     "echo to-out; echo to-err >&2; exit 7")
    assert proc.returncode == 7
    assert proc.stdout == b"to-out\n" and proc.stderr == b"to-err\n"


# A failing command whose streams interleave, with NUL, control and non-UTF-8
# bytes, a line that starts like an engine's error, and no final newline.
EXACT = ("printf 'o1\\000\\001\\377'; printf 'e1\\n\\033[' >&2; printf '\\r\\n\\tO2'; "
         "printf '\\376E2\\000' >&2; printf 'o3'; printf 'Error: e3' >&2; exit 3")
EXACT_OUT = b"o1\x00\x01\xff\r\n\tO2o3"
EXACT_ERR = b"e1\n\x1b[\xfeE2\x00Error: e3"


def exact_runs(hutch, runs, *where, unread_input=True):
    """Runs EXACT runs times, four at a time, every other one (with
    unread_input) given input that the command never reads, as a failing
    skill leaves its arguments: the runs that differ, as (run, exit status,
    stdout, stderr)."""
    def one(i):
        stdin = ("--stdin",) if unread_input and i % 2 == 0 else ()
        proc = hutch.run("run", *where, *stdin, "-c", EXACT,
                         input=b'{"unread": true}\n' if stdin else None)
        return i, proc.returncode, proc.stdout, proc.stderr

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return [r for r in pool.map(one, range(runs))
                if r[1:] != (3, EXACT_OUT, EXACT_ERR)]


def test_output_is_byte_exact_every_time(hutch, no_leftovers):
    """Through attach, what the command wrote and nothing else: no byte lost,
    none added (Podman once wrote its own attach error into stderr, and lost
    output with it, when a command left its input unread), and no warning.
    Against Docker in the main pass, Podman in scripts/test.sh's podman pass."""
    bad = exact_runs(hutch, 200, "--backend", "docker", "--image", BUSYBOX)
    assert bad == [], f"{len(bad)} of 200 runs differ, e.g. {bad[:3]}"


def test_output_is_byte_exact_in_an_adopted_container(hutch, adopted):
    """The same through exec (adopted containers). Podman's exec shares one
    connection between input and output, so input left unread can still cost
    output there (docs/docker.md, Podman): its runs here take none."""
    bad = exact_runs(hutch, 50, "--sandbox", f"docker:{adopted}", unread_input=not is_podman())
    assert bad == [], f"{len(bad)} of 50 runs differ, e.g. {bad[:3]}"


def test_output_limit(hutch, no_leftovers):
    result, _ = run_busybox(hutch, "--output-limit", "1k", "--", "sh", "-c",
                            "head -c 1000000 /dev/zero | tr '\\0' x")
    assert result["stdout_truncated"] is True and result["stdout_bytes"] == 1000000
    assert len(result["stdout"]) == 1024


def test_the_container_is_hardened_as_asked(hutch, tmp_path, no_leftovers):
    """Inspects the live container: every requested setting, and nothing more."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "note").write_text("read me")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    os.chmod(workspace, 0o777)
    proc = hutch.popen(
        "run", "--backend", "docker", "--image", BUSYBOX, "--memory", "96m",
        "--cpus", "0.5", "--pids", "40", "--workspace", str(workspace),
        "--ro", f"{data}:/data", "--env", "MARK=1", "--", "sleep", "30",
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        mine = wait_for(lambda: [c for c in owned_by(proc.pid) if c["State"] == "running"], 20)
        assert len(mine) == 1, hutch_containers()
        _, info = engine("GET", f"/containers/{mine[0]['Id']}/json", expect=200)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    host, config = info["HostConfig"], info["Config"]
    if not is_podman():  # Podman lists the capabilities it dropped instead
        assert host["CapDrop"] == ["ALL"]
    assert not host["CapAdd"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["Privileged"] is False
    assert host["ReadonlyRootfs"] is True
    assert host["Memory"] == 96 << 20 and host["MemorySwap"] == 96 << 20
    assert host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 40
    assert host["NetworkMode"] == "none"
    assert config["User"] == "1000:1000"
    # PID 1 is hutch-init, read-only at /.hutch-init, not the engine's init
    # (tests/security/test_docker_escapes.py).
    assert not host.get("Init") and config["Entrypoint"] == ["/.hutch-init", "--"]
    # target: (source, read-only); Podman reports the same mounts as Binds.
    binds = {m["Target"]: (m["Source"], m.get("ReadOnly", False)) for m in host.get("Mounts") or []}
    for spec in host.get("Binds") or []:
        assert is_podman(), spec
        source, target, options = spec.split(":")
        binds[target] = (source, "ro" in options.split(","))
    agent = binds.pop("/.hutch-init")
    assert agent[0].endswith("/hutch-init") and agent[1] is True, agent
    assert binds == {"/workspace": (str(workspace.resolve()), False),
                     "/data": (str(data.resolve()), True)}
    mounted = [m.get("Source", "") for m in info["Mounts"]]
    assert not [s for s in mounted if "docker.sock" in s]
    assert set(host["Tmpfs"]) == {"/tmp", "/var/tmp", "/run"}
    assert not host.get("Devices")
    assert host.get("PidMode") in ("", "private", None)
    assert host.get("IpcMode") != "host" and host.get("UTSMode") != "host"
    assert config["Labels"]["hutch.managed"] == "true" and config["Labels"]["hutch.kind"] == "run"
    assert "MARK=1" in config["Env"]
    assert not [e for e in config["Env"] if e.startswith(("DOCKER_", "XDG_CONFIG_HOME"))]


def test_inside_the_container(hutch, tmp_path, no_leftovers):
    """What the command sees: no capabilities, no new privileges, a read-only
    root, writable scratch, no engine socket, only loopback."""
    result, _ = run_busybox(hutch, "--", "sh", "-c",
                            "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; "
                            "touch /usr/x 2>/dev/null && echo root-writable; "
                            "touch /tmp/a /workspace/b /var/tmp/c && echo scratch-ok; "
                            "ls /var/run/docker.sock /run/docker.sock 2>/dev/null; "
                            "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '")
    lines = result["stdout"].split("\n")
    assert "CapEff:\t0000000000000000" in lines, result
    assert "CapBnd:\t0000000000000000" in lines
    assert "NoNewPrivs:\t1" in lines
    assert "root-writable" not in lines
    assert "scratch-ok" in lines
    assert not [l for l in lines if "docker.sock" in l]
    assert [l for l in lines[lines.index("scratch-ok") + 1:] if l] == ["lo"]


def test_network_none_reaches_nothing(hutch, no_leftovers):
    code = ("import socket\n"
            "for host, port in [('1.1.1.1', 53), ('172.17.0.1', 2375), ('127.0.0.1', 1)]:\n"
            "    s = socket.socket(); s.settimeout(2)\n"
            "    try:\n"
            "        s.connect((host, port)); print('reached', host)\n"
            "    except OSError as e:\n"
            "        print('blocked', host, e.errno)\n"
            "try:\n"
            "    socket.getaddrinfo('example.com', 80); print('resolved')\n"
            "except OSError:\n"
            "    print('no dns')\n")
    result, _ = run_docker(hutch, "--", "python3", "-c", code)
    assert result["exit_code"] == 0, result
    assert "reached" not in result["stdout"], result["stdout"]
    assert "no dns" in result["stdout"]


def test_bridge_network_is_honoured(hutch, no_leftovers):
    result, _ = run_busybox(hutch, "--net", "bridge", "--", "sh", "-c",
                            "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort")
    assert result["stdout"].split() == ["eth0", "lo"], result


def test_memory_limit_reports_oom(hutch, no_leftovers):
    docker_only("its compatible API does not report State.OOMKilled")
    result, _ = run_docker(hutch, "--memory", "48m", "--", "python3", "-c",
                           "b = bytearray(400 << 20); print('survived')")
    assert result["oom_killed"] is True, result
    assert result["exit_code"] == 137 and result["signal"] == 9
    assert result["limits_via"] == "docker"
    assert "survived" not in result["stdout"]


def test_pids_limit(hutch, no_leftovers):
    code = ("import os, time\n"
            "n = 0\n"
            "for i in range(60):\n"
            "    try:\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(5); os._exit(0)\n"
            "        n += 1\n"
            "    except OSError:\n"
            "        break\n"
            "print(n)\n")
    result, _ = run_docker(hutch, "--pids", "20", "--", "python3", "-c", code)
    assert result["exit_code"] == 0, result
    assert 5 <= int(result["stdout"]) < 20, result


def test_timeout_leaves_no_container(hutch, no_leftovers):
    start = time.monotonic()
    result, _ = run_busybox(hutch, "--timeout", "1s", "--", "sh", "-c",
                            "trap '' TERM; echo started; sleep 60")
    elapsed = time.monotonic() - start
    assert result["timed_out"] is True and result["exit_code"] == 124, result
    assert result["stdout"] == "started\n"
    assert elapsed < 10, elapsed


def test_ctrl_c_removes_the_container(hutch, no_leftovers):
    proc = hutch.popen("run", "--backend", "docker", "--image", BUSYBOX, "--", "sleep", "300",
                       stdin=subprocess.DEVNULL, start_new_session=True)
    assert wait_for(lambda: [c for c in owned_by(proc.pid) if c["State"] == "running"], 20)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 130
    assert owned_by(proc.pid) == []


def test_a_run_cancelled_while_its_container_is_made_never_starts_it(hutch, no_leftovers):
    """SIGTERM while hutch makes the container (held stopped meanwhile, with
    no container of its own at the engine yet, so that it is certain nothing
    had started): the container is removed unstarted, and the run ends as
    SIGTERM would have ended it."""
    certain = 0
    for i in range(12):
        proc = hutch.popen("run", "--backend", "docker", "--image", BUSYBOX, "--", "sh", "-c",
                           "echo ran; sleep 300", stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        before, status, out, err = cancel_while_stopped(proc, lambda: owned_by(proc.pid))
        assert status == 128 + signal.SIGTERM, (status, err)
        if before:
            certain += 1
            assert out == b"", f"run {i}: the cancelled run started its container: {out}"
        if certain == 4:
            break
    assert certain >= 3, f"only {certain} of {i + 1} cancels came certainly before the start"


def test_runsc_runtime(hutch, no_leftovers):
    if is_podman():
        line = one_line_error(hutch.run("run", "--backend", "docker", "--image", BUSYBOX,
                                        "--runtime", "runsc", "--", "true"))
        assert "did not apply the runtime runsc" in line and "containers.conf" in line
        return
    _, info = engine("GET", "/info", expect=200)
    assert "runsc" in info["Runtimes"], "scripts/docker-up.sh registers runsc"
    result, _ = run_busybox(hutch, "--runtime", "runsc", "--", "sh", "-c",
                            "dmesg 2>/dev/null | head -1; echo in-gvisor")
    assert result["exit_code"] == 0, result
    assert "gVisor" in result["stdout"] and "in-gvisor" in result["stdout"]


def test_engine_errors_are_passed_on(hutch, no_leftovers):
    line = one_line_error(hutch.run("run", "--backend", "docker", "--image", BUSYBOX,
                                    "--runtime", "no-such-runtime", "--", "true"))
    assert "no-such-runtime" in line, line


def test_missing_image_names_both_ways_to_get_it(hutch):
    line = one_line_error(hutch.run("run", "--backend", "docker", "--image",
                                    "hutch-nope:latest", "--", "true"))
    assert "hutch-nope:latest" in line
    assert "share/hutch/bootstrap-image.sh" in line and "hutch image build" in line


def test_engine_socket_is_never_mounted(hutch):
    line = one_line_error(hutch.run("run", "--backend", "docker", "--image", BUSYBOX,
                                    "--ro", "/var/run", "--", "true"))
    assert "gives root on the host" in line


def test_setup_command_runs_before_the_command(hutch, tmp_path, no_leftovers):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"sandbox": {"backend": "docker", "docker": {
        "image": BUSYBOX, "setupCommand": "echo preparing; echo ready > /tmp/state"}}}))
    result, _ = hutch.run_json("--config", str(config), "--", "cat", "/tmp/state")
    assert result["stdout"] == "ready\n" and result["stderr"] == "preparing\n", result
    config.write_text(json.dumps({"sandbox": {"backend": "docker", "docker": {
        "image": BUSYBOX, "setupCommand": "exit 4"}}}))
    result, _ = hutch.run_json("--config", str(config), "--", "echo", "not run")
    assert result["exit_code"] == 125 and result["stdout"] == ""
    assert "docker.setupCommand failed with status 4" in result["stderr"]


# ---- adopted containers ------------------------------------------------------------------

@pytest.fixture
def adopted():
    name = f"hutch-adopted-{os.getpid()}"
    engine("DELETE", f"/containers/{name}?force=true")
    engine("POST", f"/containers/create?name={name}",
           {"Image": BUSYBOX, "Cmd": ["sleep", "3600"]}, expect=201)
    engine("POST", f"/containers/{name}/start", expect=204)
    yield name
    engine("DELETE", f"/containers/{name}?force=true")


def test_adopted_container_keeps_its_state(hutch, adopted):
    result, _ = hutch.run_json("--sandbox", f"docker:{adopted}", "--", "sh", "-c",
                               "echo installed > /tmp/tool; hostname")
    assert result["exit_code"] == 0 and result["backend"] == "docker", result
    result, _ = hutch.run_json("--sandbox", f"docker:{adopted}", "--", "cat", "/tmp/tool")
    assert result["stdout"] == "installed\n", result
    _, info = engine("GET", f"/containers/{adopted}/json", expect=200)
    assert info["State"]["Running"] is True


def test_adopted_timeout_kills_the_command_not_the_container(hutch, adopted):
    result, _ = hutch.run_json("--sandbox", f"docker:{adopted}", "--timeout", "1s", "--",
                               "sh", "-c", "sleep 77.5 & sleep 77.5; echo never")
    assert result["timed_out"] is True and result["exit_code"] == 124, result
    procs = wait_for(lambda: "77.5" not in hutch.run(
        "run", "--sandbox", f"docker:{adopted}", "--", "sh", "-c",
        "cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout.decode(), 10)
    assert procs, "the command's processes were killed"
    _, info = engine("GET", f"/containers/{adopted}/json", expect=200)
    assert info["State"]["Running"] is True


def test_adopted_missing_and_stopped(hutch, adopted):
    line = one_line_error(hutch.run("run", "--sandbox", "docker:hutch-no-such-box", "--", "true"))
    assert "hutch-no-such-box does not exist" in line
    engine("POST", f"/containers/{adopted}/stop?t=0", expect=204)
    line = one_line_error(hutch.run("run", "--sandbox", f"docker:{adopted}", "--", "true"))
    assert "is stopped" in line and f"docker start {adopted}" in line
    _, info = engine("GET", f"/containers/{adopted}/json", expect=200)
    assert info["State"]["Running"] is False, "hutch never starts a container it did not create"


def test_adopted_refuses_restrictions_it_cannot_apply(hutch, adopted):
    line = one_line_error(hutch.run("run", "--sandbox", f"docker:{adopted}", "--memory", "1g",
                                    "--", "true"))
    assert "keeps its own settings" in line and "--memory" in line


# ---- images -----------------------------------------------------------------------------

def test_image_build_ls_rm(hutch, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {BUSYBOX}\nCOPY hello.txt /hello.txt\n"
                                    "RUN echo built-step\n")
    (ctx / "hello.txt").write_text("hello from the image\n")
    (ctx / "secret.key").write_text("never sent\n")
    (ctx / ".dockerignore").write_text("*.key\n")
    tag = f"hutch-test-built:{os.getpid()}"
    proc = hutch.run("image", "build", str(ctx), "-t", tag, check=0)
    assert b"built-step" in proc.stdout, "the build's progress is shown"
    try:
        result, _ = hutch.run_json("--backend", "docker", "--image", tag, "--", "sh", "-c",
                                   "cat /hello.txt; ls /secret.key 2>&1 | head -1")
        assert result["stdout"].startswith("hello from the image\n"), result
        listing = hutch.run("image", "ls", check=0).stdout.decode()
        assert tag in listing
        listed = json.loads(hutch.run("image", "ls", "--json", check=0).stdout)
        assert [i for i in listed if tag in (i["tags"] or [])]
    finally:
        proc = hutch.run("image", "rm", tag, check=0)
    assert engine("GET", f"/images/{tag}/json")[0] == 404


def test_image_build_error_is_shown(hutch, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nRUN echo about to fail; exit 3\n")
    proc = hutch.run("image", "build", str(tmp_path), "-t", "hutch-test-broken:1")
    assert proc.returncode == 125
    assert b"about to fail" in proc.stdout
    assert (b"returned a non-zero code: 3" in proc.stderr or  # Docker
            b"exit status 3" in proc.stderr), proc.stderr      # Podman


def test_image_build_needs_a_dockerfile(hutch, tmp_path):
    line = one_line_error(hutch.run("image", "build", str(tmp_path)))
    assert "no Dockerfile" in line


# ---- skills ------------------------------------------------------------------------------

@pytest.fixture
def skill(tmp_path):
    d = tmp_path / "greeter"
    d.mkdir()
    (d / "Dockerfile").write_text(f"FROM {BUSYBOX}\nCOPY greet fail /usr/local/bin/\n")
    (d / "greet").write_text("#!/bin/sh\nread -r args\n"
                             "name=$(echo \"$args\" | sed -n 's/.*\"name\": *\"\\([^\"]*\\)\".*/\\1/p')\n"
                             "echo \"{\\\"greeting\\\": \\\"hello, $name\\\"}\"\n")
    (d / "fail").write_text("#!/bin/sh\necho 'no luck' >&2\nexit 2\n")
    (d / "slow").write_text("#!/bin/sh\nsleep 300\n")
    for name in ("greet", "fail", "slow"):
        os.chmod(d / name, 0o755)
    (d / "Dockerfile").write_text(f"FROM {BUSYBOX}\nCOPY greet fail slow /usr/local/bin/\n")
    return d


def test_skill_run_with_args(hutch, skill, no_leftovers):
    proc = hutch.run("skill", "run", str(skill), "greet", "--args", '{"name": "Ada"}', check=0)
    assert json.loads(proc.stdout) == {"status": "ok", "output": {"greeting": "hello, Ada"},
                                       "error": None}
    proc = hutch.run("skill", "run", str(skill), "greet", "--args", '{"name": "Bo"}', "--json",
                     check=0)
    full = json.loads(proc.stdout)
    assert full["output"] == {"greeting": "hello, Bo"}
    assert full["backend"] == "docker" and full["exit_code"] == 0 and full["isolated"] is True
    proc = hutch.run("skill", "run", str(skill), "fail", check=2)
    assert json.loads(proc.stdout) == {"status": "error", "output": "", "error": "no luck\n"}


def test_skill_ctrl_c_removes_its_container(hutch, skill, no_leftovers):
    hutch.run("skill", "build", str(skill), check=0)
    proc = hutch.popen("skill", "run", str(skill), "slow", stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, start_new_session=True)
    assert wait_for(lambda: [c for c in owned_by(proc.pid) if c["State"] == "running"], 20)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    # SIGINT reaches the script's shell, which waits for its sleep: SIGKILL
    # follows two seconds later.
    assert proc.returncode in (130, 137)
    assert json.loads(out)["status"] == "error"
    assert owned_by(proc.pid) == []


def test_skill_is_rebuilt_only_when_it_changes(hutch, skill):
    first = hutch.run("skill", "build", str(skill), check=0)
    tag = first.stdout.decode().strip()
    again = hutch.run("skill", "build", str(skill), check=0)
    assert again.stdout.decode().strip() == tag and b"up to date" in again.stderr
    (skill / "greet").write_text(f"#!/bin/sh\necho changed # {time.time()}\n")
    changed = hutch.run("skill", "build", str(skill), check=0)
    new_tag = changed.stdout.decode().strip()
    assert new_tag != tag and b"built" in changed.stderr
    proc = hutch.run("skill", "run", str(skill), "greet", check=0)
    assert json.loads(proc.stdout)["output"] == "changed\n"
    for t in (tag, new_tag):
        engine("DELETE", f"/images/{t}?force=true")


def test_skill_bad_args(hutch, skill):
    line = one_line_error(hutch.run("skill", "run", str(skill), "greet", "--args", "{nope"))
    assert "--args is not JSON" in line
    line = one_line_error(hutch.run("skill", "run", str(skill)))
    assert "needs DIR and ACTION" in line


# ---- the engine unavailable ----------------------------------------------------------------

def test_unreachable_engine_fails_closed(hutch, tmp_path):
    sock = tmp_path / "nothing.sock"
    line = one_line_error(hutch.run("run", "--backend", "docker", "--", "true",
                                    env={"DOCKER_HOST": f"unix://{sock}"}))
    assert line == (f"hutch: Docker engine not reachable at {sock}: start dockerd or set "
                    "DOCKER_HOST, or pass --fallback spawn to run without isolation")
    line = one_line_error(hutch.run("run", "--backend", "docker", "--", "true",
                                    env={"DOCKER_HOST": "tcp://127.0.0.1:1"}))
    assert "not reachable at tcp://127.0.0.1:1" in line


def test_tls_engines_are_refused_not_spoken_to_in_plain_text(hutch):
    line = one_line_error(hutch.run("run", "--backend", "docker", "--", "true",
                                    env={"DOCKER_HOST": "tcp://127.0.0.1:2376",
                                         "DOCKER_TLS_VERIFY": "1"}))
    assert "DOCKER_TLS_VERIFY" in line and "unix socket" in line


def test_image_and_skill_usage_errors(hutch, skill):
    line = one_line_error(hutch.run("image", "rm", "hutch-no-such-image:1"))
    assert line == ("hutch: there is no image hutch-no-such-image:1: see hutch image ls --all "
                    "for the names")
    line = one_line_error(hutch.run("skill", "run", str(skill), "greet", "--sandbox",
                                    "docker:anything"))
    assert "--sandbox (docker.container) does not apply" in line


def test_fallback_spawn_when_the_engine_is_unreachable(hutch, tmp_path):
    result, proc = hutch.run_json("--backend", "docker", "--fallback", "spawn", "--", "echo",
                                  "hi", env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert result["degraded"] is True and result["backend"] == "spawn"
    assert result["isolated"] is False and result["stdout"] == "hi\n"
    assert proc.stderr.decode().startswith(
        "hutch: warning: Docker engine not reachable at "), proc.stderr
    assert "unisolated with the spawn backend" in proc.stderr.decode()


def test_fallback_names_every_restriction_it_drops(hutch, tmp_path):
    """--net none --pids 3 --ro DIR, and the engine gone: the spawn run says
    which of them it does not apply, in the warning and in the result."""
    env = {"DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    result, proc = hutch.run_json("--backend", "docker", "--fallback", "spawn", "--net", "none",
                                  "--pids", "3", "--ro", str(tmp_path), "--", "true", env=env)
    assert result["degraded"] is True
    assert sorted(result["unenforced"]) == ["filesystem.readOnly", "limits.pids", "network.mode"]
    assert "not enforced by the spawn fallback: " in result["degraded_reason"]
    for key in result["unenforced"]:
        assert key in result["degraded_reason"] and key in proc.stderr.decode()
    result, _ = hutch.run_json("--backend", "docker", "--fallback", "spawn", "--", "true", env=env)
    assert result["unenforced"] == [], result


def test_fallback_keep_refuses_instead(hutch, tmp_path):
    env = {"DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    marker = tmp_path / "ran"
    for keep in ("limits.pids", "all"):
        proc = hutch.run("run", "--backend", "docker", "--fallback", "spawn", "--fallback-keep", keep,
                         "--pids", "3", "--", "touch", str(marker), env=env)
        line = proc.stderr.decode()
        assert proc.returncode == 125 and line.count("\n") == 1, line
        assert "--fallback spawn would drop limits.pids, which fallbackKeep keeps" in line
        assert not marker.exists(), "the command must not run"
    # A restriction that is not asked for does not stop the fallback.
    result, _ = hutch.run_json("--backend", "docker", "--fallback", "spawn", "--fallback-keep",
                               "limits.memory", "--", "true", env=env)
    assert result["degraded"] is True and result["exit_code"] == 0
    proc = hutch.run("run", "--fallback-keep", "env", "--", "true")
    assert proc.returncode == 125 and "is not a restriction's key" in proc.stderr.decode()


def test_fallback_is_unused_when_the_engine_works(hutch, no_leftovers):
    result, proc = run_busybox(hutch, "--fallback", "spawn", "--", "echo", "hi")
    assert result["degraded"] is False and result["backend"] == "docker"
    assert proc.stderr == b""


def test_socket_without_permission(hutch, tmp_path):
    if ROOT:
        pytest.skip("root connects to any socket; the unprivileged pass checks this")
    path = tmp_path / "locked.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    os.chmod(path, 0)
    try:
        line = one_line_error(hutch.run("run", "--backend", "docker", "--", "true",
                                        env={"DOCKER_HOST": f"unix://{path}"}))
    finally:
        listener.close()
    assert "permission" in line.lower() and "docker group" in line, line


def test_engine_over_tcp(hutch, tmp_path, no_leftovers):
    """DOCKER_HOST=tcp://: the same calls and hijacked streams over TCP (socat
    relays a loopback port to the engine's socket for the test's length)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    relay = subprocess.Popen(["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                              f"UNIX-CONNECT:{SOCKET}"], stderr=subprocess.DEVNULL)
    try:
        def up():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        assert wait_for(up, 10)
        result, _ = run_busybox(hutch, "--stdin", "--", "sh", "-c", "cat; echo over-tcp >&2",
                                input=b"piped in\n", env={"DOCKER_HOST": f"tcp://127.0.0.1:{port}"})
    finally:
        relay.kill()
        relay.wait()
    assert result["exit_code"] == 0, result
    assert result["stdout"] == "piped in\n" and result["stderr"] == "over-tcp\n"


def test_doctor_reports_the_engine(hutch):
    proc = hutch.run("doctor", "--json")
    docker = json.loads(proc.stdout)["checks"]["docker"]
    assert docker["ok"] is True, docker
    assert "API 1." in docker["detail"] and "runsc" in docker["detail"]


def test_engine_stopped_mid_run(hutch, private_dockerd):
    """dockerd dies while a command runs: a clean error, and the container
    left behind is removed by the next run once the engine is back. The
    dockerd killed is the test's own (conftest.private_dockerd): the
    machine's keeps running for everyone else."""
    d = private_dockerd
    hutch.env["DOCKER_HOST"] = d.host
    proc = hutch.popen("run", "--backend", "docker", "--image", BUSYBOX, "--", "sleep", "300",
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: [c for c in owned_by(proc.pid, sock=d.socket)
                                 if c["State"] == "running"], 20), d.log_tail()
        d.signal(signal.SIGKILL)
        assert d.stopped()
        out, err = proc.communicate(timeout=60)
        d.shared_untouched()
    finally:
        proc.kill()
        proc.wait()
        if d.proc.poll() is not None:
            d.start()
    assert proc.returncode == 125, (proc.returncode, out, err)
    assert out == b""
    message = err.decode().strip().splitlines()[-1]
    assert "went away" in message and "removes it on its next docker run" in message, message
    result, _ = run_busybox(hutch, "--", "true")
    assert result["exit_code"] == 0
    assert wait_for(lambda: owned_by(proc.pid, sock=d.socket) == [], 20), \
        owned_by(proc.pid, sock=d.socket)
    d.shared_untouched()
