"""The examples (examples/agent_loop.py, examples/skill_runner.py), the
SkillSandbox on Docker and on the host, and the docs' Python examples, run
as a user runs them."""
import asyncio
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import uuid

import pytest

import hutch_sandbox as hs
from conftest import IMAGE, REPO, SDK, engine_ok

EXAMPLES = REPO / "examples"
needs_engine = pytest.mark.skipif(not engine_ok(), reason=f"no Docker engine with {IMAGE} "
                                  "(scripts/docker-up.sh, scripts/bootstrap-image.sh)")


def python(*args, **kw):
    env = dict(os.environ, PYTHONPATH=str(SDK / "src"))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          timeout=600, **kw)


@pytest.fixture
def skills_dir(tmp_path):
    """examples/skill copied under a name of this test's own; its images are
    removed after (other runs share the engine)."""
    name = f"sdkpy-{uuid.uuid4().hex[:10]}"
    shutil.copytree(EXAMPLES / "skill", tmp_path / name)
    yield tmp_path, name
    tags = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}",
                           f"hutch-skill-{name}"], capture_output=True, text=True).stdout.split()
    if tags:
        subprocess.run(["docker", "rmi", "-f", *tags], capture_output=True)


def test_agent_loop_example():
    proc = python(str(EXAMPLES / "agent_loop.py"), "loop-test")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.splitlines()[0] == "tools: bash, read, write, edit, process"
    assert "  ok=True: hello from the sandbox\n" in out
    assert "  ok=True: goodbye from the sandbox\nhello.py\n" in out
    assert re.search(r"read \{\"path\": \"/etc/shadow\"\}\n  ok=False: /etc/shadow is outside", out)
    assert out.endswith("> process {\"action\": \"poll\", \"id\": \"p1\"}\n  ok=True: background done\n[p1 exited with code 0]\n"), out
    assert hs.list_sessions() == []  # the example removes its session


@needs_engine
def test_skill_runner_example(skills_dir):
    d, name = skills_dir
    proc = python(str(EXAMPLES / "skill_runner.py"), str(d), name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "success {'words': 5, 'first': 'Hello'} uid 1000",
        "ok {'uid': 1000, 'cwd': '/app', 'network': 'unreachable (OSError)'}",
        "error unknown action 'fly': try summarize or whoami",
    ]


@needs_engine
def test_skill_sandbox_results_and_config(skills_dir):
    d, name = skills_dir

    async def main():
        sandbox = hs.SkillSandbox(enable_sandbox=True, skills_dir=d)
        ok = await sandbox.execute_skill(name, "summarize", {"text": "a b c"},
                                         {"cpu_limit": 0.5, "memory_limit": "256m", "network_mode": "none"})
        assert (ok["status"], ok["output"], ok["uid"], ok["backend"]) == ("success", {"words": 3, "first": "a"},
                                                                         1000, "docker")
        assert ok["limits_via"] == "docker" and ok["exit_code"] == 0
        failed = await sandbox.execute_skill(name, "fly", {})
        assert failed["status"] == "error" and failed["exit_code"] == 2 and "unknown action" in failed["error"]
        bad = await sandbox.execute_skill(name, "whoami", {}, {"memory_limit": "lots"})
        assert bad["status"] == "error" and bad["exit_code"] == 125 and bad["error"].startswith("hutch:")
        unknown = await sandbox.execute_skill(name, "whoami", {}, {"gpu_limit": 1})
        assert unknown["status"] == "error" and "gpu_limit" in unknown["error"]
    asyncio.run(main())


def test_skill_names_cannot_leave_the_skills_dir(tmp_path):
    (tmp_path / "skills" / "real").mkdir(parents=True)
    (tmp_path / "skills" / "real" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "Dockerfile").write_text("FROM scratch\n")
    sandbox = hs.SkillSandbox(skills_dir=tmp_path / "skills")
    for bad in ("../outside", "..", "/etc", "real/../../outside", "", ".hidden", "a\0b"):
        with pytest.raises(ValueError):
            asyncio.run(sandbox.execute_skill(bad, "x", {}))
    with pytest.raises(ValueError, match="does not exist"):
        asyncio.run(sandbox.execute_skill("missing", "x", {}))


def test_skill_without_sandbox_runs_on_the_host_with_a_warning(skills_dir, capfd):
    d, name = skills_dir

    async def main():
        sandbox = hs.SkillSandbox(enable_sandbox=False, skills_dir=d)
        r = await sandbox.execute_skill(name, "summarize", {"text": "on the host"})
        assert (r["status"], r["output"], r["uid"]) == ("success", {"words": 3, "first": "on"}, os.getuid())
        r = await sandbox.execute_skill(name, "whoami", {})
        assert r["status"] == "ok" and r["output"]["cwd"] == str(d / name)
        r = await sandbox.execute_skill(name, "fly", {})
        assert r["status"] == "error" and r["exit_code"] == 2 and "unknown action" in r["error"]
    asyncio.run(main())


def test_skill_without_sandbox_needs_the_json_form(tmp_path):
    (tmp_path / "shell").mkdir()
    (tmp_path / "shell" / "Dockerfile").write_text("FROM x\nCMD python3 -m shell\n")
    sandbox = hs.SkillSandbox(enable_sandbox=False, skills_dir=tmp_path)
    with pytest.raises(hs.HutchError, match="shell form"):
        asyncio.run(sandbox.execute_skill("shell", "go", {}))


def doc_examples():
    doc = REPO / "docs" / "sdk.md"
    text = doc.read_text()
    for m in re.finditer(r"```python\n(# example: [^\n]*\n.*?)```\n+Output:\n+```text\n(.*?)```", text, re.S):
        yield pytest.param(m.group(1), m.group(2), id=m.group(1).splitlines()[0][len("# example: "):])


@pytest.mark.parametrize("code,expected", list(doc_examples()))
def test_docs_examples(code, expected, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(code)
    proc = python(str(script), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = proc.stdout.splitlines()
    want = expected.splitlines()
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        pattern = ".*".join(re.escape(part) for part in w.split("..."))
        assert re.fullmatch(pattern, g), (g, w)


def test_there_are_docs_examples():
    assert len(list(doc_examples())) >= 2


def test_readme_example(tmp_path):
    """The README's Python example runs as written."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Use it from TypeScript or Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "readme.py").write_text(code)
    proc = python(str(tmp_path / "readme.py"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "3 notes.txt\n"
