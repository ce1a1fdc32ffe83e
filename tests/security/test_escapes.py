"""Escape attempts against the native backend. Every one of them must fail.
Runs as root and as an unprivileged user (scripts/test.sh runs both)."""
import errno
import json
import os
import pathlib
import signal
import selectors
import socket
import subprocess
import threading
import time
import uuid

import pytest

from conftest import ROOT, processes_matching, run_native, sandbox_python, wait_for

CANARY = "hutch-canary-" + uuid.uuid4().hex


@pytest.fixture
def ssh_canary():
    """A private key planted in the caller's real ~/.ssh."""
    home = pathlib.Path(os.path.expanduser("~"))
    ssh = home / ".ssh"
    created_dir = not ssh.exists()
    ssh.mkdir(mode=0o700, exist_ok=True)
    key = ssh / f"id_{CANARY}"
    key.write_text(CANARY + "\n")
    yield key
    key.unlink()
    if created_dir:
        ssh.rmdir()


def test_ssh_keys_of_the_caller_are_not_there(hutch, ssh_canary):
    result, _ = run_native(hutch, "--", "sh", "-c",
                           f"cat {ssh_canary}; ls -a {ssh_canary.parent}; ls /root /home; "
                           f"grep -rs {CANARY} /etc /tmp /workspace /usr/local; echo done")
    assert CANARY not in result["stdout"].replace(str(ssh_canary), "")
    assert "No such file or directory" in result["stderr"]
    assert result["stdout"].endswith("done\n")


def test_etc_shadow_is_hidden(hutch):
    result, _ = run_native(hutch, "--", "sh", "-c",
                           "cat /etc/shadow /etc/gshadow; wc -c < /etc/shadow; ls /etc/ssl/private")
    assert "root:" not in result["stdout"]
    assert result["stderr"].count("Permission denied") >= 3


@pytest.mark.skipif(not ROOT, reason="planting a file in /etc/ssh needs root")
def test_planted_ssh_host_key_is_hidden(hutch):
    key = pathlib.Path(f"/etc/ssh/ssh_host_{CANARY}_key")
    key.parent.mkdir(exist_ok=True)
    key.write_text(CANARY)
    try:
        result, _ = run_native(hutch, "--", "cat", str(key))
    finally:
        key.unlink()
    assert CANARY not in result["stdout"] and result["exit_code"] != 0


def test_deny_read_hides_a_path_under_an_allowed_mount(hutch, tmp_path):
    data = tmp_path / "data"
    (data / "secrets").mkdir(parents=True)
    (data / "token").write_text(CANARY)
    (data / "secrets" / "key").write_text(CANARY)
    (data / "public").write_text("ok")
    for p in (tmp_path, data, data / "secrets"):
        os.chmod(p, 0o755)
    result, _ = run_native(hutch, "--ro", f"{data}:/data", "--deny-read", str(data / "token"),
                           "--deny-read", str(data / "secrets"), "--", "sh", "-c",
                           "cat /data/public; cat /data/token; ls /data/secrets; cat /data/secrets/key")
    assert result["stdout"] == "ok"
    assert CANARY not in result["stdout"] + result["stderr"]
    assert result["stderr"].count("Permission denied") == 3


def test_writes_outside_the_workspace_fail(hutch):
    marker = f"/tmp/{CANARY}"
    result, _ = run_native(hutch, "--", "sh", "-c",
                           f"for p in /usr/x /etc/x /x /bin/x /proc/x /dev/x; do "
                           f"touch $p 2>/dev/null && echo WROTE $p; done; touch {marker} && echo tmp-ok")
    assert "WROTE" not in result["stdout"]
    assert result["stdout"] == "tmp-ok\n"
    assert not os.path.exists(marker), "the sandbox's /tmp must not be the host's"


def test_deny_write_inside_a_writable_mount(hutch, tmp_path):
    out = tmp_path / "out"
    (out / "keep").mkdir(parents=True)
    for p in (tmp_path, out, out / "keep"):
        os.chmod(p, 0o777)
    result, _ = run_native(hutch, "--rw", f"{out}:/out", "--deny-write", str(out / "keep"),
                           "--", "sh", "-c", "echo a > /out/a && echo a-ok; echo b > /out/keep/b")
    assert result["stdout"] == "a-ok\n"
    assert "Read-only file system" in result["stderr"]
    assert not (out / "keep" / "b").exists()


SYSCALL_PROBE = """
import ctypes, errno, json
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
results = {}
for name, nr in %s:
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), 0, 0, 0, 0, 0, 0)
    results[name] = errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno())) if r < 0 else "ok"
print(json.dumps(results))
"""

# x86_64 numbers. NULL arguments: a blocked call fails with EPERM or ENOSYS,
# an allowed one with EFAULT or EINVAL.
DANGEROUS = [("mount", 165), ("umount2", 166), ("pivot_root", 155), ("chroot", 161),
             ("unshare", 272), ("setns", 308), ("ptrace", 101), ("bpf", 321),
             ("keyctl", 250), ("add_key", 248), ("request_key", 249),
             ("io_uring_setup", 425), ("io_uring_enter", 426), ("io_uring_register", 427),
             ("perf_event_open", 298), ("userfaultfd", 323), ("kexec_load", 246),
             ("init_module", 175), ("finit_module", 313), ("delete_module", 176),
             ("process_vm_readv", 310), ("process_vm_writev", 311), ("open_by_handle_at", 304),
             ("fsopen", 430), ("open_tree", 428), ("move_mount", 429), ("mount_setattr", 442),
             ("swapon", 167), ("reboot", 169), ("settimeofday", 164), ("acct", 163),
             ("kcmp", 312), ("pidfd_getfd", 438), ("syslog", 103), ("sethostname", 170),
             ("clone3", 435)]


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="syscall numbers are x86_64's")
def test_dangerous_syscalls_are_blocked(hutch):
    result, _ = sandbox_python(hutch, SYSCALL_PROBE % (DANGEROUS + [("uname", 63)]))
    outcomes = json.loads(result["stdout"])
    assert outcomes.pop("uname") == "EFAULT", "the probe must reach the kernel for allowed calls"
    assert {name: v for name, v in outcomes.items() if v not in ("EPERM", "ENOSYS")} == {}


def test_clone_with_new_namespaces_is_blocked(hutch):
    code = ("import ctypes, os\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "print(libc.unshare(0x10000000), ctypes.get_errno())\n"          # CLONE_NEWUSER
            "print(libc.unshare(0x40000000), ctypes.get_errno())\n")         # CLONE_NEWNET
    result, _ = sandbox_python(hutch, code)
    lines = result["stdout"].split("\n")
    assert lines[:2] == [f"-1 {errno.EPERM}"] * 2, result


def test_terminal_injection_is_blocked(hutch):
    code = ("import fcntl, os, termios, ctypes\n"
            "m, s = os.openpty()\n"
            "for req in (termios.TIOCSTI, termios.TIOCSTI | (1 << 32), 0x541C):\n"
            "    try:\n"
            "        ctypes.CDLL(None, use_errno=True)\n"
            "        libc = ctypes.CDLL(None, use_errno=True); libc.syscall.restype = ctypes.c_long\n"
            "        r = libc.syscall(ctypes.c_long(16), s, ctypes.c_ulong(req), b'x')\n"
            "        print(r, ctypes.get_errno())\n"
            "    except OSError as e:\n"
            "        print('err', e.errno)\n")
    result, _ = sandbox_python(hutch, code)
    assert result["stdout"].split("\n")[:3] == [f"-1 {errno.EPERM}"] * 3, result


def test_capabilities_and_privileges_are_gone(hutch):
    result, _ = run_native(hutch, "--", "grep", "-E",
                           "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):",
                           "/proc/self/status")
    fields = dict(line.split(":\t") for line in result["stdout"].splitlines())
    assert {k: v for k, v in fields.items() if k.startswith("Cap")} == {
        k: "0000000000000000" for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
    assert fields["NoNewPrivs"] == "1" and fields["Seccomp"] == "2"


def test_setuid_binaries_do_not_raise_privileges(hutch):
    result, _ = run_native(hutch, "--", "sh", "-c",
                           "ls -l /usr/bin/su | cut -c1-10; su -c 'id -u' root </dev/null; "
                           "python3 -c 'import os; os.setuid(0)'; echo end")
    assert result["stdout"].startswith("-rwsr-xr-x")
    assert "\n0\n" not in result["stdout"] and result["stdout"].endswith("end\n")
    # uid 0 is not even representable in the sandbox's user namespace.
    assert "PermissionError" in result["stderr"] or "Invalid argument" in result["stderr"]


def test_init_cannot_be_inspected_or_used(hutch):
    result, _ = run_native(hutch, "--", "sh", "-c",
                           "cat /proc/1/environ; ls /proc/1/root/; cat /proc/1/exe > /dev/null; "
                           "tr '\\0' ' ' < /proc/1/cmdline; echo; kill -9 1; echo alive")
    assert result["stderr"].count("Permission denied") >= 3
    # PID 1 is hutch-init's own process: nothing of hutch's command line.
    assert result["stdout"] == "hutch-init --reap 2 \nalive\n"


def test_pid_1_never_shows_hutchs_memory(hutch, tmp_path):
    """init sets the sandbox up inside hutch's own memory (CLONE_VM) and then
    becomes hutch-init. A command that looks at PID 1 the moment it starts
    must never find hutch's arguments or environment there: whatever it
    reads is hutch-init's."""
    marker = "argv-marker-" + uuid.uuid4().hex
    (tmp_path / marker).mkdir()
    os.chmod(tmp_path, 0o755)
    # The first thing the command does is read PID 1; a static reader would
    # be faster, but cat's start is what any command's start looks like.
    env = dict(os.environ, HUTCH_ENV_CANARY=CANARY)
    for _ in range(20):
        result, _ = run_native(hutch, "--ro", f"{tmp_path / marker}:/m", "--",
                               "cat", "/proc/1/cmdline", "/proc/1/environ", env=env)
        seen = result["stdout"] + result["stderr"]
        assert marker not in seen and CANARY not in seen, seen
        assert result["stdout"].split("\0")[:2] == ["hutch-init", "--reap"], seen
        assert "Permission denied" in result["stderr"]


def test_host_processes_are_invisible(hutch):
    result, _ = run_native(hutch, "--", "sh", "-c", f"ls /proc | grep -E '^[0-9]+$'; kill -0 {os.getpid()}")
    pids = [int(p) for p in result["stdout"].split()]
    assert max(pids) < 50 and os.getpid() not in pids
    assert result["exit_code"] != 0  # kill -0 of a host pid fails


def test_host_environment_is_not_passed(hutch):
    result, _ = run_native(hutch, "--", "sh", "-c", "env; cat /proc/*/environ 2>/dev/null",
                           env={"HUTCH_SECRET_CANARY": CANARY})
    assert CANARY not in result["stdout"]


def test_symlinks_in_the_workspace_resolve_inside(hutch, tmp_path, ssh_canary):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "link").symlink_to(ssh_canary)
    (ws / "up").symlink_to("/etc/shadow")
    os.chmod(ws, 0o777)
    os.chmod(tmp_path, 0o755)
    result, _ = run_native(hutch, "--workspace", str(ws), "--", "sh", "-c",
                           "cat /workspace/link; cat /workspace/up; cat /workspace/../etc/shadow")
    assert CANARY not in result["stdout"] and "root:" not in result["stdout"]


def test_mounts_cannot_be_undone(hutch):
    result, _ = run_native(hutch, "--", "sh", "-c",
                           "umount /etc/shadow; umount -l /etc/shadow; mount -o remount,rw /usr; "
                           "mount -t tmpfs x /tmp/x; cat /etc/shadow | head -c 5; echo end")
    assert result["stdout"] == "end\n"
    assert "root:" not in result["stdout"]


@pytest.mark.parametrize("setup", ["direct", "staged"])
def test_setup_leaves_nothing_of_itself_or_the_host_tmp(hutch, tmp_path, setup):
    """Setup builds the root either on a tmpfs over the host's /tmp (one
    pivot_root; mounts.c) or, when a bind source is below /tmp (here the
    workspace), in a staging root: neither may leave the masks' empty
    sources, the host's /tmp or the staging directories within reach."""
    planted = pathlib.Path("/tmp") / f"hutch-host-tmp-{uuid.uuid4().hex}"
    planted.write_text(CANARY)
    args = []
    if setup == "staged":
        ws = tmp_path / "ws"
        ws.mkdir()
        os.chmod(ws, 0o777)
        os.chmod(tmp_path, 0o755)
        args = ["--workspace", str(ws)]
    try:
        result, _ = run_native(hutch, *args, "--", "sh", "-c",
                               "ls -a / /tmp /workspace /dev; "
                               f"cat /tmp/{planted.name} /oldroot/tmp/{planted.name}; "
                               "chmod 644 /etc/shadow; echo x > /etc/shadow; "
                               "mkdir /etc/ssl/private/x; "
                               "rm -rf /.hutch-empty-dir /.hutch-empty-file /empty-file; "
                               "echo MOUNTS; "
                               "grep -E ' /etc/(shadow|ssl/private) ' /proc/self/mountinfo; "
                               "echo end")
    finally:
        planted.unlink()
    out = result["stdout"]
    assert out.endswith("end\n"), result
    assert CANARY not in out + result["stderr"] and planted.name not in out
    listing, mounts = out.split("MOUNTS\n")
    for name in (".hutch-empty", "empty-file", "empty-dir", "oldroot", "newroot"):
        assert name not in listing, listing
    masks = mounts.splitlines()[:-1]
    assert len(masks) == 2, out
    for line in masks:
        assert " ro," in line and "noexec" in line, line
    # The mode this case is about was the one taken.
    source = masks[0].split()[3]
    assert source.startswith("/.hutch-empty-" if setup == "direct" else "/empty-"), source
    # Nothing of /etc/shadow's mask could be changed, nor made.
    assert result["stderr"].count("Read-only file system") >= 2, result["stderr"]


def test_command_is_alone_in_a_network_namespace_of_its_own(hutch):
    """The command's network namespace is not the host's and has only
    loopback; nothing but init and the command lives in its pid namespace
    (no helper of setup is left behind)."""
    host_net = os.readlink("/proc/self/ns/net")
    result, _ = run_native(hutch, "--", "sh", "-c",
                           "readlink /proc/self/ns/net; "
                           "for d in /proc/[0-9]*; do echo \"${d#/proc/} $(cat $d/comm)\"; done; "
                           "cat /proc/net/dev")
    lines = result["stdout"].splitlines()
    assert lines[0].startswith("net:[") and lines[0] != host_net, lines
    procs = [l.split() for l in lines[1:] if l[:1].isdigit()]
    # init (1) and the shell (the glob is expanded before any cat runs).
    assert [p[1] for p in procs if p[0] != "1"] == ["sh"], procs
    assert [p for p in procs if p[0] == "1"], procs
    devices = [l.split(":")[0].strip() for l in lines[1:] if ":" in l and "|" not in l]
    assert devices == ["lo"], lines


class TcpServer:
    """A listener on 127.0.0.1 whose thread accepts (and closes) connections
    until the end of the with block, which stops the thread, joins it and
    only then closes the socket (an accept() blocked on a socket closed under
    it ended its thread with EBADF)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve)

    def _serve(self):
        with selectors.DefaultSelector() as sel:
            sel.register(self.sock, selectors.EVENT_READ)
            while not self.stop.is_set():
                if not sel.select(timeout=0.05):
                    continue
                try:
                    conn, _ = self.sock.accept()
                except OSError:  # gone before it was taken
                    continue
                conn.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)
        self.sock.close()
        assert not self.thread.is_alive(), "the server thread did not end"


def test_no_network_egress(hutch):
    with TcpServer() as server:
        code = ("import socket\n"
                "for addr in [('127.0.0.1', %d), ('1.1.1.1', 53), ('10.0.0.1', 80)]:\n"
                "    try:\n        socket.create_connection(addr, timeout=2); print('CONNECTED')\n"
                "    except OSError as e:\n        print(type(e).__name__)\n"
                "try:\n    socket.getaddrinfo('example.com', 80); print('RESOLVED')\n"
                "except OSError as e:\n    print('no-dns')\n" % server.port)
        result, _ = sandbox_python(hutch, code, timeout=30)
    assert "CONNECTED" not in result["stdout"] and "RESOLVED" not in result["stdout"]
    assert result["stdout"].split()[0] == "ConnectionRefusedError"


def test_host_unix_sockets_are_out_of_reach(hutch, tmp_path):
    path = tmp_path / "host.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen()
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind("\0" + CANARY)
    abstract.listen()
    code = ("import socket, sys\n"
            "for addr in sys.argv[1:]:\n"
            "    s = socket.socket(socket.AF_UNIX)\n"
            "    try:\n        s.connect(addr.replace('@', '\\0')); print('CONNECTED')\n"
            "    except OSError as e:\n        print(e.errno)\n")
    targets = [str(path), "/var/run/docker.sock", "/run/dbus/system_bus_socket", "@" + CANARY]
    result, _ = run_native(hutch, "--", "python3", "-c", code, *targets)
    assert "CONNECTED" not in result["stdout"]
    assert result["stdout"].split() == [str(errno.ENOENT)] * 3 + [str(errno.ECONNREFUSED)]
    # Sharing the host's network, Landlock (ABI 6+) still refuses abstract sockets.
    result, _ = run_native(hutch, "--net", "host", "--", "python3", "-c", code, "@" + CANARY)
    assert result["stdout"].split() == [str(errno.EPERM)], result
    listener.close()
    abstract.close()


def test_fork_bomb_is_contained(hutch):
    marker = f"bomb-{CANARY}"
    start = time.monotonic()
    result, _ = run_native(hutch, "--pids", "64", "--timeout", "3", "--", "sh", "-c",
                           "b() { b | b & }; b; sleep 60", marker, timeout=60)
    assert time.monotonic() - start < 15
    assert result["timed_out"] is True
    assert wait_for(lambda: processes_matching(marker) == []), processes_matching(marker)


def test_escapees_die_with_the_sandbox(hutch):
    marker = f"771.5{os.getpid():07d}"  # this run's: other runs' are not counted
    result, _ = run_native(hutch, "--timeout", "1", "--", "sh", "-c",
                           f"setsid sleep {marker} & (sleep {marker} &) ; "
                           f"nohup sleep {marker} >/dev/null 2>&1 & sleep 100")
    assert result["timed_out"] is True
    assert processes_matching(f"sleep {marker}") == []


def test_memory_bomb_is_contained(hutch):
    bomb = "a = []\nwhile True: a.append(bytearray(10 ** 6))"
    flags = ["--memory", "96m"] + ([] if ROOT else ["--rlimit-fallback"])
    result, _ = sandbox_python(hutch, bomb, *flags, timeout=60)
    assert result["exit_code"] != 0
    if ROOT:
        assert result["oom_killed"] is True and result["signal"] == 9
    else:
        assert "MemoryError" in result["stderr"]


def test_no_extra_file_descriptors(hutch, tmp_path):
    # An fd hutch's caller leaves open (without close-on-exec) must not
    # reach the command.
    leak = tmp_path / "leak"
    leak.write_text(CANARY)
    fd = os.open(leak, os.O_RDONLY)
    os.set_inheritable(fd, True)
    try:
        import subprocess
        from conftest import HUTCH
        proc = subprocess.run([HUTCH, "run", "--json", "--", "sh", "-c",
                               f"ls /proc/self/fd; cat /proc/self/fd/{fd}"],
                              capture_output=True, pass_fds=(fd,), env=hutch.env)
    finally:
        os.close(fd)
    result = json.loads(proc.stdout)
    assert result["stdout"].split() == ["0", "1", "2", "3"]  # 3: ls's own directory
    assert CANARY not in result["stdout"]


@pytest.mark.parametrize("flags", [[], ["--user", "1000:1000"], ["--net", "host"]])
def test_a_command_does_not_outlive_a_killed_hutch(hutch, flags):
    """hutch is killed with SIGKILL mid-run (it cannot clean up): the sandbox
    and its command must die with it, or they would run on with no timeout
    and no one to stop them. The kernel's parent-death signal does that, and
    a change of uid during setup clears it: init sets it after the last one."""
    marker = f"outlive-{uuid.uuid4().hex[:12]}"
    proc = hutch.popen("run", *flags, "--timeout", "600", "--", "sh", "-c",
                       f"echo ready; sleep 300; : {marker}",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"ready\n", proc.stderr.read()
        # The sandbox's shell (its command line has the marker; hutch's too).
        assert [p for p in processes_matching(marker) if p != proc.pid]
        proc.kill()
        proc.wait(10)
        assert wait_for(lambda: not [p for p in processes_matching(marker) if p != proc.pid], 10), \
            "the command outlived hutch"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in processes_matching(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.parametrize("flags", [[], ["--user", "1000:1000"]])
def test_the_command_cannot_reach_inits_setup_descriptors(hutch, flags):
    """init holds the status and report pipes and the cancel socket (fds 3-5)
    while the command starts: the command, at once, tries them through
    /proc/1/fd (to forge a report or a cancel, or to steal one) and finds
    none, and the run's result is still its own."""
    code = ("import os\n"
            "got = []\n"
            "for fd in (3, 4, 5):\n"
            "    for mode in (os.O_WRONLY, os.O_RDONLY):\n"
            "        try:\n"
            "            f = os.open(f'/proc/1/fd/{fd}', mode | os.O_NONBLOCK)\n"
            "            got.append(f'{fd}:{mode}')\n"
            "            os.close(f)\n"
            "        except OSError:\n"
            "            pass\n"
            "print(' '.join(got) or 'none')\n"
            "raise SystemExit(7)\n")
    result, _ = sandbox_python(hutch, code, *flags)
    assert result["stdout"] == "none\n", result
    assert result["exit_code"] == 7 and result["signal"] is None, result
