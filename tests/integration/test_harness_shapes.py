"""The configs and flags of other agent harnesses, taken unchanged from
shared/harness-shapes.md (copied into fixtures/harness-shapes/), through the
real hutch: what each one means in effect (backend, image, limits, network,
tools), not only that it loads. docs/migrating.md puts each side by side
with hutch's own words.

  2  the sandbox runtime's settings file   2-sandbox-runtime.json
  3  the gateway's agent.sandbox (JSON5)    3-gateway.json5
  4  the coding agent's flags and options   4-agent-flags.sh, 4-executor.ts
"""
import http.server
import io
import json
import os
import pathlib
import re
import shlex
import tarfile
import threading
import urllib.parse

import pytest

from conftest import REPO, ROOT, Sessions, one_line_error
from helpers import BUSYBOX, SOCKET, UnixHTTPConnection, engine, own_containers, remove_containers

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "harness-shapes"
SHAPES_DOC = REPO.parent / "shared" / "harness-shapes.md"


def fixture(name):
    return (FIXTURES / name).read_text()


def check(hutch, *args):
    """hutch config check ARGS: the effective sandbox section, and stderr."""
    proc = hutch.run("config", "check", *args, check=0)
    return json.loads(proc.stdout)["sandbox"], proc.stderr.decode()


def test_fixtures_are_the_documented_shapes():
    """The fixtures are the blocks of shared/harness-shapes.md, byte for byte
    (where that file is beside the checkout, as in CI)."""
    if not SHAPES_DOC.exists():
        pytest.skip(f"{SHAPES_DOC} is not here")
    blocks = [body for _, body in re.findall(r"```(\w*)\n(.*?)```", SHAPES_DOC.read_text(), re.S)]
    for name in ["2-sandbox-runtime.json", "3-gateway.json5", "4-agent-flags.sh",
                 "4-executor.ts"]:
        assert fixture(name) in blocks, name


# ---- 2: the sandbox runtime's settings file ------------------------------------------------

def test_runtime_settings_mean_what_they_say(hutch, tmp_path):
    cfg = tmp_path / "srt-settings.json"
    cfg.write_text(fixture("2-sandbox-runtime.json"))
    doc, err = check(hutch, str(cfg))
    assert err == ""
    home = hutch.env["HOME"]
    assert doc["backend"] == "native"
    assert doc["network"]["mode"] == "none" and doc["network"]["allowedDomains"] == []
    assert doc["filesystem"]["denyRead"] == [f"{home}/.ssh", f"{home}/.aws"]
    assert doc["filesystem"]["allowWrite"] == ["/srv/bot/channel", "/srv/bot/scratch"]
    # A writable path that is not there is reported, not skipped.
    if not os.path.exists("/srv/bot/channel"):
        line = one_line_error(hutch.run("run", "--config", str(cfg), "--", "true"))
        assert "/srv/bot/channel" in line, line


def runtime_settings_here(tmp_path, allowed):
    """The fixture with its /srv/bot paths moved under tmp_path (which the
    test may create) and allowedDomains set: the rest as it is."""
    bot = tmp_path / "bot"
    for sub in ("channel", "scratch"):
        (bot / sub).mkdir(parents=True, exist_ok=True)
        (bot / sub).chmod(0o777)  # as root, the sandbox runs as nobody
    text = fixture("2-sandbox-runtime.json").replace("/srv/bot", str(bot))
    text = text.replace('"allowedDomains": []', f'"allowedDomains": {json.dumps(allowed)}')
    cfg = tmp_path / f"srt-{len(allowed)}.json"
    cfg.write_text(text)
    return str(cfg), bot


class Web:
    """A web server on the host's loopback, for the allowlist's proxy to reach."""

    def __init__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"hello from the host\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def web():
    w = Web()
    yield w
    w.close()


FETCH = ("import urllib.request, sys\n"
         "try:\n"
         "    print(urllib.request.urlopen(sys.argv[1], timeout=20).read().decode(), end='')\n"
         "except Exception as e:\n"
         "    print('failed:', type(e).__name__)\n")


def test_runtime_settings_network_star_and_empty(hutch, tmp_path, web):
    """["*"] reaches any name (through hutch's proxy); [] reaches none."""
    url = f"http://shape.test:{web.port}/x"
    # The proxy refuses loopback unless told: these flags let the test's own
    # server stand in for the internet. They add no name to the allowlist.
    reach = ["--add-host", "shape.test=127.0.0.1", "--allow-address", "127.0.0.1"]
    star, bot = runtime_settings_here(tmp_path, ["*"])
    doc, _ = check(hutch, star)
    assert doc["network"]["mode"] == "allow" and doc["network"]["allowedDomains"] == ["*"]
    proc = hutch.run("run", "--json", "--config", star, *reach, "--", "python3", "-c", FETCH, url)
    result = json.loads(proc.stdout)
    assert result["stdout"] == "hello from the host\n", result
    # Writes reach the host in the writable paths only (elsewhere they fail,
    # or land in the sandbox's own /tmp).
    proc = hutch.run("run", "--json", "--config", star, "--", "sh", "-c",
                     f"echo hi > {bot}/channel/f && cat {bot}/channel/f; "
                     f"echo no > {bot}/../outside 2>/dev/null; true")
    result = json.loads(proc.stdout)
    assert result["stdout"] == "hi\n", result
    assert (bot / "channel" / "f").read_text() == "hi\n"
    assert not (bot.parent / "outside").exists()

    none, _ = runtime_settings_here(tmp_path, [])
    doc, _ = check(hutch, none)
    assert doc["network"]["mode"] == "none"
    proc = hutch.run("run", "--json", "--config", none, "--", "python3", "-c", FETCH, url)
    result = json.loads(proc.stdout)
    assert result["stdout"].startswith("failed:"), result


def test_runtime_settings_deny_wins_over_star(hutch, tmp_path, web):
    cfg, _ = runtime_settings_here(tmp_path, ["*"])
    text = pathlib.Path(cfg).read_text().replace('"deniedDomains": []',
                                                 '"deniedDomains": ["shape.test"]')
    pathlib.Path(cfg).write_text(text)
    proc = hutch.run("run", "--json", "--config", cfg, "--add-host", "shape.test=127.0.0.1",
                     "--allow-address", "127.0.0.1", "--", "python3", "-c", FETCH,
                     f"http://shape.test:{web.port}/x")
    result = json.loads(proc.stdout)
    assert result["stdout"].startswith("failed:"), result
    assert "shape.test" in json.dumps(result["network_denied"]), result


# ---- 3: the gateway's agent.sandbox, JSON5 ---------------------------------------------------

IMAGE = "clawdis-sandbox:bookworm-slim"
IMAGE_LABEL = "hutch-test-harness-shapes"


@pytest.fixture
def gateway(hutch, tmp_path):
    """The gateway's file as it is, a home of the test's own (its
    workspaceRoot is under ~) and a state directory of its own."""
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    tmp_path.chmod(0o755)
    hutch.env["HOME"] = str(home)
    cfg = tmp_path / "gateway.json5"
    cfg.write_text(fixture("3-gateway.json5"))
    s = Sessions(hutch, tmp_path)
    s.config = str(cfg)
    s.home = home
    yield s
    s.cleanup()
    remove_containers(own_containers(procs=hutch.procs, paths=[tmp_path]))


def test_gateway_json5_means_docker_sessions(gateway):
    doc, err = check(gateway.hutch, gateway.config)
    assert err == ""
    assert doc["backend"] == "docker"
    assert doc["mode"] == "non-main" and doc["mainSession"] == "main" and doc["perSession"]
    assert doc["workspaceRoot"] == f"{gateway.home}/.clawdis/sandboxes"
    d = doc["docker"]
    assert d["image"] == IMAGE and d["containerPrefix"] == "clawdis-sbx-"
    assert d["network"] == "bridge" and d["user"] == "1000:1000" and d["readOnlyRoot"]
    assert d["tmpfs"] == ["/tmp", "/var/tmp", "/run"] and d["capDrop"] == ["ALL"]
    assert d["setupCommand"] == "apt-get update && apt-get install -y git curl jq"
    assert doc["tools"]["deny"] == ["browser", "canvas", "nodes", "cron", "discord", "gateway"]
    assert doc["prune"] == {"idleHours": 24, "maxAgeDays": 7}
    # The same block under agents.defaults.sandbox.
    other = pathlib.Path(gateway.config).with_name("defaults.json5")
    other.write_text("{agents: {defaults: " + fixture("3-gateway.json5").strip()[1:-1]
                     .replace("agent:", "", 1).strip().rstrip(",") + "}}")
    assert check(gateway.hutch, str(other))[0] == doc


def test_gateway_tools_filter(gateway):
    """Deny wins; the gateway's own tool names are accepted and asked about."""
    proc = gateway.run("config", "tool-allowed", "bash", "read", "process", "--config",
                       gateway.config)
    assert proc.returncode == 0 and proc.stdout == b"bash allowed\nread allowed\nprocess allowed\n"
    proc = gateway.run("config", "tool-allowed", "browser", "canvas", "bash", "--config",
                       gateway.config)
    assert proc.returncode == 1
    assert proc.stdout == b"browser denied\ncanvas denied\nbash allowed\n"
    # Not in allow: denied too.
    proc = gateway.run("config", "tool-allowed", "web_search", "--config", gateway.config)
    assert proc.returncode == 1 and proc.stdout == b"web_search denied\n"
    both = pathlib.Path(gateway.config).with_name("both.json5")
    both.write_text("{agent: {sandbox: {tools: {allow: ['bash'], deny: ['bash']}}}}")
    proc = gateway.run("config", "tool-allowed", "bash", "--config", str(both))
    assert proc.returncode == 1 and proc.stdout == b"bash denied\n"
    # A denied hutch tool is refused when called.
    line = one_line_error(gateway.run("tool", "main", "browser", "{}", "--config",
                                      gateway.config))
    assert "browser" in line, line


def test_gateway_json5_errors_say_where(hutch, tmp_path):
    bad = tmp_path / "bad.json5"
    bad.write_text(fixture("3-gateway.json5").replace('perSession: true,', 'perSession: true,,'))
    proc = hutch.run("config", "check", str(bad))
    assert proc.returncode == 1
    assert proc.stderr.decode() == (f"hutch: {bad}:5:24: invalid JSON5: expected a key or '}}' "
                                    "after ',', found ','\n")


def own_image():
    status, info = engine("GET", f"/images/{IMAGE}/json")
    return info if status == 200 and (info["Config"].get("Labels") or {}).get(IMAGE_LABEL) else None


def remove_own_image():
    if own_image():
        engine("DELETE", f"/images/{urllib.parse.quote(IMAGE, safe='')}?force=true")


def build_image():
    """IMAGE from the small test image, with an apt-get that logs what it is
    asked (the setup command's packages need a network the tests lack)."""
    dockerfile = (f"FROM {BUSYBOX}\n"
                  "RUN printf '#!/bin/sh\\necho \"apt-get $*\" >> /tmp/apt-get.log\\n' "
                  "> /bin/apt-get && chmod 755 /bin/apt-get\n"
                  f"LABEL {IMAGE_LABEL}=1\n").encode()
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    conn = UnixHTTPConnection(SOCKET, timeout=300)
    conn.request("POST", f"/build?t={urllib.parse.quote(IMAGE)}&rm=1&forcerm=1",
                 body=data.getvalue(), headers={"Content-Type": "application/x-tar"})
    resp = conn.getresponse()
    out = resp.read().decode()
    conn.close()
    assert resp.status == 200 and '"error"' not in out, out[-2000:]


@pytest.mark.skipif(not ROOT, reason="builds and removes a test image (the root run does)")
@pytest.mark.usefixtures("docker_engine")
def test_gateway_docker_session_with_its_image(gateway):
    remove_own_image()  # a crashed run's
    status, _ = engine("GET", f"/images/{IMAGE}/json")
    if status == 200:
        pytest.skip(f"{IMAGE} exists and is not this test's")
    # A missing image is reported, naming it.
    line = one_line_error(gateway.run("exec", "chat-1", "--config", gateway.config, "--",
                                      "true"))
    assert IMAGE in line, line
    build_image()
    try:
        proc = gateway.run("exec", "chat-1", "--json", "--config", gateway.config, "--", "sh",
                           "-c", "cat /tmp/apt-get.log; id -u; pwd; echo $LANG; "
                                 "touch /x 2>/dev/null || echo read-only")
        result = json.loads(proc.stdout)
        assert result["backend"] == "docker" and result["isolated"], result
        assert result["stdout"] == ("apt-get update\napt-get install -y git curl jq\n1000\n"
                                    "/workspace\nC.UTF-8\nread-only\n"), result
        status = gateway.status("chat-1")
        name = status["container_name"]
        assert name.startswith("clawdis-sbx-"), status
        _, info = engine("GET", f"/containers/{name}/json")
        assert info["Config"]["Image"] == IMAGE
        assert info["HostConfig"]["NetworkMode"] == "bridge"
        assert info["HostConfig"]["ReadonlyRootfs"] is True
        assert info["Config"]["User"] == "1000:1000"
        assert status["workspace"].startswith(f"{gateway.home}/.clawdis/sandboxes/")
        # The setup command ran once: a second exec finds one log.
        result = json.loads(gateway.run("exec", "chat-1", "--json", "--config", gateway.config,
                                        "--", "cat", "/tmp/apt-get.log").stdout)
        assert result["stdout"].count("apt-get update") == 1
        # non-main: the main session stays on the host, with the warning.
        proc = gateway.run("exec", "main", "--json", "--config", gateway.config, "--", "true")
        result = json.loads(proc.stdout)
        assert result["backend"] == "host" and result["isolated"] is False, result
        assert "runs on the host, unsandboxed" in proc.stderr.decode()
    finally:
        gateway.cleanup()
        remove_containers(own_containers(procs=gateway.hutch.procs, paths=[gateway.state]))
        remove_own_image()


# ---- 4: the coding agent's flags and executor options ----------------------------------------

def agent_flags():
    """(the flags of each command line of the fixture, its comment)."""
    out = []
    for line in fixture("4-agent-flags.sh").splitlines():
        command, _, comment = line.partition("#")
        args = shlex.split(command)
        assert args[0] == "agent"
        out.append((args[1:args.index("--task")], comment.strip()))
    return out


def test_agent_flags_select_the_backend(hutch):
    want = {(): "native", ("--docker",): "docker", ("--sandbox", "docker"): "docker",
            ("--sandbox", "spawn"): "spawn", ("--sandbox", "none"): "host"}
    lines = agent_flags()
    assert [tuple(flags) for flags, _ in lines] == list(want)
    for flags, _ in lines:
        doc, err = check(hutch, "--no-config", *flags)
        assert doc["backend"] == want[tuple(flags)], flags
        if flags == ["--sandbox", "none"]:
            assert err == ("hutch: warning: --sandbox none: commands run on the host with no "
                           "isolation at all (the host backend)\n")
        else:
            assert err == "", (flags, err)
    # Real runs: spawn and none run on the host; none says so.
    result, _ = hutch.run_json("--sandbox", "spawn", "--", "echo", "hi")
    assert result["backend"] == "spawn" and result["stdout"] == "hi\n"
    result, proc = hutch.run_json("--sandbox", "none", "--", "echo", "hi")
    assert result["backend"] == "host" and result["isolated"] is False
    assert b"no isolation at all" in proc.stderr
    # Anything else is one line listing the forms; docker:NAME adopts.
    line = one_line_error(hutch.run("run", "--sandbox", "mom-sandbox", "--", "true"))
    assert line == ('hutch: --sandbox: "mom-sandbox" is not one of none (the host, unisolated), '
                    "host, spawn, native, docker, or docker:NAME (an existing container to "
                    "adopt)")
    doc, _ = check(hutch, "--no-config", "--sandbox", "docker:mom-sandbox")
    assert doc["backend"] == "docker" and doc["docker"]["container"] == "mom-sandbox"


def executor_options(tmp_path):
    """The object literal passed to getSandboxExecutor, as written (JSON5)."""
    ts = fixture("4-executor.ts")
    start = ts.index("getSandboxExecutor(") + len("getSandboxExecutor(")
    options = ts[start:ts.index("});") + 1]
    path = tmp_path / "executor.json5"
    path.write_text(options)
    return str(path)


def test_executor_options_units(hutch, tmp_path):
    cfg = executor_options(tmp_path)
    doc, err = check(hutch, cfg)
    assert err == ""
    assert doc["backend"] == "docker"
    assert doc["limits"]["timeoutSeconds"] == 60        # timeout: 60000 ms
    assert doc["limits"]["memory"] == "512m"            # memoryLimit: 512 MiB
    assert doc["network"]["mode"] == "none"             # networkEnabled: false
    assert doc["docker"]["workdir"] == "/workspace" and doc["docker"]["readOnlyRoot"] is True
    # A bare number that would be bytes in hutch's own file is refused, named.
    bad = tmp_path / "bad.json"
    bad.write_text('{"sandbox": {"limits": {"memory": 512}}}')
    proc = hutch.run("config", "check", str(bad))
    assert proc.returncode == 1
    assert proc.stderr.decode() == (
        f"hutch: {bad}: sandbox.limits.memory: 512 bytes is too little memory for a sandbox to "
        'start (the least is 6m; 0 = no limit): a bare number is bytes; for MiB write "512m"\n')
    line = one_line_error(hutch.run("run", "--memory", "512", "--", "true"))
    assert "--memory: 512 bytes is too little memory" in line


@pytest.mark.usefixtures("docker_engine")
def test_executor_options_in_a_docker_run(hutch, tmp_path):
    cfg = executor_options(tmp_path)
    result, _ = hutch.run_json("--config", cfg, "--", "sh", "-c",
                               "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes "
                               "2>/dev/null | head -1; pwd; id -u; "
                               "ls /sys/class/net; touch /x 2>/dev/null || echo read-only")
    assert result["backend"] == "docker", result
    lines = result["stdout"].splitlines()
    assert lines[0] == str(512 * 1024 * 1024), result   # 512 MiB, not 512 bytes
    assert lines[1] == "/workspace" and lines[2] != "0"
    assert lines[3:] == ["lo", "read-only"], result      # no network but loopback


# ---- the sandbox runtime's own README examples -----------------------------------------------

def srt_examples():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "sandbox_runtime_examples", FIXTURES.parent / "sandbox_runtime_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EXAMPLES


# What each example becomes: (network mode, allowed, denied, denyRead,
# allowWrite, denyWrite), paths relative to the directory it is read in, and
# the keys it warns about.
SRT_EXPECTED = {
    "settings_file": ("none", [], [], [], ["."], ["~/sensitive-folder"], []),
    "complete_configuration": (
        "allow", ["github.com", "*.github.com", "lfs.github.com", "api.github.com", "npmjs.org",
                  "*.npmjs.org"], ["malicious.com"], ["~/.ssh"], [".", "src", "test", "/tmp"],
        [".env", "config/production.json"],
        ["network.allowUnixSockets", "network.allowLocalBinding", "filesystem.allowRead",
         "ignoreViolations", "enableWeakerNestedSandbox", "enableWeakerNetworkIsolation",
         "allowAppleEvents"]),
    "tls_terminate": ("allow", ["*.example.com", "internal-mtls.example.net"], [], [], [], [],
                      ["network.tlsTerminate"]),
    "allow_github": ("allow", ["github.com", "*.github.com", "lfs.github.com", "api.github.com"],
                     [], [], ["."], [], []),
    "restrict_directories": ("none", [], [], ["~/.ssh"], [".", "src", "test"],
                             [".env", "secrets"], []),
    "workspace_only": ("none", [], [], ["/Users"], ["."], [], ["filesystem.allowRead"]),
    "search_depth": ("none", [], [], [], ["."], [], ["mandatoryDenySearchDepth"]),
}


def test_sandbox_runtime_readme_examples(hutch, tmp_path):
    examples = srt_examples()
    assert set(examples) == set(SRT_EXPECTED)
    home = hutch.env["HOME"]

    def where(path):
        if path.startswith("~/"):
            return f"{home}/{path[2:]}"
        if path.startswith("/"):
            return path
        return str(tmp_path) if path == "." else f"{tmp_path}/{path}"

    for name, text in examples.items():
        cfg = tmp_path / f"{name}.json"
        cfg.write_text(text)
        proc = hutch.run("config", "check", cfg.name, check=0, cwd=tmp_path)
        doc = json.loads(proc.stdout)["sandbox"]
        mode, allowed, denied, deny_read, allow_write, deny_write, warned = SRT_EXPECTED[name]
        net, fs = doc["network"], doc["filesystem"]
        assert (net["mode"], net["allowedDomains"], net["deniedDomains"]) == \
            (mode, allowed, denied), name
        assert fs["denyRead"] == [where(p) for p in deny_read], name
        assert fs["allowWrite"] == [where(p) for p in allow_write], name
        assert fs["denyWrite"] == [where(p) for p in deny_write], name
        lines = proc.stderr.decode().splitlines()
        assert lines == [f"hutch: warning: {cfg.name}: {k} is ignored ({why})"
                         for k, why in zip(warned, [l.split("(", 1)[1][:-1] for l in lines])], \
            (name, lines)


def test_sandbox_runtime_restrict_directories_in_a_run(hutch, tmp_path):
    """The README's "restrict to specific directories" recipe, enforced."""
    work = tmp_path / "work"
    home = tmp_path / "home"
    for d in (work / "src", work / "test", work / "secrets", home / ".ssh"):
        d.mkdir(parents=True)
    for d in (work, work / "src", work / "test", work / "secrets"):
        d.chmod(0o777)  # as root, the sandbox runs as nobody
    (work / ".env").write_text("TOKEN=1\n")
    (work / ".env").chmod(0o666)
    hutch.env["HOME"] = str(home)
    cfg = tmp_path / "srt.json"
    cfg.write_text(srt_examples()["restrict_directories"])
    proc = hutch.run("run", "--json", "--config", str(cfg), "--", "sh", "-c",
                     "echo a > src/a && echo ok-src; echo b >> .env 2>/dev/null || echo no-env; "
                     "echo c > secrets/c 2>/dev/null || echo no-secrets", cwd=work)
    result = json.loads(proc.stdout)
    assert result["stdout"] == "ok-src\nno-env\nno-secrets\n", result
    assert (work / ".env").read_text() == "TOKEN=1\n"
    assert (work / "src" / "a").read_text() == "a\n"
