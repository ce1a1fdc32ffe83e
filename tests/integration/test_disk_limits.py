"""limits.disk and limits.files (--disk, --files) through the real binary:
every writable area of a native run, a native session and a docker run or
session holds at most that much, enforced by the kernel (tmpfs size= and
nr_inodes=, a filesystem image for a session's workspace); writes past it
fail with ENOSPC inside and nothing outside grows; what cannot be bounded
is refused with exit status 125; and nothing stays mounted after the
session is removed. Runs as root and as an unprivileged user, where the
session workspace (a loop mount) is refused instead. The write/edit/bash
tools on a full disk: also tests/unit/test_disk.c. Escape attempts:
tests/security/test_disk_escapes.py."""
import ctypes
import json
import os
import pathlib
import subprocess
import time

import pytest

from conftest import ROOT, Sessions, age, alive, one_line_error, run_native, wait_for
from helpers import ensure_engine, is_podman

DISK = "8m"
DISK_BYTES = 8 << 20
FILES = 200
# ext4 fills whole inode table blocks: a workspace image holds a few more.
IMAGE_FILES_SLACK = 32

# fill DIR fills DIR with bytes, then with files, and says how far each
# got: "bytes N", "past ERROR" (of the write past it, or "none"), "files
# N", "past ERROR".
FILL = r'''
fill() {
  d=$1
  head -c 20m /dev/zero 2>/dev/null > "$d/big"
  echo "bytes $(stat -c %s "$d/big")"
  err=$(head -c 1m /dev/zero 2>&1 >> "$d/big" | sed 's/.*: //'); echo "past ${err:-none}"
  rm -f "$d/big"
  i=0
  while touch "$d/f$i" 2>/dev/null; do i=$((i+1)); [ $i -gt 1000 ] && break; done
  echo "files $i"
  err=$(touch "$d/one-more" 2>&1 | sed 's/.*: //'); echo "past ${err:-none}"
  rm -f "$d"/f*
}
'''


def parse_fill(text):
    lines = text.strip().splitlines()
    assert len(lines) == 4, text
    assert lines[0].startswith("bytes ") and lines[2].startswith("files "), text
    assert lines[1].startswith("past ") and lines[3].startswith("past "), text
    return (int(lines[0].split()[1]), lines[1][5:], int(lines[2].split()[1]), lines[3][5:])


def check_fill(text, exact_files=True):
    nbytes, bytes_error, nfiles, files_error = parse_fill(text)
    assert 0 < nbytes <= DISK_BYTES, text
    assert bytes_error == "No space left on device", text
    if exact_files:
        assert nfiles == FILES, text
    else:
        assert FILES <= nfiles <= FILES + IMAGE_FILES_SLACK, text
    assert files_error == "No space left on device", text


def fill_script(*dirs):
    return FILL + "; ".join(f"fill {d}" for d in dirs)


def mounts_under(path):
    """Mount points below path, in this mount namespace."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == str(path) or point.startswith(str(path) + "/"):
                found.append(point)
    return found


def loops_backed_by(path):
    """Loop devices whose backing file lies below path."""
    found = []
    for dev in pathlib.Path("/sys/block").glob("loop*"):
        backing = dev / "loop" / "backing_file"
        try:
            if backing.read_text().strip().startswith(str(path)):
                found.append(dev.name)
        except OSError:
            pass
    return found


@pytest.fixture
def disk_sessions(hutch, tmp_path):
    """Sessions with their own state; at the end every session is removed
    with its workspace, and whatever a failed test left mounted goes too."""
    s = Sessions(hutch, tmp_path)
    yield s
    for item in s.ls():
        s.run("session", "rm", item["key"], "--workspaces")
    if ROOT:
        for point in sorted(mounts_under(tmp_path), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], check=False)
        for name in loops_backed_by(tmp_path):
            subprocess.run(["losetup", "-d", f"/dev/{name}"], check=False)
        workspaces = s.state / "workspaces"
        if workspaces.is_dir():
            for ws in workspaces.iterdir():
                subprocess.run(["chattr", "-i", str(ws)], check=False, capture_output=True)
    assert mounts_under(tmp_path) == []


def workspace_of(sessions, key):
    return pathlib.Path(sessions.status(key)["workspace"])


def last_error(proc):
    """A refusal after notices (a session being recreated): exit status 125,
    nothing on stdout, the reason on the last line."""
    assert proc.returncode == 125 and proc.stdout == b"", (proc.returncode, proc.stderr)
    return proc.stderr.decode().strip().splitlines()[-1]


def refused_unprivileged(sessions, *args):
    """Unprivileged, a session's workspace cannot be a filesystem of its
    own: creating one under the limits is refused, saying so."""
    proc = sessions.run("session", "create", *args)
    line = one_line_error(proc)
    assert "limits.disk (--disk)" in line and "needs root" in line, line
    return line


# ---- the keys ------------------------------------------------------------------------

def test_the_keys_in_a_config_file(hutch, tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"sandbox": {"limits": {"disk": "16m", "files": 300}}}))
    proc = hutch.run("config", "check", str(config), "--files", "200", check=0)
    limits = json.loads(proc.stdout)["sandbox"]["limits"]
    assert limits["disk"] == "16m" and limits["files"] == 200, limits
    proc = hutch.run("run", "--disk", "12q", "--", "true")
    assert one_line_error(proc) == 'hutch: --disk: "12q" is not a size like 512m'
    # Fixed at creation: exec refuses them like every other limit.
    proc = hutch.run("exec", "k", "--files", "10", "--", "true")
    assert "--files" in one_line_error(proc) and "session create" in one_line_error(proc)


# ---- native runs ---------------------------------------------------------------------

def test_native_run_bounds_every_writable_area(hutch):
    result, _ = run_native(hutch, "--disk", DISK, "--files", str(FILES), "--", "sh", "-c",
                           fill_script("/workspace", "/tmp", "/dev/shm"))
    assert result["exit_code"] == 0, result
    texts = result["stdout"].split("bytes ")[1:]
    assert len(texts) == 3, result["stdout"]
    for text in texts:
        check_fill("bytes " + text)


def test_native_run_bounds_a_writable_root_and_tmpfs_mounts(hutch):
    result, _ = run_native(hutch, "--disk", DISK, "--files", str(FILES),
                           "--read-only-root=false", "--tmpfs", "/scratch:size=1g",
                           "--tmpfs", "/small:size=1m", "--", "sh", "-c",
                           fill_script("/", "/scratch") +
                           "; head -c 4m /dev/zero > /small/x 2>/dev/null; stat -c %s /small/x")
    assert result["exit_code"] == 0, result
    out = result["stdout"].strip().splitlines()
    check_fill("\n".join(out[0:4]))
    check_fill("\n".join(out[4:8]))
    assert int(out[8]) == 1 << 20, out  # its own smaller size stays


def test_without_limits_nothing_changes(hutch):
    result, _ = run_native(hutch, "--", "sh", "-c", "grep '^tmpfs' /proc/self/mounts | grep -c nr_inodes=")
    assert result["stdout"].strip() == "0", result


def test_backends_without_a_mechanism_refuse(hutch):
    for backend in ("spawn", "host"):
        for flag, key in (("--disk", "limits.disk"), ("--files", "limits.files")):
            proc = hutch.run("run", "--backend", backend, flag, "8", "--", "true")
            line = one_line_error(proc)
            assert f"the {backend} backend cannot enforce {key} ({flag})" in line, line


def project_quotas_enforced(path):
    """The filesystem of path enforces project quotas (quotactl_fd,
    Q_XGETQSTATV, FS_QUOTA_PDQ_ENFD)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        state = ctypes.create_string_buffer(256)
        state[0] = 1  # FS_QSTATV_VERSION1
        command = ((((ord("X") << 8) + 8) << 8) | 2)  # QCMD(Q_XGETQSTATV, PRJQUOTA)
        ok = libc.syscall(443, fd, command, 0, state) == 0
    finally:
        os.close(fd)
    return ok and bool(int.from_bytes(state.raw[2:4], "little") & (1 << 5))


def test_a_host_workspace_under_a_project_quota(hutch, tmp_path):
    """As root on a filesystem that enforces project quotas, --workspace
    gets one; everywhere else (this project's CI machine: its kernel has no
    QFMT_V2 for ext4 quotas, nor XFS quotas) a host directory cannot be
    bounded, so --workspace and --rw under the limits are refused, with
    what to do."""
    ws = tmp_path / "ws"
    ws.mkdir()
    os.chmod(ws, 0o777)
    marker = tmp_path / "ran"
    if ROOT and project_quotas_enforced(ws):
        result, _ = run_native(hutch, "--workspace", str(ws), "--disk", DISK, "--files",
                               str(FILES), "--", "sh", "-c", fill_script("/workspace"))
        nbytes, bytes_error, nfiles, files_error = parse_fill(result["stdout"])
        assert nbytes <= DISK_BYTES and nfiles <= FILES, result["stdout"]
        assert bytes_error in ("Disk quota exceeded", "No space left on device"), result
        return
    proc = hutch.run("run", "--workspace", str(ws), "--disk", DISK, "--", "touch",
                     "/workspace/ran")
    line = one_line_error(proc)
    assert "limits.disk (--disk) cannot bound the workspace" in line, line
    assert ("does not enforce project quotas" in line if ROOT else "only root" in line), line
    assert "drop --workspace or the limit" in line and "--fallback" not in line, line
    assert not (ws / "ran").exists() and not marker.exists()
    proc = hutch.run("run", "--rw", f"{ws}:/data", "--files", "10", "--", "true")
    line = one_line_error(proc)
    assert "limits.files (--files) cannot bound the writable mount (--rw)" in line, line
    # Read-only mounts need no bound.
    hutch.run("run", "--ro", f"{ws}:/data", "--disk", DISK, "--", "true", check=0)


# ---- native sessions -----------------------------------------------------------------

def test_native_session_workspace_is_a_filesystem_of_its_own(disk_sessions):
    s = disk_sessions
    if not ROOT:
        refused_unprivileged(s, "img", "--disk", DISK, "--files", str(FILES))
        return
    started = time.monotonic()
    s.run("session", "create", "img", "--disk", DISK, "--files", str(FILES), check=0)
    created_in = time.monotonic() - started
    ws = workspace_of(s, "img")
    image = pathlib.Path(str(ws) + ".img")
    assert image.is_file() and image.stat().st_size == DISK_BYTES
    assert str(ws) in mounts_under(ws) and created_in < 10
    result, _ = s.exec_json("img", "--", "sh", "-c",
                            fill_script("/workspace", "/tmp") +
                            "; echo kept > /workspace/kept")
    assert result["exit_code"] == 0, result
    out = result["stdout"].strip().splitlines()
    check_fill("\n".join(out[0:4]), exact_files=False)
    check_fill("\n".join(out[4:8]))
    # The host sees the directory, and its disk holds no more than the image.
    assert (ws / "kept").read_text() == "kept\n"
    assert image.stat().st_blocks * 512 <= DISK_BYTES
    # The agent's runtime directory is bounded too.
    result, _ = s.exec_json("img", "--", "sh", "-c",
                            "grep -E ' /.hutch ' /proc/self/mounts | grep -c tmpfs")
    assert result["stdout"].strip() == "1", result
    s.run("session", "rm", "img", check=0)
    assert mounts_under(s.state) == []
    assert wait_for(lambda: loops_backed_by(s.state) == [])
    assert image.exists()  # the workspace stays: it is the image
    # The directory below the mount takes nothing while the image is away.
    with pytest.raises(PermissionError):
        (ws / "stray").write_text("x")
    # A new session with the same key mounts it again, data and all.
    s.run("session", "create", "img", "--disk", DISK, "--files", str(FILES), check=0)
    result, _ = s.exec_json("img", "--", "cat", "/workspace/kept")
    assert result["stdout"] == "kept\n", result
    s.run("session", "rm", "img", "--workspaces", check=0)
    assert not image.exists() and not ws.exists()
    assert mounts_under(s.state) == []
    assert wait_for(lambda: loops_backed_by(s.state) == [])


def test_session_stop_start_and_a_reboot(disk_sessions):
    s = disk_sessions
    if not ROOT:
        refused_unprivileged(s, "rb", "--disk", DISK)
        return
    s.run("session", "create", "rb", "--disk", DISK, check=0)
    s.run("exec", "rb", "--", "sh", "-c", "echo 1 > /workspace/one", check=0)
    ws = workspace_of(s, "rb")
    s.run("session", "stop", "rb", check=0)
    assert mounts_under(s.state) == []
    assert wait_for(lambda: loops_backed_by(s.state) == [])
    result, _ = s.exec_json("rb", "--", "cat", "/workspace/one")
    assert result["stdout"] == "1\n", result
    # A reboot: the sandbox and every mount are gone; the next use mounts again.
    init = s.status("rb")["init_pid"]
    os.kill(init, 9)
    assert wait_for(lambda: not alive(init))
    for point in sorted(mounts_under(s.state), key=len, reverse=True):
        subprocess.run(["umount", point], check=True)
    assert wait_for(lambda: loops_backed_by(s.state) == [])
    result, proc = s.exec_json("rb", "--", "sh", "-c", "cat /workspace/one; df -k /workspace")
    assert result["stdout"].startswith("1\n") and "restarting" in proc.stderr.decode(), result
    assert str(ws) in mounts_under(ws)


def test_a_busy_workspace_is_detached_then_mounted_again_the_same(disk_sessions):
    """A shell on the host inside the workspace keeps its filesystem alive
    after stop: the next start mounts that same one (never a second mount of
    the image, which would corrupt it)."""
    s = disk_sessions
    if not ROOT:
        refused_unprivileged(s, "busy", "--disk", DISK)
        return
    s.run("session", "create", "busy", "--disk", DISK, check=0)
    ws = workspace_of(s, "busy")
    holder = subprocess.Popen(["sleep", "30"], cwd=ws)
    try:
        s.run("session", "stop", "busy", check=0)
        assert mounts_under(s.state) == []
        assert len(loops_backed_by(s.state)) == 1
        s.run("exec", "busy", "--", "sh", "-c", "echo again > /workspace/a", check=0)
        assert len(loops_backed_by(s.state)) == 1
        assert (ws / "a").read_text() == "again\n"
    finally:
        holder.kill()
        holder.wait()
    s.run("session", "rm", "busy", "--workspaces", check=0)
    assert wait_for(lambda: loops_backed_by(s.state) == [])


def test_a_session_with_other_limits_is_refused(disk_sessions, tmp_path):
    s = disk_sessions
    config = tmp_path / "limits.json"
    config.write_text(json.dumps({"sandbox": {"limits": {"disk": DISK, "files": FILES}}}))
    if not ROOT:
        proc = s.run("exec", "ch", "--config", str(config), "--", "true")
        assert "needs root" in one_line_error(proc)
        return
    s.run("exec", "ch", "--config", str(config), "--", "sh", "-c", "echo a > /workspace/a",
          check=0)
    config.write_text(json.dumps({"sandbox": {"limits": {"disk": "16m", "files": FILES}}}))
    proc = s.run("exec", "ch", "--config", str(config), "--", "true")
    line = last_error(proc)
    assert "made for limits.disk 8388608 bytes and limits.files 200" in line, line
    assert "session rm ch --workspaces" in line, line
    assert mounts_under(s.state) == []
    # Without limits, the workspace stays what it is: its data is in it.
    config.write_text(json.dumps({"sandbox": {}}))
    result, proc = s.exec_json("ch", "--config", str(config), "--", "sh", "-c",
                               "cat /workspace/a; df -k /workspace | tail -1")
    assert result["stdout"].startswith("a\n"), result
    assert "stays the filesystem" in proc.stderr.decode()


def test_session_refusals(disk_sessions, tmp_path):
    s = disk_sessions
    if not ROOT:
        refused_unprivileged(s, "r1", "--disk", DISK)
        return
    proc = s.run("session", "create", "r1", "--files", "10")
    line = one_line_error(proc)
    assert "limits.files (--files) for session r1 needs limits.disk (--disk) too" in line, line
    s.run("session", "rm", "r1")
    ws = tmp_path / "given"
    ws.mkdir()
    os.chmod(ws, 0o777)
    proc = s.run("session", "create", "r2", "--workspace", str(ws), "--disk", DISK)
    line = one_line_error(proc)
    assert "cannot bound the workspace" in line and "project quotas" in line, line
    s.run("session", "rm", "r2")
    # A workspace that already holds files is not hidden under a new image.
    s.run("exec", "r3", "--", "sh", "-c", "echo old > /workspace/old", check=0)
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"sandbox": {"limits": {"disk": DISK}}}))
    proc = s.run("exec", "r3", "--config", str(config), "--", "true")
    assert "already holds files" in last_error(proc)
    assert (workspace_of(s, "r3") / "old").read_text() == "old\n"
    assert mounts_under(s.state) == []


def test_write_and_edit_on_a_full_workspace(disk_sessions, tmp_path):
    s = disk_sessions
    if not ROOT:
        refused_unprivileged(s, "tools", "--disk", DISK)
        return
    s.run("session", "create", "tools", "--disk", DISK, check=0)
    ws = workspace_of(s, "tools")
    s.run("tool", "tools", "write", json.dumps({"path": "keep.txt", "content": "original\n"}),
          check=0)
    s.run("exec", "tools", "--", "sh", "-c", "head -c 20m /dev/zero > /workspace/fill",
          check=1)
    big = tmp_path / "big"
    big.write_bytes(b"y" * (1 << 20))
    proc = s.run("tool", "tools", "write", "--content-from", str(big),
                 json.dumps({"path": "keep.txt"}), check=1)
    error = json.loads(proc.stdout)["error"]
    assert "no space left" in error and "keep.txt was not changed" in error, error
    assert (ws / "keep.txt").read_text() == "original\n"
    edit = {"path": "keep.txt", "oldText": "original", "newText": "z" * 200000}
    proc = s.run("tool", "tools", "edit", "-", input=json.dumps(edit).encode(), check=1)
    assert "keep.txt was not changed" in json.loads(proc.stdout)["error"]
    assert (ws / "keep.txt").read_text() == "original\n"
    assert not [p for p in os.listdir(ws) if p.startswith(".hutch-")]
    # bash still runs on the full disk, and frees it.
    proc = s.run("tool", "tools", "bash", json.dumps({"command": "rm /workspace/fill; echo ok"}),
                 check=0)
    assert json.loads(proc.stdout)["text"].startswith("ok"), proc.stdout


def test_prune_removes_the_image_with_the_workspace(disk_sessions):
    s = disk_sessions
    if not ROOT:
        refused_unprivileged(s, "old", "--disk", DISK)
        return
    s.run("session", "create", "old", "--disk", DISK, check=0)
    ws = workspace_of(s, "old")
    age(s, "old", last_used_at=48)
    s.run("prune", "--workspaces", check=0)
    assert s.ls() == [] and not ws.exists() and not pathlib.Path(str(ws) + ".img").exists()
    assert mounts_under(s.state) == []
    assert wait_for(lambda: loops_backed_by(s.state) == [])


# ---- docker --------------------------------------------------------------------------

@pytest.fixture
def docker(hutch, tmp_path):
    ensure_engine()
    config = tmp_path / "docker.json"
    config.write_text(json.dumps({"sandbox": {"backend": "docker"}}))
    return {"config": str(config), "podman": is_podman()}


def docker_limits(hutch, docker):
    """--disk and --files, or with Podman, whose tmpfs mounts take no inode
    limit, --disk alone after checking that --files is refused."""
    if not docker["podman"]:
        return ["--disk", DISK, "--files", str(FILES)]
    proc = hutch.run("run", "--backend", "docker", "--files", str(FILES), "--", "true")
    assert "limits.files (--files) cannot be enforced by Podman" in one_line_error(proc)
    return ["--disk", DISK]


def check_bytes(text):
    nbytes, bytes_error, _, _ = parse_fill(text)
    assert 0 < nbytes <= DISK_BYTES and bytes_error == "No space left on device", text


def test_docker_run_bounds_its_tmpfs_areas(hutch, docker):
    result, _ = hutch.run_json("--backend", "docker", *docker_limits(hutch, docker), "--", "sh",
                               "-c",
                               fill_script("/workspace", "/tmp", "/var/tmp", "/run", "/dev/shm"))
    assert result["exit_code"] == 0, result
    texts = result["stdout"].split("bytes ")[1:]
    assert len(texts) == 5, result["stdout"]
    for text in texts:
        (check_bytes if docker["podman"] else check_fill)("bytes " + text)


def test_docker_refuses_what_it_cannot_bound(hutch, docker, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    proc = hutch.run("run", "--backend", "docker", "--workspace", str(ws), "--disk", DISK,
                     "--", "true")
    line = one_line_error(proc)
    assert "limits.disk (--disk) cannot bound the workspace" in line, line
    proc = hutch.run("run", "--backend", "docker", "--rw", f"{ws}:/data", "--files", "9",
                     "--", "true")
    assert "cannot bound the writable mount" in one_line_error(proc)
    proc = hutch.run("run", "--backend", "docker", "--read-only-root=false", "--files", "9",
                     "--", "true")
    assert "limits.files (--files) cannot bound a writable container root" in \
        one_line_error(proc)
    proc = hutch.run("run", "--sandbox", "docker:anything", "--disk", DISK, "--", "true")
    assert "cannot apply limits.disk (--disk)" in one_line_error(proc)
    # A writable root: the engine's storage driver limits its size, or the
    # run is refused (overlay2 here is not on xfs with pquota).
    proc = hutch.run("run", "--backend", "docker", "--read-only-root=false", "--disk", DISK,
                     "--", "sh", "-c", "head -c 20m /dev/zero > /big; echo wrote")
    if proc.returncode == 125:
        line = one_line_error(proc)
        assert "limits.disk (--disk) with a writable container root" in line, line
        assert "--fallback" not in line, line
    else:
        assert b"No space left" in proc.stderr, proc.stderr


def test_docker_session_workspace_is_a_filesystem_of_its_own(disk_sessions, docker):
    s = disk_sessions
    if not ROOT:
        refused_unprivileged(s, "dk", "--config", docker["config"], "--disk", DISK)
        return
    s.run("session", "create", "dk", "--config", docker["config"],
          *docker_limits(s.hutch, docker), check=0)
    ws = workspace_of(s, "dk")
    result, _ = s.exec_json("dk", "--", "sh", "-c",
                            fill_script("/workspace", "/tmp") +
                            "; echo kept > /workspace/kept; " +
                            "i=0; while touch /.hutch/f$i 2>/dev/null; do i=$((i+1)); done; "
                            "echo hutch $i")
    assert result["exit_code"] == 0, result
    out = result["stdout"].strip().splitlines()
    if docker["podman"]:
        check_bytes("\n".join(out[0:4]))
        check_bytes("\n".join(out[4:8]))
    else:
        check_fill("\n".join(out[0:4]), exact_files=False)
        check_fill("\n".join(out[4:8]))
    assert int(out[8].split()[1]) < 64, out  # the runtime directory's tmpfs
    s.run("session", "stop", "dk", check=0)
    assert mounts_under(s.state) == []
    result, _ = s.exec_json("dk", "--", "cat", "/workspace/kept")
    assert result["stdout"] == "kept\n", result
    s.run("session", "rm", "dk", "--workspaces", check=0)
    assert mounts_under(s.state) == [] and not ws.exists()
    assert wait_for(lambda: loops_backed_by(s.state) == [])
