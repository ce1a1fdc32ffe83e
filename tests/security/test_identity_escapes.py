"""Who the native sandbox is: none of the caller's supplementary groups (a
member of the docker group must not take that group in), no container
engine's socket in any mount (a read-only mount does not stop connect()),
and, for root, never the host's uid 0 unless asked for by name.
scripts/test.sh runs this as root and as an unprivileged user in the docker
group (with subordinate ids); one test needs root to act as a user without
them."""
import grp
import json
import os
import pwd
import subprocess

import pytest

from conftest import HUTCH, ROOT, one_line_error, run_native
from helpers import build_library_program, ensure_engine


NO_SUBIDS_USER = "hutch-test-nosub"


def groups_inside(result):
    line = next(l for l in result["stdout"].splitlines() if l.startswith("Groups:"))
    return line.split(":", 1)[1].split()


def test_no_supplementary_group_reaches_the_sandbox(hutch):
    assert os.getgroups() or ROOT, "this check means something only for a user in groups"
    result, _ = run_native(hutch, "--", "sh", "-c", "grep Groups: /proc/self/status; id -G")
    assert groups_inside(result) == [], result
    assert result["stdout"].splitlines()[-1].split() == [str(os.getegid() if not ROOT else
                                                             65534)], result


@pytest.mark.skipif(not ROOT, reason="only root can give itself a supplementary group")
def test_root_with_a_supplementary_group_keeps_none_inside(hutch):
    docker = grp.getgrnam("docker").gr_gid if "docker" in [g.gr_name for g in grp.getgrall()] \
        else 4
    proc = subprocess.run(["setpriv", f"--groups={docker}", HUTCH, "run", "--json", "--", "sh",
                           "-c", "grep Groups: /proc/self/status"],
                          env=hutch.env, capture_output=True, timeout=60)
    result = json.loads(proc.stdout)
    assert groups_inside(result) == [], result


def test_a_session_holds_no_supplementary_group(sessions):
    r, _ = sessions.exec_json("g", "--", "sh", "-c", "grep Groups: /proc/self/status")
    assert groups_inside(r) == [], r


@pytest.fixture
def engine_socket():
    ensure_engine()
    sock = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
    return os.path.realpath(sock)


@pytest.mark.parametrize("flag,spec", [
    ("--ro", "{dir}"), ("--ro", "{dir}:/hostrun"), ("--rw", "{sock}:/docker.sock"),
    ("--ro", "/:/host"), ("--workspace", "{dir}"), ("--ro", "{link}:/x"),
])
def test_container_engine_sockets_are_refused_as_mounts(hutch, engine_socket, tmp_path, flag, spec):
    link = tmp_path / "innocent"
    os.symlink(os.path.dirname(engine_socket), link)
    arg = spec.format(dir=os.path.dirname(engine_socket), sock=engine_socket, link=link)
    proc = hutch.run("run", "--backend", "native", flag, arg, "--", "python3", "-c",
                     "import socket; s = socket.socket(socket.AF_UNIX); "
                     f"s.connect('{engine_socket}'); print('connected')")
    line = one_line_error(proc)
    assert "container engine's socket" in line and engine_socket in line, line


def test_engine_sockets_are_refused_in_sessions_too(sessions, engine_socket):
    proc = sessions.run("session", "create", "e", "--ro", os.path.dirname(engine_socket))
    assert proc.returncode == 125 and b"container engine's socket" in proc.stderr, proc


@pytest.fixture
def user_without_subids():
    """A member of the docker group without subordinate ids (made here, as
    scripts/test.sh would, when missing)."""
    try:
        pwd.getpwnam(NO_SUBIDS_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", NO_SUBIDS_USER], check=True)
    groups = [g.gr_name for g in grp.getgrall()]
    extra = "docker" if "docker" in groups else "adm"
    subprocess.run(["usermod", "-aG", extra, NO_SUBIDS_USER], check=True)
    with open("/etc/subgid") as f:
        assert not any(l.startswith(NO_SUBIDS_USER + ":") for l in f), "it must have no subgids"
    return NO_SUBIDS_USER


@pytest.mark.skipif(not ROOT, reason="acting as another user needs root")
def test_groups_that_cannot_be_dropped_fail_closed(hutch, user_without_subids, tmp_path):
    os.chmod(tmp_path, 0o755)
    proc = subprocess.run(["runuser", "-u", user_without_subids, "--", HUTCH, "run", "--",
                           "sh", "-c", "echo ran; grep Groups: /proc/self/status"],
                          env={**hutch.env, "HOME": str(tmp_path)}, capture_output=True,
                          cwd=str(tmp_path), timeout=60)
    line = one_line_error(proc)
    assert "supplementary groups" in line and "newgidmap" in line, line


@pytest.mark.skipif(not ROOT, reason="uid 0 is the host's root only when hutch runs as root")
def test_root_user_0_needs_an_explicit_opt_in(hutch):
    line = one_line_error(hutch.run("run", "--backend", "native", "--user", "0", "--", "id", "-u"))
    assert "user (--user) 0" in line and "--allow-root-user" in line, line
    line = one_line_error(hutch.run("run", "--backend", "native", "--user", "1000:0", "--",
                                    "id", "-u"))
    assert "--allow-root-user" in line, line
    result, _ = run_native(hutch, "--user", "0", "--allow-root-user", "--", "id", "-u")
    assert result["stdout"] == "0\n"


@pytest.mark.skipif(not ROOT, reason="uid 0 is the host's root only when hutch runs as root")
def test_root_user_0_is_refused_for_sessions_too(sessions):
    proc = sessions.run("session", "create", "r0", "--user", "0")
    assert proc.returncode == 125 and b"--allow-root-user" in proc.stderr, proc


CALLER_PROGRAM = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <hutch.h>

/* What makes this process who it is: ids, groups, capabilities, and
 * whether processes of its uid may read its memory. */
static void identity(const char *when)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    getresuid(&ru, &eu, &su);
    getresgid(&rg, &eg, &sg);
    char caps[64] = "?", line[256];
    FILE *status = fopen("/proc/self/status", "r");
    while (status && fgets(line, sizeof line, status))
        if (strncmp(line, "CapEff:", 7) == 0)
            sscanf(line + 7, "%63s", caps);
    if (status)
        fclose(status);
    printf("%s dumpable=%d uids=%u,%u,%u gids=%u,%u,%u groups=%d caps=%s\n", when,
           prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), ru, eu, su, rg, eg, sg, getgroups(0, NULL), caps);
}

static int run(hutch_policy *policy, const char *session)
{
    const char *argv[] = {"id", "-u", NULL};
    hutch_command cmd;
    hutch_command_init(&cmd);
    cmd.argv = argv;
    hutch_result result;
    hutch_error err;
    int r = session ? hutch_session_exec(policy, session, &cmd, &result, &err)
                    : hutch_run(policy, &cmd, &result, &err);
    if (r < 0) {
        printf("refused %s\n", err.message);
        return -1;
    }
    printf("inside %s", result.out.data);
    hutch_result_free(&result);
    return 0;
}

int main(void)
{
    hutch_error err;
    hutch_policy *policy = hutch_policy_new();
    if (hutch_policy_set(policy, "backend", "native", &err) < 0)
        return 1;
    identity("start");
    if (run(policy, NULL) < 0)
        return 1;
    identity("after-run");
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    run(policy, NULL); /* refused without root: see below */
    identity("after-undumpable-run");
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    if (run(policy, "caller-identity") < 0)
        return 1;
    identity("after-session");
    if (hutch_session_remove("caller-identity", 1, &err) < 0)
        fprintf(stderr, "%s\n", err.message);
    hutch_policy_free(policy);
    return 0;
}
"""


def test_a_library_caller_keeps_its_identity_and_its_memory_closed(tmp_path):
    """The native sandbox is set up by children that share the caller's
    memory (CLONE_VM) and change their ids, which changes whether that
    shared memory may be read by processes of the same uid. A program on
    libhutch must come out of a run or a session with its own ids, groups
    and capabilities, and with the dumpable flag it had: a caller that
    made itself undumpable (to keep its keys from other processes of its
    uid) must not be left readable, and one that was not must not be left
    unable to write its own /proc files. Without root, an undumpable
    caller is refused with a reason: its id maps cannot be written then,
    and opening its memory to write them is not hutch's choice to make."""
    program = build_library_program(CALLER_PROGRAM, tmp_path / "caller")
    env = dict(os.environ, HUTCH_STATE_DIR=str(tmp_path / "state"), HUTCH_NO_AUTO_PRUNE="1")
    proc = subprocess.run([program], capture_output=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    inside = [l for l in lines if l.startswith("inside ")]
    assert inside == [f"inside {65534 if ROOT else os.geteuid()}"] * (3 if ROOT else 2), lines
    refused = [l for l in lines if l.startswith("refused ")]
    assert len(refused) == (0 if ROOT else 1), lines
    assert all(l.startswith(
        "refused the native sandbox cannot be set up by a process that made itself undumpable "
        "(prctl PR_SET_DUMPABLE 0) without root: the kernel then hands the /proc files that set "
        "the sandbox's id maps to root; keep the process dumpable while it calls hutch, run it "
        "as root, or use --backend docker") for l in refused), refused
    who = {l.split(" ", 1)[0]: l.split(" ", 1)[1] for l in lines
           if not l.startswith(("inside ", "refused "))}
    assert who["start"].startswith("dumpable=1 "), who
    assert who["after-run"] == who["start"] and who["after-session"] == who["start"], who
    assert who["after-undumpable-run"] == who["start"].replace("dumpable=1", "dumpable=0", 1), who
