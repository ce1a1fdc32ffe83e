"""The native backend doing ordinary work, and the sandbox it builds.
Runs as root and as an unprivileged user (scripts/test.sh runs both)."""
import json
import os
import socket
import threading

from conftest import ROOT, SANITIZED, one_line_error, run_native, sandbox_python


def test_ordinary_shell_work(hutch):
    result, _ = run_native(hutch, "--", "sh", "-c",
                           "seq 1 1000 | grep 7 | sort -r | head -3 | tr '\\n' ' '; "
                           "echo; printf 'a\\nb\\n' > /workspace/f && wc -l < /workspace/f")
    assert result["exit_code"] == 0, result
    assert result["stdout"] == "997 987 979 \n2\n"


def test_python(hutch):
    result, _ = sandbox_python(hutch, "import json, hashlib, sqlite3; "
                               "db = sqlite3.connect(':memory:'); "
                               "print(json.dumps([db.execute('select 6*7').fetchone()[0], "
                               "hashlib.sha256(b'x').hexdigest()[:8]]))")
    assert result["exit_code"] == 0, result
    assert json.loads(result["stdout"]) == [42, "2d711642"]


def test_git_in_the_workspace(hutch):
    result, _ = run_native(hutch, "--", "sh", "-c",
                           "git init -q repo && cd repo && echo hi > a.txt && git add a.txt && "
                           "git -c user.name=Agent -c user.email=agent@example.com "
                           "commit -q -m first && git log --format=%s")
    assert result["exit_code"] == 0, result
    assert result["stdout"] == "first\n"


def test_compile_and_run_c(hutch):
    result, _ = run_native(hutch, "--", "sh", "-c",
                           "printf '#include <stdio.h>\\nint main(void){puts(\"compiled\");return 0;}\\n'"
                           " > hello.c && cc -O1 -o hello hello.c && ./hello")
    assert result["exit_code"] == 0, result
    assert result["stdout"] == "compiled\n"


def test_identity(hutch):
    result, _ = run_native(hutch, "--", "sh", "-c", "id -u; id -g; hostname")
    uid, gid, host = result["stdout"].split()
    if ROOT:
        assert (uid, gid) == ("65534", "65534")
    else:
        assert (uid, gid) == (str(os.geteuid()), str(os.getegid()))
    assert host == "hutch"
    result, _ = run_native(hutch, "--user", "1234:4321", "--", "sh", "-c", "id -u; id -g")
    assert result["stdout"].split() == ["1234", "4321"]


def test_filesystem_view(hutch):
    result, _ = run_native(hutch, "--", "sh", "-c", "ls /; pwd; echo $HOME")
    lines = result["stdout"].split()
    assert {"usr", "etc", "proc", "dev", "tmp", "workspace"} <= set(lines)
    assert not {"home", "root", "var", "run", "srv", "mnt", "boot"} & set(lines)
    assert lines[-2:] == ["/workspace", "/tmp"]


def test_workspace_is_shared_with_the_host(hutch, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "in.txt").write_text("from host\n")
    os.chmod(ws, 0o777)
    os.chmod(tmp_path, 0o755)
    result, _ = run_native(hutch, "--workspace", str(ws), "--", "sh", "-c",
                           "cat in.txt; echo from sandbox > out.txt")
    assert result["exit_code"] == 0, result
    assert result["stdout"] == "from host\n"
    assert (ws / "out.txt").read_text() == "from sandbox\n"


def test_default_workspace_is_fresh_and_private(hutch):
    first, _ = run_native(hutch, "--", "sh", "-c", "ls -A; echo x > mark; ls")
    second, _ = run_native(hutch, "--", "sh", "-c", "ls -A")
    assert first["stdout"] == "mark\n" and second["stdout"] == ""


def test_mount_options(hutch, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("A\n")
    out = tmp_path / "out"
    out.mkdir()
    for d in (tmp_path, data, out):
        os.chmod(d, 0o777)
    result, _ = run_native(hutch, "--ro", f"{data}:/data", "--rw", f"{out}:/out",
                           "--tmpfs", "/scratch:size=1m", "--", "sh", "-c",
                           "cat /data/a.txt; touch /data/b 2>&1 | grep -c Read-only; "
                           "echo w > /out/w.txt; head -c 2M /dev/zero > /scratch/big 2>/dev/null; "
                           "du -k /scratch/big | cut -f1")
    assert result["exit_code"] == 0, result
    assert result["stdout"].split() == ["A", "1", "1024"]
    assert (out / "w.txt").read_text() == "w\n"


def test_docker_mount_syntax(hutch, tmp_path):
    """docker's SRC:DST:ro and SRC:DST:rw, as harnesses write them; a mode
    that contradicts the option is refused, naming the option."""
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(data, 0o777)
    result, _ = run_native(hutch, "--ro", f"{data}:/data:ro", "--rw", f"{tmp_path}:/out:rw",
                           "--", "sh", "-c", "touch /data/x 2>/dev/null || echo ro; "
                           "ls -d /out/data")
    assert result["stdout"].split() == ["ro", "/out/data"], result
    proc = hutch.run("run", "--ro", f"{data}:/data:rw", "--", "true")
    line = proc.stderr.decode()
    assert proc.returncode == 125 and line.startswith("hutch: --ro: ") and line.count("\n") == 1


def test_writable_root_on_request(hutch):
    result, _ = run_native(hutch, "--", "sh", "-c", "touch /newfile")
    assert result["exit_code"] != 0
    result, _ = run_native(hutch, "--read-only-root=false", "--", "sh", "-c", "touch /newfile && echo ok")
    assert result["stdout"] == "ok\n"


def test_environment(hutch):
    result, _ = run_native(hutch, "--env", "A=1", "--", "env", env={"SECRET_CANARY": "x"})
    env = dict(line.split("=", 1) for line in result["stdout"].splitlines())
    assert set(env) <= {"PATH", "HOME", "LANG", "TERM", "A"}
    assert env["HOME"] == "/tmp" and env["A"] == "1"


def test_loopback_works_inside(hutch):
    code = ("import socket, threading\n"
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
            "threading.Thread(target=lambda: s.accept()[0].sendall(b'pong'), daemon=True).start()\n"
            "c = socket.create_connection(s.getsockname()); print(c.recv(4).decode())\n")
    result, _ = sandbox_python(hutch, code)
    assert result["stdout"] == "pong\n", result


def _serve_once(server):
    try:
        conn, _ = server.accept()
    except OSError:  # shut down: no one came
        return
    conn.sendall(b"host")
    conn.close()


def test_net_host_shares_the_network(hutch):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    thread = threading.Thread(target=_serve_once, args=(server,))
    thread.start()
    code = f"import socket; print(socket.create_connection(('127.0.0.1', {port})).recv(4).decode())"
    try:
        result, _ = sandbox_python(hutch, code, "--net", "host")
    finally:
        # shutdown() wakes an accept() still waiting; close() alone would not.
        try:
            server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        thread.join(timeout=10)
        server.close()
    assert not thread.is_alive()
    assert result["stdout"] == "host\n", result


def test_limits_report_their_mechanism(hutch):
    result, _ = run_native(hutch, "--pids", "50", "--", "true")
    assert result["exit_code"] == 0
    assert result["limits_via"] == ("cgroup-v1" if ROOT else "rlimit")
    result, _ = run_native(hutch, "--", "true")
    assert result["limits_via"] == "none"


def test_memory_limit(hutch):
    bomb = "a = []\nwhile True: a.append(bytearray(10 ** 6))"
    if ROOT:
        result, _ = sandbox_python(hutch, bomb, "--memory", "64m")
        assert result["oom_killed"] is True, result
        assert result["exit_code"] == 137 and result["signal"] == 9
        assert result["limits_via"] == "cgroup-v1"
    else:
        line = one_line_error(hutch.run("run", "--memory", "64m", "--", "true"))
        assert "limits.memory (--memory) needs a cgroup" in line
        assert "--rlimit-fallback" in line
        result, _ = sandbox_python(hutch, bomb, "--memory", "64m", "--rlimit-fallback")
        assert "MemoryError" in result["stderr"] and result["limits_via"] == "rlimit"
        assert result["oom_killed"] is False


def test_cpu_limit(hutch):
    if ROOT:
        result, _ = run_native(hutch, "--cpus", "0.5", "--", "true")
        assert result["exit_code"] == 0 and result["limits_via"] == "cgroup-v1"
    else:
        line = one_line_error(hutch.run("run", "--cpus", "0.5", "--", "true"))
        assert "limits.cpus (--cpus) needs a cgroup" in line


def test_unsupported_network_modes_fail_closed(hutch):
    line = one_line_error(hutch.run("run", "--net", "bridge", "--", "true"))
    assert "the native backend has no bridge network" in line
    # The allowlist is enforced (test_network.py); its address rules need it.
    line = one_line_error(hutch.run("run", "--allow-address", "10.0.0.0/8", "--", "true"))
    assert "applies to the allowlist only" in line


def test_bad_mount_source_fails_closed(hutch):
    line = one_line_error(hutch.run("run", "--ro", "/nonexistent-hutch-src:/x", "--", "true"))
    assert line == ("hutch: filesystem.readOnly (--ro): cannot mount /nonexistent-hutch-src: "
                    "No such file or directory")


def test_workdir_inside(hutch):
    result, _ = run_native(hutch, "--workdir", "/tmp", "--", "pwd")
    assert result["stdout"] == "/tmp\n"
    line = one_line_error(hutch.run("run", "--workdir", "/nope", "--", "pwd"))
    assert line == ("hutch: cannot enter the working directory /nope inside the sandbox: "
                    "No such file or directory")


def test_doctor(hutch):
    proc = hutch.run("doctor", "--json", check=0)
    report = json.loads(proc.stdout)
    checks = report["checks"]
    assert checks["native"]["ok"] and checks["spawn"]["ok"] and checks["seccomp"]["ok"]
    assert checks["landlock"]["ok"] and "ABI" in checks["landlock"]["detail"]
    assert checks["cgroups"]["ok"] is ROOT
    assert "hybrid" in checks["cgroups"]["detail"] or "v2" in checks["cgroups"]["detail"]
    text = hutch.run("doctor", check=0).stdout.decode()
    assert text.splitlines()[2].startswith("native   ok")


def test_plain_text_result_of_a_failed_setup_names_the_step(hutch, tmp_path):
    # A mount point that would have to be created inside read-only /usr.
    src = tmp_path / "tool"
    src.mkdir()
    os.chmod(tmp_path, 0o755)
    line = one_line_error(hutch.run("run", "--ro", f"{src}:/usr/hutch-nonexistent/tool", "--", "true"))
    assert "could not be set up" in line and "/usr/hutch-nonexistent" in line


def test_fails_closed_without_user_namespaces(hutch):
    """Inside a native sandbox, seccomp forbids new namespaces: a nested
    hutch must refuse to run its command, and --fallback spawn must run it
    unisolated and say so."""
    # hutch-init next to it: PID 1 of a native run.
    inner = [f"{hutch_binary()}:/hutch", "--ro",
             f"{os.path.join(os.path.dirname(hutch_binary()), 'hutch-init')}:/hutch-init"]
    # LeakSanitizer stops the world with ptrace, which the sandbox forbids.
    if SANITIZED:
        inner += ["--ro", f"{os.path.dirname(hutch_binary())}", "--env",
                  "ASAN_OPTIONS=detect_leaks=0"]
    result, _ = run_native(hutch, "--ro", *inner, "--", "/hutch", "run", "--", "echo", "ran")
    assert result["exit_code"] == 125, result
    assert result["stdout"] == ""
    assert "user namespaces are not available" in result["stderr"]
    result, _ = run_native(hutch, "--ro", *inner, "--", "/hutch", "run", "--fallback", "spawn",
                           "--json", "--", "echo", "ran")
    inner_result = json.loads(result["stdout"])
    assert inner_result["degraded"] is True and inner_result["stdout"] == "ran\n"
    assert "running the command again, unisolated with the spawn backend" in result["stderr"]
    assert "user namespaces are not available" in inner_result["degraded_reason"]


def hutch_binary():
    from conftest import HUTCH
    return os.path.realpath(HUTCH)
