"""Config files through the real binary: precedence, errors, config check."""
import json

from conftest import BUILD_DIR, one_line_error


def write(path, doc):
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def test_config_file_applies_and_flags_override(hutch, tmp_path):
    cfg = write(tmp_path / "c.json", {"sandbox": {"limits": {"outputBytes": 4}}})
    result, _ = hutch.run_json("--config", cfg, "--", "echo", "abcdefgh")
    assert result["stdout"] == "abcd"
    result, _ = hutch.run_json("--config", cfg, "--output-limit", "6", "--", "echo", "abcdefgh")
    assert result["stdout"] == "abcdef"


def test_default_config_path_is_read(hutch):
    cfg_dir = hutch.tmp / "config-home" / "hutch"
    cfg_dir.mkdir(parents=True)
    write(cfg_dir / "config.json", {"sandbox": {"env": {"FROM_CONFIG": "yes"}}})
    result, _ = hutch.run_json("--", "sh", "-c", "echo $FROM_CONFIG")
    assert result["stdout"] == "yes\n"
    result, _ = hutch.run_json("--no-config", "--", "sh", "-c", "echo ${FROM_CONFIG:-unset}")
    assert result["stdout"] == "unset\n"
    assert hutch.run("config", "path", check=0).stdout.decode().strip() == str(cfg_dir / "config.json")


def test_bad_default_config_names_the_fix(hutch):
    cfg_dir = hutch.tmp / "config-home" / "hutch"
    cfg_dir.mkdir(parents=True)
    path = write(cfg_dir / "config.json", {"sandbox": {"limits": {"memory": "12q"}}})
    line = one_line_error(hutch.run("run", "--", "true"))
    assert line == (f'hutch: {path}: sandbox.limits.memory: "12q" is not a size like 512m '
                    "(fix the file, or pass --no-config)")


def test_bad_config_errors(hutch, tmp_path):
    cases = [
        ({"sandbox": {"limits": {"memory": "12q"}}},
         'sandbox.limits.memory: "12q" is not a size like 512m'),
        ({"sandbox": {"limit": {}}}, "sandbox.limit: unknown key (known keys here: backend,"),
        ({"sandbox": {"network": {"mode": "internet"}}},
         'sandbox.network.mode: "internet" is not one of none, host, bridge, allow'),
        ('{"sandbox": {"limits": {"pids": 12,,}}}',
         ":1:36: invalid JSON5: expected a key or '}' after ',', found ','"),
        ({"sandbox": {"filesystem": {"denyRead": "~/.ssh"}}},
         'sandbox.filesystem.denyRead: "~/.ssh" is not a list of strings'),
    ]
    for doc, expected in cases:
        path = write(tmp_path / "bad.json", doc)
        line = one_line_error(hutch.run("run", "--config", path, "--", "true"))
        assert line.startswith(f"hutch: {path}"), line
        assert expected in line, line
    line = one_line_error(hutch.run("run", "--config", str(tmp_path / "missing.json"), "--", "true"))
    assert line == f"hutch: cannot read config file {tmp_path}/missing.json: No such file or directory"


def test_config_check_prints_effective_policy(hutch, tmp_path):
    cfg = write(tmp_path / "c.json", {"sandbox": {"limits": {"memory": "1g"}, "tools": {"deny": ["browser"]}}})
    proc = hutch.run("config", "check", cfg, "--cpus", "0.5", "--memory", "2g", check=0)
    doc = json.loads(proc.stdout)["sandbox"]
    assert doc["limits"]["memory"] == "2g"
    assert doc["limits"]["cpus"] == 0.5
    assert doc["tools"]["deny"] == ["browser"]
    assert doc["backend"] == "native" and doc["network"]["mode"] == "none"
    # The printed document is itself a valid config.
    again = write(tmp_path / "again.json", proc.stdout.decode())
    proc2 = hutch.run("config", "check", again, check=0)
    assert json.loads(proc2.stdout) == json.loads(proc.stdout)


def test_config_check_reports_invalid_with_status_1(hutch, tmp_path):
    cfg = write(tmp_path / "c.json", {"sandbox": {"limits": {"cpus": "many"}}})
    proc = hutch.run("config", "check", cfg)
    assert proc.returncode == 1 and proc.stdout == b""
    assert proc.stderr.decode() == (f'hutch: {cfg}: sandbox.limits.cpus: "many" is not a CPU '
                                    "count like 0.5 or 2\n")


def test_gateway_config_is_accepted_as_is(hutch, tmp_path):
    cfg = write(tmp_path / "gateway.json", {
        "agent": {"model": "m", "sandbox": {
            "mode": "non-main", "perSession": True,
            "workspaceRoot": "~/.gateway/sandboxes",
            "docker": {"image": "gw-sandbox:bookworm-slim", "containerPrefix": "gw-sbx-",
                       "workdir": "/workspace", "readOnlyRoot": True,
                       "tmpfs": ["/tmp", "/var/tmp", "/run"], "network": "none",
                       "user": "1000:1000", "capDrop": ["ALL"], "env": {"LANG": "C.UTF-8"},
                       "setupCommand": "apt-get update", "pidsLimit": 128},
            "tools": {"allow": ["bash", "read"], "deny": ["browser"]},
            "prune": {"idleHours": 12, "maxAgeDays": 3}}},
        "routing": {"whatever": True},
    })
    doc = json.loads(hutch.run("config", "check", cfg, check=0).stdout)["sandbox"]
    assert doc["mode"] == "non-main"
    assert doc["docker"]["image"] == "gw-sandbox:bookworm-slim"
    assert doc["limits"]["pids"] == 128
    assert doc["prune"]["idleHours"] == 12


def test_sandbox_runtime_settings_are_accepted(hutch, tmp_path):
    # A writable directory of its own: with /tmp, a home under /tmp (as in the
    # unprivileged test run) would put a missing ~/.ssh in the sandbox's view,
    # and a rule that cannot be applied fails closed (test_deny_escapes.py).
    work = tmp_path / "work"
    work.mkdir()
    cfg = write(tmp_path / "srt.json", {
        "network": {"allowedDomains": ["github.com", "*.npmjs.org"], "deniedDomains": [],
                    "allowLocalBinding": False},
        "filesystem": {"denyRead": ["~/.ssh"], "allowWrite": [str(work)], "denyWrite": []},
    })
    proc = hutch.run("config", "check", cfg, check=0)
    doc = json.loads(proc.stdout)["sandbox"]
    assert doc["network"]["mode"] == "allow"
    assert doc["network"]["allowedDomains"] == ["github.com", "*.npmjs.org"]
    assert doc["filesystem"]["allowWrite"] == [str(work)]
    assert "network.allowLocalBinding is ignored" in proc.stderr.decode()
    # The native backend enforces the allowlist through its proxy (test_network.py);
    # spawn cannot, and fails closed.
    proc = hutch.run("run", "--json", "--config", cfg, "--", "true")
    assert json.loads(proc.stdout)["network_denied"] == []
    line = one_line_error(hutch.run("run", "--backend", "spawn", "--config", cfg, "--", "true"))
    assert "cannot enforce network.mode" in line


def test_library_example(hutch, tmp_path):
    example = BUILD_DIR / "examples" / "example_run"
    import subprocess
    proc = subprocess.run([str(example), "--", "echo", "hi from libhutch"], capture_output=True,
                          env=hutch.env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "backend=native isolated=1 exit_code=0 stdout_bytes=17" in out
    assert "stdout=hi from libhutch" in out
    assert '"exit_code":0' in out
    bad = write(tmp_path / "bad.json", {"sandbox": {"limits": {"memory": "12q"}}})
    proc = subprocess.run([str(example), bad, "--", "true"], capture_output=True, env=hutch.env)
    assert proc.returncode == 1
    assert b'sandbox.limits.memory: "12q" is not a size like 512m' in proc.stderr
