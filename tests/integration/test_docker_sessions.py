"""Docker sessions against a real engine: one container per session with
hutch-init as PID 1, its lifecycle, surviving container and dockerd
restarts, the agent killed, concurrency, prune, adopted containers, and the
Engine API path over TCP. The engine comes from scripts/docker-up.sh."""
import json
import os
import pathlib
import signal
import socket
import subprocess

import pytest

from conftest import HUTCH, ROOT, Sessions, age, one_line_error
from helpers import (BUSYBOX, SOCKET, engine, own_containers,
                     remove_containers, wait_for)

pytestmark = pytest.mark.usefixtures("docker_engine")  # tests/conftest.py

# A session's container is named PREFIX + KEY + a hash of KEY and the state
# directory, and labelled hutch.state_dir (src/session/naming.c,
# src/drivers/docker/docker_session.c): another user's or test run's session
# of the same key gets another container. A prefix of this run's own keeps
# even the names apart.
PREFIX = f"hutch-t{os.getpid()}-"


def docker_config(**docker):
    return json.dumps({"sandbox": {"backend": "docker",
                                   "docker": {"containerPrefix": PREFIX, **docker}}})


def session_containers(sessions, **labels):
    """The session containers of this test's own state directory (they mount
    STATE/sessions/NAME/run; no label names the state directory), with the
    given hutch.* labels: never those of other users or test runs."""
    return own_containers(paths=[sessions.state], kind="session",
                          labels=[f"hutch.{k}={v}" for k, v in labels.items()])


@pytest.fixture
def sessions(hutch, tmp_path):
    """Sessions in the test's own state directory, docker by config; at the
    end, every one is removed, and with it any container of this state
    directory still there (only those: see session_containers)."""
    s = Sessions(hutch, tmp_path)
    config = tmp_path / "docker.json"
    config.write_text(docker_config())
    s.config = str(config)
    yield s
    s.cleanup()
    remove_containers(session_containers(s))


def inspect(name):
    status, info = engine("GET", f"/containers/{name}/json")
    return info if status == 200 else None


def test_docker_session_lifecycle(sessions):
    proc = sessions.run("session", "create", "d1", "--config", sessions.config, check=0)
    status = sessions.status("d1")
    assert status["backend"] == "docker" and status["state"] == "running", status
    name = status["container_name"]
    assert name.startswith(f"{PREFIX}d1-") and len(name) <= 63
    info = inspect(name)
    host = info["HostConfig"]
    assert info["Path"] == "/.hutch-init" and info["State"]["Pid"] > 0
    # Podman lists every capability where Docker says ALL.
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] or len(host["CapDrop"]) >= 13, host["CapDrop"]
    assert "no-new-privileges" in host["SecurityOpt"] and host["NetworkMode"] == "none"
    assert info["Config"]["Labels"]["hutch.kind"] == "session"
    assert info["Config"]["Labels"]["hutch.session"] == "d1"
    mounts = {m["Destination"]: m for m in info["Mounts"]}
    assert mounts["/.hutch-init"]["RW"] is False and mounts["/workspace"]["RW"] is True

    result, _ = sessions.exec_json("d1", "--", "sh", "-c",
                                   "cat /proc/1/cmdline | tr '\\0' ' '; echo; id -u; "
                                   "echo w > /workspace/w; echo t > /tmp/t")
    assert result["exit_code"] == 0, result
    assert result["backend"] == "docker" and result["isolated"] is True
    first, uid = result["stdout"].splitlines()
    assert first.startswith("/.hutch-init") and uid == ("1000" if ROOT else str(os.getuid()))
    result, _ = sessions.exec_json("d1", "--", "cat", "/tmp/t", "/workspace/w")
    assert result["stdout"] == "t\nw\n"
    assert (pathlib.Path(status["workspace"]) / "w").read_text() == "w\n"

    sessions.run("session", "stop", "d1", check=0)
    assert inspect(name)["State"]["Running"] is False
    assert sessions.status("d1")["state"] == "stopped"
    result, _ = sessions.exec_json("d1", "--", "cat", "/workspace/w")
    assert result["stdout"] == "w\n" and inspect(name)["State"]["Running"] is True
    proc = sessions.run("session", "stats", "d1", "--json", check=0)
    assert json.loads(proc.stdout)["pids"] >= 1
    sessions.run("session", "rm", "d1", check=0)
    assert inspect(name) is None
    assert (pathlib.Path(status["workspace"]) / "w").exists()


def test_docker_exec_results(sessions):
    sessions.run("session", "create", "r", "--config", sessions.config, check=0)
    result, proc = sessions.exec_json("r", "-c", "echo out; echo err >&2; exit 4")
    assert (result["exit_code"], result["stdout"], result["stderr"]) == (4, "out\n", "err\n")
    result, _ = sessions.exec_json("r", "--", "no-such-command")
    assert result["exit_code"] == 127
    result, _ = sessions.exec_json("r", "--timeout", "1", "--", "sleep", "30")
    assert result["timed_out"] is True and result["exit_code"] == 124
    proc = sessions.run("exec", "r", "--stdin", "--", "cat", input=b"in\n")
    assert proc.stdout == b"in\n" and proc.returncode == 0


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the CPU pin is skipped with one CPU")
def test_docker_commands_get_every_cpu_of_the_agent(sessions):
    """The agent in the container forks a command on its own CPU and gives
    it back all of its CPUs before the exec (docs/sessions.md, "Where
    commands run"): the command's set is the agent's (PID 1's) set."""
    sessions.run("session", "create", "cpus", "--config", sessions.config, check=0)
    for _ in range(10):
        result, _ = sessions.exec_json("cpus", "-c", "grep Cpus_allowed_list /proc/self/status "
                                       "/proc/1/status")
        mine, agent = (line.split(":")[-1].strip() for line in result["stdout"].splitlines())
        assert mine == agent and result["exit_code"] == 0, result
        assert "-" in mine or "," in mine, f"one CPU only: {result}"


def test_docker_setup_command_runs_once(sessions, tmp_path):
    config = tmp_path / "setup.json"
    config.write_text(docker_config(setupCommand="echo once >> /workspace/setup.log"))
    for _ in range(3):
        sessions.run("exec", "su", "--config", str(config), "--", "true", check=0)
    assert (pathlib.Path(sessions.status("su")["workspace"]) / "setup.log").read_text() == "once\n"
    config.write_text(docker_config(setupCommand="echo no-network-here >&2; exit 2"))
    proc = sessions.run("session", "create", "sf", "--config", str(config))
    assert proc.returncode == 125 and "no-network-here" in one_line_error(proc)
    status = sessions.status("sf")
    assert status["state"] == "failed"
    assert not session_containers(sessions, session="sf")


def test_32_concurrent_execs_on_a_docker_session(sessions):
    sessions.run("session", "create", "many", "--config", sessions.config, check=0)
    procs = [subprocess.Popen([HUTCH, "exec", "many", "--json", "--", "echo", str(i)],
                              env=sessions.hutch.env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(32)]
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, (i, out, err)
        assert json.loads(out)["stdout"] == f"{i}\n"
    assert sessions.status("many")["exec_count"] == 33  # create + 32


def test_container_restart_and_agent_killed(sessions):
    sessions.run("session", "create", "rs", "--config", sessions.config, check=0)
    name = sessions.status("rs")["container_name"]
    engine("POST", f"/containers/{name}/restart?t=1", expect=204)
    result, _ = sessions.exec_json("rs", "--", "echo", "after restart")
    assert result["stdout"] == "after restart\n", result
    # The agent is PID 1: killing it stops the container; hutch says so, and
    # the next use brings it back.
    engine("POST", f"/containers/{name}/kill?signal=KILL", expect=204)
    assert wait_for(lambda: not inspect(name)["State"]["Running"], 20)
    status = sessions.status("rs")
    assert status["state"] == "broken" and "exited" in status["detail"], status
    proc = sessions.run("exec", "rs", "--", "echo", "back", check=0)
    assert proc.stdout == b"back\n" and "restarting" in proc.stderr.decode()


def test_installed_tools_survive_a_dockerd_restart(sessions, private_dockerd):
    """A tool installed in a session's container is still there after dockerd
    restarts. The dockerd restarted is the test's own
    (conftest.private_dockerd): the machine's keeps running for everyone else."""
    d = private_dockerd
    sessions.hutch.env["DOCKER_HOST"] = d.host
    config = pathlib.Path(sessions.config)
    config.write_text(docker_config(image=BUSYBOX))
    try:
        sessions.run("session", "create", "keep", "--config", sessions.config, "--user", "0:0",
                     "--read-only-root=false", check=0)
        sessions.run("exec", "keep", "-c", "mkdir -p /usr/local/bin && printf '#!/bin/sh\\necho "
                     "tool works\\n' > /usr/local/bin/mytool && chmod +x /usr/local/bin/mytool",
                     check=0)
        d.signal(signal.SIGTERM)
        assert d.stopped(), d.log_tail()
        d.shared_untouched()
        d.start()
        proc = sessions.run("exec", "keep", "--", "mytool", check=0)
        assert proc.stdout == b"tool works\n"
        d.shared_untouched()
    finally:
        sessions.cleanup()  # while the private engine is still there


def test_adopted_container_session(sessions):
    name = f"hutch-test-adopt-{os.getpid()}"
    engine("POST", f"/containers/create?name={name}",
           {"Image": BUSYBOX, "Cmd": ["sleep", "3600"], "Labels": {"test": "adopt"}},
           expect=201)
    try:
        engine("POST", f"/containers/{name}/start", expect=204)
        sessions.run("session", "create", "ad", "--config", sessions.config, "--sandbox",
                     f"docker:{name}", check=0)
        result, _ = sessions.exec_json("ad", "-c", "echo hello > /tmp/x; cat /tmp/x")
        assert result["stdout"] == "hello\n", result
        assert sessions.status("ad")["adopted"] is True
        assert sessions.status("ad")["exec_count"] == 2  # create + one exec, counted once
        proc = sessions.run("session", "stop", "ad")
        assert proc.returncode == 125 and "never stops" in one_line_error(proc)
        age(sessions, "ad", last_used_at=10000, created_at=10000)
        sessions.run("prune", check=0)
        assert [s["key"] for s in sessions.ls()] == ["ad"]
        sessions.run("session", "rm", "ad", check=0)
        assert inspect(name)["State"]["Running"] is True
    finally:
        engine("DELETE", f"/containers/{name}?force=true")


def test_prune_removes_docker_containers_not_workspaces(sessions):
    sessions.run("session", "create", "old", "--config", sessions.config, check=0)
    status = sessions.status("old")
    age(sessions, "old", last_used_at=100)
    sessions.run("prune", check=0)
    assert sessions.ls() == [] and inspect(status["container_name"]) is None
    assert pathlib.Path(status["workspace"]).is_dir()


def test_exec_over_a_tcp_engine_uses_the_engine_api(sessions):
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
        env = {"DOCKER_HOST": f"tcp://127.0.0.1:{port}"}
        sessions.run("session", "create", "tcp", "--config", sessions.config, env=env, check=0)
        assert sessions.status("tcp")["exec_via"] == "engine"
        result, _ = sessions.exec_json("tcp", "-c", "echo via-api; cat /proc/1/cmdline", env=env)
        assert result["stdout"].startswith("via-api\n/.hutch-init"), result
        assert result["isolated"] is True and result["backend"] == "docker"
        # Tools too: an agent of their own, through an exec of its relay,
        # keeping background processes between calls, the session never
        # recreated on the way (docs/docker.md, "Tools in adopted containers").
        proc = sessions.run("tool", "tcp", "bash", '{"command": "pwd", "background": true}',
                            env=env, check=0)
        started = json.loads(proc.stdout)
        proc = sessions.run("tool", "tcp", "process", json.dumps({"action": "list"}), env=env,
                            check=0)
        assert [p["id"] for p in json.loads(proc.stdout)["processes"]] == [started["id"]]
        assert b"recreat" not in proc.stderr and sessions.status("tcp")["state"] == "running"
        sessions.run("session", "rm", "tcp", env=env, check=0)
    finally:
        relay.kill()
        relay.wait()


def test_a_docker_session_with_its_own_workspace(sessions, tmp_path):
    """--workspace DIR with a docker session: one /workspace mount (it used
    to fail with "Duplicate mount point: /workspace")."""
    ws = tmp_path / "given"
    ws.mkdir()
    (ws / "in.txt").write_text("from the host\n")
    os.chmod(tmp_path, 0o755)
    if ROOT:
        os.chown(ws, 1000, 1000)
    sessions.run("session", "create", "ws", "--config", sessions.config, "--workspace", str(ws),
                 check=0)
    status = sessions.status("ws")
    assert status["workspace"] == str(ws)
    mounts = [m for m in inspect(status["container_name"])["Mounts"]
              if m["Destination"] == "/workspace"]
    assert len(mounts) == 1 and mounts[0]["Source"] == str(ws), mounts
    result, _ = sessions.exec_json("ws", "--", "sh", "-c",
                                   "cat /workspace/in.txt; echo back > /workspace/out.txt")
    assert result["exit_code"] == 0 and result["stdout"] == "from the host\n", result
    assert (ws / "out.txt").read_text() == "back\n"


def test_one_key_under_two_state_directories_gets_two_containers(hutch, tmp_path):
    """Two callers (two users, two test runs) with the same session key and
    the default prefix: each gets a container of its own, and creating one
    never removes the other's."""
    first = Sessions(hutch, tmp_path / "a")
    config = tmp_path / "docker.json"
    config.write_text(json.dumps({"sandbox": {"backend": "docker",
                                              "workspaceRoot": str(tmp_path / "ws")}}))
    key = f"shared-key-{os.getpid()}"
    try:
        first.run("session", "create", key, "--config", str(config))
        name_a = first.status(key)["container_name"]
        second = Sessions(hutch, tmp_path / "b")  # the same hutch, another state dir
        second.run("session", "create", key, "--config", str(config))
        name_b = second.status(key)["container_name"]
        assert name_a != name_b
        first.hutch.env["HUTCH_STATE_DIR"] = str(tmp_path / "a" / "state")
        assert first.status(key)["state"] == "running", first.status(key)
        info = inspect(name_a)
        assert info and info["State"]["Running"], "the first session's container was removed"
        assert info["Config"]["Labels"]["hutch.state_dir"].startswith(str(tmp_path / "a"))
    finally:
        for sub in ("a", "b"):
            hutch.env["HUTCH_STATE_DIR"] = str(tmp_path / sub / "state")
            hutch.run("session", "rm", key, check=None)


def test_a_foreign_container_with_the_sessions_name_is_left_alone(sessions, tmp_path):
    """A container that happens to carry the name a new session wants (not
    made for this state directory) is not force-removed: creation fails and
    says so."""
    key = "squatted"
    sessions.run("session", "create", key, "--config", sessions.config)
    name = sessions.status(key)["container_name"]
    sessions.run("session", "rm", key)
    status, reply = engine("POST", f"/containers/create?name={name}",
                           {"Image": BUSYBOX, "Cmd": ["sleep", "600"],
                            "Labels": {"hutch-test": "squatter"}})
    assert status == 201, reply
    try:
        proc = sessions.run("session", "create", key, "--config", sessions.config, check=125)
        assert "is not this session's" in one_line_error(proc), proc.stderr
        info = inspect(name)
        assert info and info["Config"]["Labels"].get("hutch-test") == "squatter"
    finally:
        engine("DELETE", f"/containers/{name}?force=true")


def test_recreate_notice_comes_once_through_the_static_hutch(sessions):
    """The static hutch has no docker driver: a docker session whose
    configuration changed is handed to hutch-docker before anything is said,
    so the notice comes once, from the build that recreates it."""
    sessions.run("exec", "note", "--config", sessions.config, "--", "true", check=0)
    config = json.loads(docker_config())
    config["sandbox"]["limits"] = {"pids": 77}  # fixed when the sandbox is made
    pathlib.Path(sessions.config).write_text(json.dumps(config))
    proc = sessions.run("exec", "note", "--config", sessions.config, "--", "echo", "ran",
                        check=0)
    assert proc.stdout == b"ran\n"
    assert proc.stderr.decode().count("the configuration of session note changed") == 1, \
        proc.stderr
