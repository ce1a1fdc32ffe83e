"""Runs the examples of README.md and docs/*.md, so the docs cannot rot.

Runnable examples are fenced blocks with the info string `console`:
    $ command            a command, run by bash (a line ending in \\ or a
                         heredoc continues it)
    expected output      compared line by line; `...` alone matches any lines,
                         `...` inside a line matches any text
Every block runs in a fresh directory with `hutch` on PATH and no user config.
"""
import os
import pathlib
import re
import subprocess

import pytest

from conftest import HUTCH, REPO
from helpers import build_library_program

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def console_blocks():
    for doc in DOCS:
        lines = doc.read_text().splitlines()
        i = 0
        while i < len(lines):
            if lines[i].strip() == "```console":
                start = i + 1
                end = start
                while end < len(lines) and lines[end].strip() != "```":
                    end += 1
                yield pytest.param(lines[start:end], id=f"{doc.name}:{start}")
                i = end
            i += 1


def parse(block):
    """[(command, [expected lines])]"""
    steps = []
    i = 0
    while i < len(block):
        line = block[i]
        assert line.startswith("$ "), f"expected a '$ command' line, got {line!r}"
        command = line[2:]
        i += 1
        heredoc = re.search(r"<<-?'?(\w+)'?", command)
        while command.endswith("\\") and i < len(block):
            command += "\n" + block[i]
            i += 1
        if heredoc:
            terminator = heredoc.group(1)
            while i < len(block):
                command += "\n" + block[i]
                i += 1
                if block[i - 1] == terminator:
                    break
        expected = []
        while i < len(block) and not block[i].startswith("$ "):
            expected.append(block[i])
            i += 1
        steps.append((command, expected))
    return steps


def matches(expected, actual):
    pattern = ""
    for line in expected:
        if line == "...":
            pattern += r"(?:.*\n)*?"
        else:
            pattern += ".*".join(re.escape(part) for part in line.split("...")) + r"\n"
    return re.fullmatch(pattern, actual) is not None


@pytest.mark.parametrize("block", list(console_blocks()))
def test_doc_example(block, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "hutch").symlink_to(HUTCH)
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "config").mkdir()
    env = {
        "PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "LANG": "C.UTF-8",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "HUTCH_REPO": str(REPO),
        # Sessions an example makes live in the test's own state directory.
        "HUTCH_STATE_DIR": str(tmp_path / "state"),
        "HUTCH_NO_AUTO_PRUNE": "1",
    }
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if name in os.environ:
            env[name] = os.environ[name]
    # One bash for the whole block, so $? and variables carry over; a record
    # separator byte between the steps splits the output.
    steps = parse(block)
    script = "".join(f"{command}\n__rc=$?; printf '\\036'; (exit $__rc)\n"
                     for command, _ in steps)
    proc = subprocess.run(["bash", "-c", script], cwd=work, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    for line in subprocess.run([HUTCH, "session", "ls", "--json"], env=env, capture_output=True,
                               ).stdout.decode().splitlines():
        for session in __import__("json").loads(line or "[]"):
            subprocess.run([HUTCH, "session", "rm", session["key"]], env=env, capture_output=True)
    outputs = proc.stdout.decode().split("\x1e")
    for (command, expected), actual in zip(steps, outputs):
        if actual and not actual.endswith("\n"):
            actual += "\n"
        assert matches(expected, actual), (
            f"\n$ {command}\n--- expected ---\n" + "\n".join(expected) +
            f"\n--- actual ---\n{actual}")


def test_every_config_key_is_documented():
    """docs/config.md lists every key of the schema (taken from hutch itself)."""
    import json
    proc = subprocess.run([HUTCH, "config", "check", "--no-config"], capture_output=True,
                          check=True)
    doc = (REPO / "docs" / "config.md").read_text()

    def keys(obj, prefix=""):
        for k, v in obj.items():
            path = f"{prefix}{k}"
            if isinstance(v, dict) and k not in ("env",):
                yield from keys(v, path + ".")
            else:
                yield path

    missing = [k for k in keys(json.loads(proc.stdout)["sandbox"]) if f"`{k}`" not in doc]
    assert missing == []


def build_library_example(tmp_path, index, name):
    """The index-th C program of docs/library.md, built against the public
    header and libhutch of the build under test; its path."""
    text = (REPO / "docs" / "library.md").read_text()
    source = text.split("```c\n")[index].split("```", 1)[0]
    return build_library_program(source, tmp_path / name)


def session_env(tmp_path):
    return dict(os.environ, HUTCH_STATE_DIR=str(tmp_path / "state"), HUTCH_NO_AUTO_PRUNE="1")


def test_library_doc_example_compiles_and_runs(tmp_path):
    """The C program in docs/library.md, built against the public header."""
    program = build_library_example(tmp_path, 1, "example")
    proc = subprocess.run([program], capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"exit 0, 17 bytes: hello from Linux\n"


def test_library_session_example_compiles_and_runs(tmp_path):
    """The session program in docs/library.md: two calls share a sandbox."""
    program = build_library_example(tmp_path, 2, "session")
    env = session_env(tmp_path)
    proc = subprocess.run([program], capture_output=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"native 42\n", (proc.stdout, proc.stderr)
    assert not (tmp_path / "state" / "workspaces" / "lib-demo").exists()


def test_library_tool_example_compiles_and_runs(tmp_path):
    """The tool program in docs/library.md."""
    import json
    program = build_library_example(tmp_path, 3, "tools")
    env = session_env(tmp_path)
    proc = subprocess.run([program], capture_output=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True and result["exit_code"] == 0 and "hi" in result["text"], result


def test_library_lifecycle_example_compiles_and_runs(tmp_path):
    """The session lifecycle program in docs/library.md: create, stop,
    status, start and remove through the public API, and the tool policy."""
    import json
    program = build_library_example(tmp_path, 4, "life")
    env = session_env(tmp_path)
    proc = subprocess.run([program], capture_output=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert lines[0] == "bash 1, browser 0"
    status = json.loads(lines[1])
    assert status["key"] == "lib-life" and status["state"] == "stopped", status
    assert not (tmp_path / "state" / "sessions").exists() or not any(
        (tmp_path / "state" / "sessions").glob("*/record.json"))


def test_library_approval_example_compiles_and_runs(tmp_path):
    """The approval program in docs/library.md: refused without a handler,
    then the handler decides; its output is the one the page shows."""
    program = build_library_example(tmp_path, 5, "approval")
    proc = subprocess.run([program], capture_output=True, timeout=60, env=session_env(tmp_path),
                          start_new_session=True)
    assert proc.returncode == 0, proc.stderr
    text = (REPO / "docs" / "library.md").read_text()
    shown = text.split("It prints:\n\n```\n", 1)[1].split("```", 1)[0]
    assert proc.stdout.decode() == shown, (proc.stdout, shown)


def test_readme_first_command():
    """The README's first command: setup (run by CI itself before the tests,
    see scripts/test.sh) and a first sandboxed command."""
    text = (REPO / "README.md").read_text()
    first = text.split("```sh\n", 1)[1].split("```", 1)[0].strip()
    setup, command = first.split(" && ", 1)
    assert setup == "./scripts/setup.sh"
    assert command.startswith("./build/hutch run ")
    proc = subprocess.run(["bash", "-c", command.replace("./build/hutch", HUTCH, 1)],
                          cwd=REPO, capture_output=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"})
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(rb"Hello from hutch! I am \S+ in /\S*, and I can see \d+ environment "
                        rb"variables\.\n", proc.stdout), proc.stdout
