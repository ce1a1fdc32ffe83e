"""Attempts to write past limits.disk / limits.files (--disk, --files) in
every writable area of native and docker runs and sessions: many small
files, a sparse file, fallocate, hard links, a huge file in /tmp, writing
through /proc/self/fd, an O_TMPFILE, a remount. Every one must end at the
limit, with ENOSPC (or EDQUOT) inside, and the host's disk must not hold
more than the limit. Runs as root and as an unprivileged user (sessions,
whose workspace is a loop-mounted image, only as root)."""
import json
import pathlib

import pytest

from conftest import ROOT, Sessions, run_native
from helpers import ensure_engine, is_podman

LIMIT = 8 << 20
FILES = 200
SLACK = 32  # ext4 rounds a workspace image's inode count up to whole blocks

# Runs inside the sandbox: python3 ATTACKS LIMIT FILES OTHER AREA...; one
# JSON object per area with what each attempt achieved.
ATTACKS = r'''
import errno, json, os, sys
limit, files, other = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
FULL = (errno.ENOSPC, errno.EDQUOT)

def code(e):
    return errno.errorcode.get(e.errno, str(e.errno))

def allocated(d):
    total = 0
    for root, dirs, names in os.walk(d):
        for n in names:
            try:
                total += os.lstat(os.path.join(root, n)).st_blocks * 512
            except OSError:
                pass
    return total

def clean(d, keep=()):
    for n in os.listdir(d):
        p = os.path.join(d, n)
        if n.startswith("atk-") and n not in keep:
            if os.path.isdir(p) and not os.path.islink(p):
                for root, dirs, names in os.walk(p, topdown=False):
                    for x in names:
                        os.unlink(os.path.join(root, x))
                    for x in dirs:
                        os.rmdir(os.path.join(root, x))
                os.rmdir(p)
            else:
                os.unlink(p)

def attempt(fn):
    try:
        return fn() + ["no error"]
    except OSError as e:
        return [None, code(e)]

def run(d):
    out = {}
    # Many small files, in nested directories: the inode limit.
    made = [0]
    def small():
        os.mkdir(f"{d}/atk-tree"); made[0] += 1
        for i in range(files * 3):
            sub = f"{d}/atk-tree/{i // 50}"
            if i % 50 == 0:
                os.mkdir(sub); made[0] += 1
            open(f"{sub}/{i}", "w").close(); made[0] += 1
        return [made[0]]
    r = attempt(small); r[0] = made[0]; out["small files"] = r
    clean(d)
    # A sparse file, then data written all over it.
    def sparse():
        fd = os.open(f"{d}/atk-sparse", os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            os.ftruncate(fd, 1 << 30)
            for i in range(64):
                os.pwrite(fd, b"s" * (1 << 20), i * (16 << 20))
        finally:
            os.close(fd)
        return [0]
    r = attempt(sparse); r[0] = allocated(d); out["sparse"] = r
    clean(d)
    # Space reserved without writing.
    def reserve():
        fd = os.open(f"{d}/atk-fallocate", os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            os.posix_fallocate(fd, 0, 64 << 20)
        finally:
            os.close(fd)
        return [0]
    r = attempt(reserve); r[0] = allocated(d); out["fallocate"] = r
    clean(d)
    # Hard links: free in most filesystems, counted as inodes by tmpfs; and
    # never across areas.
    links = [0]
    def link():
        open(f"{d}/atk-l", "w").close()
        try:
            os.link(f"{d}/atk-l", f"{other}/atk-cross")
            out["cross-area link"] = "made"
        except OSError as e:
            out["cross-area link"] = code(e)
        for i in range(files * 3):
            os.link(f"{d}/atk-l", f"{d}/atk-l{i}"); links[0] += 1
        return [0]
    r = attempt(link); r[0] = links[0]; out["hard links"] = r
    out["hard links allocated"] = allocated(d)
    clean(d)
    # One huge file.
    def huge():
        with open(f"{d}/atk-huge", "wb") as f:
            for i in range(64):
                f.write(b"h" * (1 << 20)); f.flush()
        return [0]
    r = attempt(huge); r[0] = allocated(d); out["huge file"] = r
    clean(d)
    # Another way to the same file: /proc/self/fd.
    def via_proc():
        fd = os.open(f"{d}/atk-proc", os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            again = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_APPEND)
            try:
                for i in range(64):
                    os.write(again, b"p" * (1 << 20))
            finally:
                os.close(again)
        finally:
            os.close(fd)
        return [0]
    r = attempt(via_proc); r[0] = allocated(d); out["via /proc/self/fd"] = r
    clean(d)
    # A file with no name (O_TMPFILE), filled.
    def unnamed():
        fd = os.open(d, os.O_TMPFILE | os.O_WRONLY, 0o600)
        try:
            for i in range(64):
                os.write(fd, b"t" * (1 << 20))
        finally:
            os.close(fd)
        return [0]
    r = attempt(unnamed)
    r[0] = 0 if r[1] != "no error" else limit * 2; out["O_TMPFILE"] = r
    clean(d)
    return out

results = {}
for d in sys.argv[4:]:
    results[d] = run(d)
# The limit cannot be raised from inside.
results["remount"] = os.system(f"mount -o remount,size=1g {sys.argv[4]} 2>/dev/null") != 0
print(json.dumps(results))
'''


def attack(run, areas, other="/dev/shm"):
    """Runs the attacks through run(args) -> (result, proc); their results."""
    result, _ = run(["python3", "-c", ATTACKS, str(LIMIT), str(FILES), other, *areas])
    assert result["exit_code"] == 0, result
    return json.loads(result["stdout"])


def check(results, areas, image=False, files=True):
    for area in areas:
        r = results[area]
        for name in ("sparse", "fallocate", "huge file", "via /proc/self/fd"):
            allocated, outcome = r[name]
            assert outcome in ("ENOSPC", "EDQUOT"), (area, name, r[name])
            assert allocated <= LIMIT, (area, name, r[name])
        assert r["cross-area link"] == "EXDEV", (area, r["cross-area link"])
        if not files:
            continue
        made, outcome = r["small files"]
        assert outcome in ("ENOSPC", "EDQUOT"), (area, r["small files"])
        assert made <= FILES + (SLACK if image else 0), (area, r["small files"])
        assert r["O_TMPFILE"][1] in ("ENOSPC", "EDQUOT", "EOPNOTSUPP", "EISDIR"), \
            (area, r["O_TMPFILE"])
        links, outcome = r["hard links"]
        if image:
            # ext4 links take no inode: they cost directory blocks, bounded too.
            assert r["hard links allocated"] <= LIMIT, (area, r)
        else:
            assert outcome in ("ENOSPC", "EDQUOT") and links < FILES, (area, r["hard links"])
    assert results["remount"] is True


def docker_limits(hutch):
    """The limits to ask a docker engine for, and whether files are among
    them; with Podman, whose tmpfs mounts take no nr_inodes, asking for
    files is refused first."""
    if not is_podman():
        return ["--disk", "8m", "--files", str(FILES)], True
    proc = hutch.run("run", "--backend", "docker", "--files", str(FILES), "--", "true")
    assert proc.returncode == 125 and b"cannot be enforced by Podman" in proc.stderr
    return ["--disk", "8m"], False


def test_native_run(hutch):
    areas = ["/workspace", "/tmp"]
    results = attack(lambda argv: run_native(hutch, "--disk", "8m", "--files", str(FILES),
                                             "--", *argv), areas)
    check(results, areas)
    # /dev/shm is an area of its own.
    results = attack(lambda argv: run_native(hutch, "--disk", "8m", "--files", str(FILES),
                                             "--", *argv), ["/dev/shm"], other="/tmp")
    check(results, ["/dev/shm"])


def test_docker_run(hutch):
    ensure_engine()
    limits, files = docker_limits(hutch)
    areas = ["/workspace", "/tmp", "/var/tmp", "/run"]
    results = attack(lambda argv: hutch.run_json("--backend", "docker", *limits, "--", *argv),
                     areas)
    check(results, areas, files=files)


@pytest.fixture
def sessions(hutch, tmp_path):
    s = Sessions(hutch, tmp_path)
    yield s
    for item in s.ls():
        s.run("session", "rm", item["key"], "--workspaces")


@pytest.mark.parametrize("backend", ["native", "docker"])
def test_session_workspace_image(sessions, tmp_path, backend):
    files = True
    if backend == "docker":
        ensure_engine()
        files = docker_limits(sessions.hutch)[1]
    config = tmp_path / "c.json"
    limits = {"disk": "8m", "files": FILES} if files else {"disk": "8m"}
    config.write_text(json.dumps({"sandbox": {"backend": backend, "limits": limits}}))
    if not ROOT:
        proc = sessions.run("session", "create", "atk", "--config", str(config))
        assert proc.returncode == 125 and b"needs root" in proc.stderr, proc.stderr
        return
    sessions.run("session", "create", "atk", "--config", str(config), check=0)
    results = attack(lambda argv: sessions.exec_json("atk", "--", *argv), ["/workspace"],
                     other="/tmp")
    check(results, ["/workspace"], image=True, files=files)
    # The host's disk holds no more than the image.
    image = pathlib.Path(sessions.status("atk")["workspace"] + ".img")
    assert image.stat().st_size == LIMIT and image.stat().st_blocks * 512 <= LIMIT
    # The agent's runtime directory is no way around the limit either.
    result, _ = sessions.exec_json("atk", "--", "sh", "-c",
                                   "head -c 1m /dev/zero > /.hutch/x 2>/dev/null; "
                                   "stat -c %s /.hutch/x 2>/dev/null || echo 0")
    assert int(result["stdout"].strip()) <= 64 << 10, result
