"""The descriptor of --result-fd is hutch's, never the command's: a command
that tries to write its own result there (to make a failure look like a
success to an SDK) finds no such descriptor, on every backend and in
sessions. The result that arrives is the real one."""
import json
import os
import subprocess

import pytest

from helpers import BUSYBOX

FORGE = ('ls /proc/self/fd; echo \'{"exit_code":0,"forged":true}\' > /proc/self/fd/{fd} '
         '&& echo FORGED; exit 9')


def forge_attempt(hutch, *args):
    read_end, write_end = os.pipe()
    # A high number: the command must not find it by trying the usual 3..9.
    fd = os.dup2(write_end, 47, inheritable=True) if write_end != 47 else write_end
    os.close(write_end) if fd != write_end else None
    script = FORGE.replace("{fd}", str(fd))
    proc = hutch.popen(*[a.replace("{fd}", str(fd)).replace("{script}", script) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(fd,))
    os.close(fd)
    out, err = proc.communicate(timeout=120)
    with os.fdopen(read_end, "rb") as pipe:
        text = pipe.read().decode()
    assert b"FORGED" not in out, (out, err)
    assert text.count("\n") == 1, text
    result = json.loads(text)
    assert "forged" not in result and result["exit_code"] == 9, (result, err)
    # Only stdin, stdout and stderr (and ls's own directory fd) are open inside.
    fds = sorted(int(n) for n in out.split() if n.isdigit())
    assert fds[:3] == [0, 1, 2] and len(fds) <= 4, fds
    assert 47 not in fds
    return result


def test_native_run_cannot_write_its_result(hutch):
    forge_attempt(hutch, "run", "--result-fd", "{fd}", "-c", "{script}")


def test_spawn_run_cannot_write_its_result(hutch):
    forge_attempt(hutch, "run", "--backend", "spawn", "--result-fd", "{fd}", "-c", "{script}")


def test_session_exec_cannot_write_its_result(hutch):
    forge_attempt(hutch, "exec", "forge", "--result-fd", "{fd}", "-c", "{script}")
    hutch.run("session", "rm", "forge", check=0)


@pytest.mark.usefixtures("docker_engine")
def test_docker_run_cannot_write_its_result(hutch):
    result = forge_attempt(hutch, "run", "--backend", "docker", "--image", BUSYBOX,
                           "--result-fd", "{fd}", "-c", "{script}")
    assert result["backend"] == "docker"
