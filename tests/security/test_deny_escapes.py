"""Attempts to make a deny rule (--deny-read, --deny-write) stop applying to
the file or directory it names: renaming, moving, hard-linking or replacing
an ancestor, deleting and recreating the target, planting a symlink, across
one-shot runs, sessions (also after `session stop`), the file tools, and the
docker backend. Every one must fail: the target stays hidden or read-only,
or hutch refuses to run (exit 125) with a rule it cannot apply.
Runs as root and as an unprivileged user (scripts/test.sh runs both)."""
import json
import os
import shutil
import uuid

import pytest

from conftest import ROOT, one_line_error
from helpers import ensure_engine


SECRET = "hutch-deny-canary-" + uuid.uuid4().hex
DEBIAN = "hutch-sandbox:bookworm-slim"
HOOK = "#!/bin/sh\necho original\n"


def sandbox_owner(backend):
    """The host uid:gid the sandbox writes as: the caller's own when
    unprivileged; as root, native's nobody and docker's default 1000."""
    if not ROOT:
        return os.getuid(), os.getgid()
    return (65534, 65534) if backend == "native" else (1000, 1000)


@pytest.fixture
def workspace(tmp_path):
    """W/keys/secret.pem (the secret), W/sub/.git/hooks/post-checkout."""
    w = tmp_path / "W"
    (w / "keys").mkdir(parents=True)
    (w / "keys" / "secret.pem").write_text(SECRET + "\n")
    hooks = w / "sub" / ".git" / "hooks"
    hooks.mkdir(parents=True)
    (hooks / "post-checkout").write_text(HOOK)
    os.chmod(tmp_path, 0o755)
    return w


def own(w, backend):
    uid, gid = sandbox_owner(backend)
    for root, dirs, files in os.walk(w):
        for name in [root, *[os.path.join(root, n) for n in dirs + files]]:
            os.lchown(name, uid, gid)


def backend_flags(backend):
    if backend == "native":
        return ["--backend", "native"]
    uid, gid = sandbox_owner(backend)
    return ["--backend", "docker", "--image", DEBIAN, "--user", f"{uid}:{gid}"]


@pytest.fixture(params=["native", "docker"])
def backend(request):
    if request.param == "docker":
        ensure_engine()
    return request.param


def run(hutch, backend, w, rules, script):
    return hutch.run("run", "--json", *backend_flags(backend), "--workspace", str(w), *rules,
                     "--", "sh", "-c", script)


def result_of(proc):
    assert proc.stdout, (proc.returncode, proc.stderr)
    return json.loads(proc.stdout)


ATTACKS = [
    # (name, script run with the rule, what a later run looks at)
    ("rename the parent", "mv /workspace/keys /workspace/k2", "cat /workspace/k2/secret.pem"),
    ("move the parent deeper", "mkdir -p /workspace/a && mv /workspace/keys /workspace/a/",
     "cat /workspace/a/keys/secret.pem"),
    ("replace the parent", "mkdir /workspace/decoy && mv /workspace/keys /workspace/k2; "
     "rm -rf /workspace/keys; mv /workspace/decoy /workspace/keys",
     "cat /workspace/k2/secret.pem"),
    ("rename the target", "mv /workspace/keys/secret.pem /workspace/keys/s2",
     "cat /workspace/keys/s2"),
    ("hard-link the target", "ln /workspace/keys/secret.pem /workspace/link",
     "cat /workspace/link"),
    ("delete and recreate", "rm -f /workspace/keys/secret.pem; echo decoy > "
     "/workspace/keys/secret.pem", "cat /workspace/keys/secret.pem"),
    ("copy it out", "cp /workspace/keys/secret.pem /workspace/copy", "cat /workspace/copy"),
    ("a symlink in its place", "mv /workspace/keys /workspace/k2 && ln -s k2 /workspace/keys",
     "cat /workspace/k2/secret.pem"),
]


@pytest.mark.parametrize("name,attack,look", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_deny_read_survives_attacks_across_runs(hutch, backend, workspace, name, attack, look):
    own(workspace, backend)
    rule = ["--deny-read", str(workspace / "keys" / "secret.pem")]
    first = result_of(run(hutch, backend, workspace, rule,
                          attack + "; cat /workspace/keys/secret.pem"))
    assert SECRET not in first["stdout"]
    # The host's file is where the rule names it, untouched.
    assert (workspace / "keys" / "secret.pem").read_text() == SECRET + "\n"
    second = run(hutch, backend, workspace, rule, look)
    if second.returncode == 125:  # nothing to apply the rule to: refused, never dropped
        assert "filesystem.denyRead" in one_line_error(second)
    else:
        assert SECRET not in result_of(second)["stdout"]
    # Without the rule, a run still sees it: the file was never moved.
    plain = result_of(run(hutch, backend, workspace, [], "cat /workspace/keys/secret.pem"))
    assert plain["stdout"] == SECRET + "\n"


WRITE_ATTACKS = [
    ("rename the parent", "mv /workspace/sub /workspace/s2 && "
     "echo evil > /workspace/s2/.git/hooks/post-checkout"),
    ("rename the target", "mv /workspace/sub/.git /workspace/sub/g && "
     "echo evil > /workspace/sub/g/hooks/post-checkout"),
    ("delete and recreate", "rm -rf /workspace/sub/.git; mkdir -p /workspace/sub/.git/hooks; "
     "echo evil > /workspace/sub/.git/hooks/post-checkout"),
    ("write through", "echo evil > /workspace/sub/.git/hooks/post-checkout"),
    ("replace the parent", "cp -a /workspace/sub /workspace/copy; "
     "echo evil > /workspace/copy/.git/hooks/post-checkout; "
     "mv /workspace/sub /workspace/old; mv /workspace/copy /workspace/sub"),
]


@pytest.mark.parametrize("name,attack", WRITE_ATTACKS, ids=[a[0] for a in WRITE_ATTACKS])
def test_deny_write_survives_attacks(hutch, backend, workspace, name, attack):
    own(workspace, backend)
    hook = workspace / "sub" / ".git" / "hooks" / "post-checkout"
    rule = ["--deny-write", str(workspace / "sub" / ".git")]
    result_of(run(hutch, backend, workspace, rule, attack))
    assert hook.read_text() == HOOK
    assert not (workspace / "s2").exists() and not (workspace / "old").exists()
    # A second run with the rule still finds it in place and read-only.
    again = result_of(run(hutch, backend, workspace, rule,
                          "echo evil > /workspace/sub/.git/hooks/post-checkout"))
    assert again["exit_code"] != 0 and "Read-only file system" in again["stderr"]
    assert hook.read_text() == HOOK


def test_a_missing_target_fails_closed(hutch, backend, workspace):
    own(workspace, backend)
    gone = workspace / "keys" / "gone.pem"
    proc = run(hutch, backend, workspace, ["--deny-read", str(gone)], "echo ran")
    line = one_line_error(proc)
    assert "filesystem.denyRead (--deny-read)" in line and "is not there" in line
    proc = run(hutch, backend, workspace, ["--deny-write", str(workspace / "sub2" / ".git")],
               "mkdir -p /workspace/sub2/.git/hooks && echo evil > /workspace/sub2/.git/hooks/x")
    assert "filesystem.denyWrite (--deny-write)" in one_line_error(proc)
    assert not (workspace / "sub2").exists()
    # A path the sandbox cannot see at all needs nothing hidden.
    ok = result_of(run(hutch, backend, workspace,
                       ["--deny-read", "/nonexistent-hutch/key"], "echo ran"))
    assert ok["stdout"] == "ran\n"


def test_a_planted_symlink_or_hard_link_fails_closed(hutch, backend, workspace):
    own(workspace, backend)
    # What an earlier run without the rule could have left behind.
    shutil.move(workspace / "keys", workspace / "real")
    os.symlink("real", workspace / "keys")
    proc = run(hutch, backend, workspace, ["--deny-read", str(workspace / "keys" / "secret.pem")],
               "cat /workspace/real/secret.pem")
    assert "leads through the symlink" in one_line_error(proc)
    os.unlink(workspace / "keys")
    shutil.move(workspace / "real", workspace / "keys")
    os.link(workspace / "keys" / "secret.pem", workspace / "other-name")
    proc = run(hutch, backend, workspace, ["--deny-read", str(workspace / "keys" / "secret.pem")],
               "cat /workspace/other-name")
    assert "hard links" in one_line_error(proc)


def test_rules_hold_in_a_session_and_after_stop(sessions, backend, workspace):
    own(workspace, backend)
    flags = backend_flags(backend)
    rules = ["--deny-read", str(workspace / "keys" / "secret.pem"),
             "--deny-write", str(workspace / "sub" / ".git")]
    sessions.run("session", "create", "deny", *flags, "--workspace", str(workspace), *rules,
                 check=0)
    attack = ("mv /workspace/keys /workspace/k2; mv /workspace/sub /workspace/s2; "
              "rm -rf /workspace/sub/.git; ln /workspace/keys/secret.pem /workspace/l; "
              "setsid sh -c 'sleep 0.5; mv /workspace/keys /workspace/k3' >/dev/null 2>&1 & "
              "cat /workspace/keys/secret.pem; true")
    r, _ = sessions.exec_json("deny", "--", "sh", "-c", attack)
    assert SECRET not in r["stdout"]
    sessions.run("session", "stop", "deny", check=0)
    r, _ = sessions.exec_json("deny", "--", "sh", "-c",
                              "cat /workspace/keys/secret.pem /workspace/k2/secret.pem "
                              "/workspace/k3/secret.pem /workspace/l; "
                              "echo evil > /workspace/sub/.git/hooks/post-checkout; true")
    assert SECRET not in r["stdout"]
    assert (workspace / "keys" / "secret.pem").read_text() == SECRET + "\n"
    assert (workspace / "sub" / ".git" / "hooks" / "post-checkout").read_text() == HOOK


def test_file_tools_cannot_undo_a_rule(sessions, workspace):
    own(workspace, "native")
    secret = workspace / "keys" / "secret.pem"
    rules = ["--deny-read", str(secret), "--deny-write", str(workspace / "sub" / ".git")]
    sessions.run("session", "create", "tools", "--workspace", str(workspace), *rules, check=0)

    def tool(name, args):
        proc = sessions.run("tool", "tools", name, json.dumps(args))
        return json.loads(proc.stdout)

    assert SECRET not in json.dumps(tool("read", {"path": "keys/secret.pem"}))
    hook = tool("write", {"path": "sub/.git/hooks/post-checkout", "content": "evil\n"})
    assert hook.get("ok") is False, hook
    edit = tool("edit", {"path": "sub/.git/hooks/post-checkout", "oldText": "original",
                         "newText": "evil"})
    assert edit.get("ok") is False, edit
    moved = tool("bash", {"command": "mv keys k2 2>&1 | grep -c busy; "
                                     "mv sub s2 2>&1 | grep -c busy; ls"})
    assert moved["text"].split() == ["1", "1", "keys", "sub"], moved
    assert SECRET not in json.dumps(tool("read", {"path": "keys/secret.pem"}))
    assert secret.read_text() == SECRET + "\n"
    assert (workspace / "sub" / ".git" / "hooks" / "post-checkout").read_text() == HOOK


def test_a_rule_given_as_the_inside_path_is_pinned_too(hutch, workspace):
    own(workspace, "native")
    rule = ["--deny-read", "/workspace/keys/secret.pem"]
    r = result_of(run(hutch, "native", workspace, rule,
                      "mv /workspace/keys /workspace/k2; cat /workspace/keys/secret.pem; true"))
    assert SECRET not in r["stdout"] and "Device or resource busy" in r["stderr"]
