"""The SDK's option table against the real binary: every flag the SDK can
emit is accepted and lands on the config key it is meant for, and every
policy flag of `hutch help run` has its option, so the table cannot drift
from the CLI."""
import json
import re
import subprocess

import pytest

import hutch_sandbox as hs
from conftest import HUTCH


def samples(tmp):
    d = tmp / "dir"
    d.mkdir(exist_ok=True)
    conf = tmp / "c.json"
    conf.write_text('{"sandbox": {"limits": {"pids": 77}}}')
    # option: (value, path in `hutch config check`'s sandbox object, expected there;
    #          None: the default shows the same, so only acceptance is checked)
    return {
        "config": (conf, "limits.pids", 77),
        "no_config": (True, None, None),
        "backend": ("spawn", "backend", "spawn"),
        "fallback": ("spawn", "fallback", "spawn"),
        "fallback_keep": (["network.mode"], "fallbackKeep", ["network.mode"]),
        "setup_command": ("echo hi", "setupCommand", "echo hi"),
        "workspace": (d, "workspace", str(d)),
        "workdir": ("/workspace/src", "workdir", "/workspace/src"),
        "user": ("1000:1000", "user", "1000:1000"),
        "allow_root_user": (True, "allowRootUser", True),
        "env": ({"A": "1", "B": "x y"}, "env", {"A": "1", "B": "x y"}),
        "inherit_env": (True, "inheritEnv", True),
        "memory": ("256m", "limits.memory", "256m"),
        "cpus": (0.5, "limits.cpus", 0.5),
        "pids": (64, "limits.pids", 64),
        "timeout": (60, "limits.timeoutSeconds", 60),
        "output_limit": ("2m", "limits.outputBytes", "2m"),
        "file_size": ("10m", "limits.fileSize", "10m"),
        "disk": ("100m", "limits.disk", "100m"),
        "files": (1000, "limits.files", 1000),
        "rlimit_fallback": (True, "limits.rlimitFallback", True),
        "net": (["example.com", "*.example.org"], "network.allowedDomains", ["example.com", "*.example.org"]),
        "allow_address": (["10.0.0.5"], "network.allowedAddresses", ["10.0.0.5/32"]),
        "add_host": ({"git.internal": "10.0.0.5"}, "network.hosts", None),
        "deny_read": ([str(d / "secret")], "filesystem.denyRead", [str(d / "secret")]),
        "rw": ([f"{d}:/data"], "filesystem.allowWrite", None),
        "deny_write": ([str(d / ".git")], "filesystem.denyWrite", [str(d / ".git")]),
        "ro": ([f"{d}:/tools"], "filesystem.readOnly", None),
        "tmpfs": (["/scratch"], "filesystem.tmpfs", ["/scratch"]),
        "read_only_root": (True, "filesystem.readOnlyRoot", True),
        "image": ("hutch-sandbox:bookworm-slim", "docker.image", "hutch-sandbox:bookworm-slim"),
        "sandbox": ("docker:my-agent", "docker.container", "my-agent"),
        "runtime": ("runsc", "docker.runtime", "runsc"),
        "require_approval": (["bash"], "approval.require", ["bash"]),
    }


# what an option is only valid with
NEEDS = {"add_host": {"net": ["example.com"]}, "allow_address": {"net": ["example.com"]}}


def dig(obj, path):
    for part in path.split("."):
        obj = obj[part]
    return obj


def test_every_option_has_a_sample():
    import pathlib
    import tempfile
    with tempfile.TemporaryDirectory() as t:
        assert set(samples(pathlib.Path(t))) == set(hs.POLICY_FLAGS)


@pytest.mark.parametrize("option", sorted(hs.POLICY_FLAGS))
def test_flag_is_accepted_and_lands_on_its_key(option, tmp_path):
    value, path, expected = samples(tmp_path)[option]
    args = hs.flags({option: value, **NEEDS.get(option, {})})
    extra = [] if option in ("config", "no_config") else ["--no-config"]
    proc = subprocess.run([HUTCH, "config", "check", *extra, *args], capture_output=True, text=True)
    assert proc.returncode == 0, (args, proc.stderr)
    sandbox = json.loads(proc.stdout)["sandbox"]
    if path is not None:
        got = dig(sandbox, path)
        if expected is None:
            assert got, (args, got)
        else:
            assert got == expected, (args, got)


@pytest.mark.parametrize("option", sorted(hs.PER_RUN_OPTIONS))
def test_per_run_flag_is_accepted_by_exec_and_mcp(option, tmp_path):
    value, _, _ = samples(tmp_path)[option]
    if option == "workdir":
        value = "/tmp"
    args = hs.flags({option: value}, hs.PER_RUN_OPTIONS)
    subprocess.run([HUTCH, "session", "create", "flags", "--no-config"], check=True, capture_output=True)
    proc = subprocess.run([HUTCH, "exec", "flags", *args, "--json", "--", "true"], capture_output=True, text=True)
    assert proc.returncode == 0, (args, proc.stderr)
    assert json.loads(proc.stdout)["exit_code"] == 0
    proc = subprocess.run([HUTCH, "mcp", "--session", "flags", *args], input="", capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, (args, proc.stderr)


def test_every_policy_flag_of_the_cli_has_an_option():
    text = subprocess.run([HUTCH, "help", "run"], capture_output=True, text=True, check=True).stdout
    section = text.split("\nPOLICY OPTIONS\n", 1)[1].split("\nBACKENDS\n", 1)[0]
    cli = set(re.findall(r"^    (--[a-z-]+)", section, re.M))
    ours = {flag for flag, _ in hs.POLICY_FLAGS.values()}
    # --docker is the same as --sandbox docker
    assert cli - {"--docker"} == ours


def test_per_run_options_are_those_exec_takes():
    text = subprocess.run([HUTCH, "help", "exec"], capture_output=True, text=True, check=True).stdout
    listed = set(re.findall(r"--[a-z-]+", text.split("Per-run options only:", 1)[1].split("\n\n", 1)[0]))
    assert listed == {hs.POLICY_FLAGS[o][0] for o in hs.PER_RUN_OPTIONS}


def test_values_are_checked_before_hutch_sees_them():
    with pytest.raises(TypeError):
        hs.flags({"memory": True})
    with pytest.raises(ValueError):
        hs.flags({"workdir": "/a\0b"})
    assert hs.flags({"net": []}) == ["--net", "none"]
    assert hs.flags({"read_only_root": False, "memory": None}) == []
