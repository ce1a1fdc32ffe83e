"""Escape attempts against the docker backend's containers. Every one of them
must fail. The engine is started by tests/integration/test_docker.py's
scripts (scripts/docker-up.sh); scripts/test.sh runs this as root, as an
unprivileged member of the docker group, and under the sanitizers."""
import os
import uuid

import pytest

from conftest import REPO, ROOT

DEBIAN = "hutch-sandbox:bookworm-slim"
CANARY = "hutch-docker-canary-" + uuid.uuid4().hex


@pytest.fixture(scope="module", autouse=True)
def engine_up():
    import subprocess
    sock = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
    if ROOT and not os.path.exists(sock):
        subprocess.run(["bash", str(REPO / "scripts" / "docker-up.sh")], check=True,
                       stdin=subprocess.DEVNULL)
    yield


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
