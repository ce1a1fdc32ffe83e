"""Escape attempts against the docker backend's containers. Every one of them
must fail. The engine is started by tests/integration/test_docker.py's
scripts (scripts/docker-up.sh); scripts/test.sh runs this as root, as an
unprivileged member of the docker group, and under the sanitizers."""
import http.client
import json
import os
import signal
import socket
import subprocess
import urllib.parse
import uuid

import pytest

from conftest import HUTCH, Sessions
from helpers import DEBIAN, SOCKET, is_podman, wait_for

CANARY = "hutch-docker-canary-" + uuid.uuid4().hex

pytestmark = pytest.mark.usefixtures("docker_engine")  # tests/conftest.py


def attempt(hutch, code, *flags):
    """Runs a Python snippet in a default docker container; its stdout lines."""
    result, _ = hutch.run_json("--backend", "docker", "--image", DEBIAN, *flags, "--",
                               "python3", "-c", code)
    assert result["exit_code"] == 0, result
    return result["stdout"].splitlines()


PROBE = """
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def report(name, rc):
    print(name, "ok" if rc == 0 else "refused", errno.errorcode.get(ctypes.get_errno(), ""))
"""


def test_no_mounts_no_namespaces_no_chroot(hutch):
    lines = attempt(hutch, PROBE + """
report("mount", libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None))
report("umount", libc.umount2(b"/workspace", 2))
report("unshare-user", libc.unshare(0x10000000))
report("unshare-mnt", libc.unshare(0x00020000))
report("chroot", libc.chroot(b"/tmp"))
""")
    assert all(" refused " in l for l in lines), lines


def test_no_privilege_through_setuid(hutch):
    """no-new-privileges: a setuid-root binary does not make root."""
    lines = attempt(hutch, """
import os, shutil, subprocess
print(subprocess.run(["su", "-c", "id -u", "root"], capture_output=True,
                     stdin=subprocess.DEVNULL).returncode != 0)
print(os.geteuid())
print(open("/proc/self/status").read().count("NoNewPrivs:\\t1"))
""")
    assert lines == ["True", "1000", "1"], lines


def test_no_raw_sockets_no_chown_no_setuid(hutch):
    lines = attempt(hutch, PROBE + """
try:
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); print("raw ok")
except OSError as e:
    print("raw refused", e.errno)
report("chown", libc.chown(b"/tmp", 0, 0))
report("setuid", libc.setuid(0))
""")
    assert not [l for l in lines if " ok" in l], lines


def test_host_is_not_visible(hutch):
    """No host processes, no host files, no engine socket, no host env."""
    os.environ["HUTCH_TEST_SECRET"] = CANARY
    try:
        lines = attempt(hutch, f"""
import os
pids = [p for p in os.listdir("/proc") if p.isdigit()]
print("processes", len(pids))
print("socket", any(os.path.exists(p) for p in
      ("/var/run/docker.sock", "/run/docker.sock", "/run/podman/podman.sock")))
print("env", "{CANARY}" in repr(dict(os.environ)))
print("shadow", os.access("/etc/shadow", os.R_OK))
print("host-root", os.path.exists("/work") or os.path.exists("/root/.ssh"))
""")
    finally:
        del os.environ["HUTCH_TEST_SECRET"]
    values = dict(l.split(" ", 1) for l in lines)
    assert int(values["processes"]) <= 3, lines  # docker-init, python, maybe a shell
    assert values["socket"] == "False" and values["env"] == "False"
    assert values["shadow"] == "False" and values["host-root"] == "False", lines


def test_kernel_interfaces_are_read_only(hutch):
    lines = attempt(hutch, """
for path in ("/proc/sys/kernel/hostname", "/sys/kernel/mm/transparent_hugepage/enabled",
             "/proc/sysrq-trigger", "/usr/bin/python3"):
    try:
        with open(path, "w") as f:
            f.write("x")
        print(path, "written")
    except OSError as e:
        print(path, "refused", e.errno)
""")
    assert not [l for l in lines if "written" in l], lines


def test_network_none_cannot_reach_the_engine_or_the_host(hutch):
    lines = attempt(hutch, """
import socket
for host, port in (("172.17.0.1", 2375), ("172.17.0.1", 22), ("10.0.2.2", 80)):
    s = socket.socket(); s.settimeout(1)
    try:
        s.connect((host, port)); print("reached", host, port)
    except OSError:
        print("blocked", host, port)
""")
    assert all(l.startswith("blocked") for l in lines), lines


def test_memory_and_fork_bombs_are_contained(hutch):
    result, _ = hutch.run_json("--backend", "docker", "--image", DEBIAN, "--pids", "32",
                               "--memory", "64m", "--timeout", "20s", "--", "python3", "-c",
                               "import os\n"
                               "try:\n"
                               "    while True: os.fork()\n"
                               "except OSError as e: print('stopped', e.errno)\n")
    assert "stopped" in result["stdout"] or result["exit_code"] != 0, result
    assert result["timed_out"] is False


# ---- hutch's seccomp profile and PID 1 (docs/docker.md, "Seccomp and PID 1") ----------
# The engine's default profile allowed io_uring (whose operations, such as
# IORING_OP_SOCKET, bypass syscall filtering) and, on Docker 20.10, ptrace; and
# the engine's init, PID 1, ran as the command's user and was dumpable, so the
# command could stop it with ptrace or rewrite it through /proc/1/mem.

SYSCALLS = PROBE + """
import platform
NR = {"x86_64": {"ioctl": 16, "ptrace": 101, "unshare": 272, "io_uring_setup": 425,
                 "clone3": 435},
      "aarch64": {"ioctl": 29, "ptrace": 117, "unshare": 97, "io_uring_setup": 425,
                  "clone3": 435}}[platform.machine()]
libc.syscall.restype = ctypes.c_long
def call(name, syscall, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(NR[syscall]), *[ctypes.c_ulong(a) for a in args])
    e = ctypes.get_errno()
    print(name, "ok" if r >= 0 else "refused " + errno.errorcode.get(e, str(e)))
def opens(path, flags):
    try:
        os.close(os.open(path, flags))
        print(path, "opened")
    except OSError as e:
        print(path, "refused " + errno.errorcode[e.errno])
"""

IO_URING = SYSCALLS + """
params = ctypes.create_string_buffer(120)
call("io_uring_setup", "io_uring_setup", 8, ctypes.addressof(params))
"""

PID_1 = SYSCALLS + """
print("pid-1", open("/proc/1/cmdline", "rb").read().split(b"\\0")[0].decode())
opens("/proc/1/mem", os.O_RDONLY)
opens("/proc/1/mem", os.O_RDWR)
opens("/proc/1/environ", os.O_RDONLY)
call("ptrace-seize", "ptrace", 0x4206, 1, 0, 0)
call("ptrace-attach", "ptrace", 16, 1, 0, 0)
"""


class EngineConnection(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("docker", timeout=30)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(SOCKET)


def engine_get(path):
    """GET from the engine: (status, parsed JSON, response headers)."""
    conn = EngineConnection()
    conn.request("GET", path)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    parsed = json.loads(data) if data and resp.getheader("Content-Type") == "application/json" \
        else None
    return resp.status, parsed, resp.headers


def running_container_of(pid, timeout=20):
    """The inspected container that the hutch process pid created, once it runs."""
    owner = f"{socket.gethostname()}:{pid}"
    filters = json.dumps({"label": [f"hutch.owner={owner}"], "status": ["running"]})
    found = wait_for(lambda: engine_get("/containers/json?filters=" +
                                        urllib.parse.quote(filters))[1], timeout)
    return engine_get(f"/containers/{found[0]['Id']}/json")[1] if found else None


def refused(lines, expected_names):
    """Every probe line names its probe and says refused."""
    assert [l.split()[0] for l in lines] == expected_names, lines
    assert all(" refused " in l + " " for l in lines), lines


def test_io_uring_is_refused(hutch):
    lines = attempt(hutch, IO_URING)
    assert lines in (["io_uring_setup refused EPERM"], ["io_uring_setup refused ENOSYS"]), lines


def test_pid_1_can_be_neither_traced_nor_read(hutch):
    """A traced engine init stopped and the run hung: a timeout bounds that."""
    lines = attempt(hutch, PID_1, "--timeout", "20s")
    assert lines[0] == "pid-1 /.hutch-init", lines
    refused(lines[1:], ["/proc/1/mem", "/proc/1/mem", "/proc/1/environ", "ptrace-seize",
                        "ptrace-attach"])


def test_terminal_injection_ioctls_are_refused(hutch):
    """Refused by the filter (EPERM) before the kernel looks at the descriptor,
    whatever is in the high bits of the request; other ioctls reach it (ENOTTY)."""
    lines = attempt(hutch, SYSCALLS + """
fd = os.open("/dev/null", os.O_RDONLY)
c = ctypes.c_char(b"x")
for name, request in (("TIOCSTI", 0x5412), ("TIOCSTI-high-bits", 0x5412 | 1 << 32),
                      ("TIOCLINUX", 0x541C), ("TIOCGWINSZ", 0x5413)):
    call(name, "ioctl", fd, request, ctypes.addressof(c))
""")
    assert lines == ["TIOCSTI refused EPERM", "TIOCSTI-high-bits refused EPERM",
                     "TIOCLINUX refused EPERM", "TIOCGWINSZ refused ENOTTY"], lines


def test_no_user_namespaces_and_threads_still_work(hutch):
    """clone3 fails with ENOSYS (its flags are out of the filter's reach), which
    makes libc fall back to clone: threads work, namespaces do not."""
    lines = attempt(hutch, SYSCALLS + """
call("unshare-user", "unshare", 0x10000000)
call("clone3", "clone3", 0, 0)
import threading
t = threading.Thread(target=print, args=("thread ran",))
t.start(); t.join()
""")
    assert lines == ["unshare-user refused EPERM", "clone3 refused ENOSYS", "thread ran"], lines


def test_the_container_carries_hutchs_profile(hutch):
    """The engine applies hutch's profile, not its default: inspect shows it."""
    proc = subprocess.Popen([HUTCH, "run", "--backend", "docker", "--image", DEBIAN, "--",
                             "sleep", "30"], env=hutch.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        info = running_container_of(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    assert info, stderr
    options = info["HostConfig"]["SecurityOpt"]
    assert "no-new-privileges" in options, options
    seccomp = [o.removeprefix("seccomp=") for o in options if o.startswith("seccomp=")]
    assert len(seccomp) == 1, options
    if is_podman():
        # Podman takes a file, which hutch removes once the container is created.
        assert "/hutch-seccomp-" in seccomp[0] and not os.path.exists(seccomp[0]), seccomp
        return
    profile = json.loads(seccomp[0])
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO" and len(profile["architectures"]) == 1
    by_action = {}
    for rule in profile["syscalls"]:
        if "args" not in rule:
            for name in rule["names"]:
                by_action[name] = (rule["action"], rule.get("errnoRet"))
    for name in ("io_uring_setup", "io_uring_enter", "ptrace", "process_vm_writev", "unshare",
                 "setns", "mount", "bpf", "userfaultfd"):
        assert by_action[name] == ("SCMP_ACT_ERRNO", 1), name
    assert by_action["clone3"] == ("SCMP_ACT_ERRNO", 38)
    assert by_action["read"] == ("SCMP_ACT_ALLOW", None)
    assert "ioctl" not in by_action  # only conditional rules: TIOCSTI never matches one


def test_session_containers_carry_the_profile_too(hutch, tmp_path):
    """hutch-init is PID 1 of a session: the same profile, and it cannot be traced."""
    sessions = Sessions(hutch, tmp_path)
    config = tmp_path / "docker.json"
    config.write_text(json.dumps({"sandbox": {"backend": "docker"}}))
    try:
        sessions.run("session", "create", "esc", "--config", str(config), check=0)
        result, _ = sessions.exec_json("esc", "--", "python3", "-c", IO_URING + PID_1 + """
print("status", open("/proc/self/status").read().split("Seccomp:")[1].split()[0])
""")
    finally:
        sessions.cleanup()
    assert result["exit_code"] == 0 and result["backend"] == "docker", result
    lines = result["stdout"].splitlines()
    assert lines[0] in ("io_uring_setup refused EPERM", "io_uring_setup refused ENOSYS"), lines
    assert lines[1] == "pid-1 /.hutch-init", lines
    refused(lines[2:7], ["/proc/1/mem", "/proc/1/mem", "/proc/1/environ", "ptrace-seize",
                         "ptrace-attach"])
    assert lines[7] == "status 2", lines


def test_a_runsc_run_still_works(hutch):
    """gVisor ignores the runtime's seccomp profile (it is the kernel there);
    hutch-init is still PID 1, and gVisor keeps a non-dumpable process's memory
    private (its environment, the container's, it shows)."""
    if is_podman():
        pytest.skip("Podman: --runtime runsc is refused (docs/docker.md, Podman)")
    lines = attempt(hutch, PID_1, "--runtime", "runsc")
    assert lines[0] == "pid-1 /.hutch-init", lines
    refused([l for l in lines[1:] if not l.startswith("/proc/1/environ ")],
            ["/proc/1/mem", "/proc/1/mem", "ptrace-seize", "ptrace-attach"])


def test_a_command_that_floods_and_never_reads_its_input_cannot_hang_hutch(hutch):
    """The input relay waits on the engine's connection, which the command
    controls: one that never reads its input while writing more output than
    the connection holds must not stop hutch (a blocking send of the input
    left hutch unable to read the output the command was blocked on)."""
    given = b"i" * (4 << 20)
    proc = hutch.run("run", "--backend", "docker", "--image", DEBIAN, "--stdin", "--", "sh", "-c",
                     "head -c 3000000 /dev/zero; echo done >&2", input=given, timeout=60)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-500:])
    assert len(proc.stdout) == 3000000 and proc.stderr.endswith(b"done\n"), proc.stderr[-500:]
