"""The skill runner's shape (one image per skill, one container per call):

    sandbox = SkillSandbox(enable_sandbox=True)          # skills in ./skills
    result = await sandbox.execute_skill(
        skill_name="telegram", action="send_message",
        args={"text": "Hello!", "chat_id": "123"},
        sandbox_config={"cpu_limit": 0.5, "memory_limit": "256m", "network_mode": "bridge"})
    result["status"], result["output"]

With the sandbox on, a call is `hutch skill run SKILLS_DIR/NAME ACTION --args
JSON --config SANDBOX_CONFIG --json`: the image is built when the skill's
files changed, the container runs as uid 1000 without network unless
network_mode says so, and is removed afterwards. sandbox_config is handed to
hutch as a config file in the skill runner's own keys (docs/config.md, "A
skill runner's sandbox_config"), so every key hutch knows is honoured and
one it does not know is refused, never dropped.

enable_sandbox=False does what that harness does when its sandbox is off:
it runs the skill on this machine, unisolated — through hutch's host
backend, which prints its warning — with the command its Dockerfile would
run (ENTRYPOINT and CMD in JSON form, then ACTION and the JSON arguments),
in the skill's directory, SKILL_ACTION and SKILL_ARGS in the environment
and the arguments on stdin. Nothing is confined then: use it only for
skills you trust, as with the harness.
"""
from __future__ import annotations

import asyncio
import json
import os
import pathlib
import re
import subprocess
import tempfile
from collections.abc import Mapping
from typing import Any

from ._errors import HutchError
from ._options import child_env, find_hutch
from ._process import run_async

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _error(message: str, **extra: Any) -> dict[str, Any]:
    return {"status": "error", "output": None, "error": message, **extra}


def _dockerfile_command(dockerfile: pathlib.Path) -> list[str]:
    """ENTRYPOINT + CMD of the Dockerfile's last stage, in JSON form only."""
    entry: list[str] | None = None
    cmd: list[str] | None = None
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if not words:
            continue
        op = words[0].upper()
        if op == "FROM":
            entry = cmd = None
        if op not in ("CMD", "ENTRYPOINT"):
            continue
        rest = words[1].strip() if len(words) > 1 else ""
        try:
            value = json.loads(rest)
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise ValueError
        except ValueError:
            raise HutchError(f"{dockerfile}: {op} {rest} is in shell form; with enable_sandbox=False "
                             f"the skill runs on the host, which needs the JSON form "
                             f'({op} ["program", "arg"])') from None
        if op == "CMD":
            cmd = value
        else:
            entry = value
    return (entry or []) + (cmd or [])


class SkillSandbox:
    """Runs skills: directories with a Dockerfile, skills_dir/skill_name."""

    def __init__(self, enable_sandbox: bool = True, *, skills_dir: str | os.PathLike = "./skills",
                 hutch: str | os.PathLike | None = None, state_dir: str | os.PathLike | None = None,
                 timeout: float | None = None):
        self.enable_sandbox = enable_sandbox
        self.skills_dir = pathlib.Path(skills_dir)
        self.hutch = find_hutch(hutch)
        self.timeout = timeout  # seconds; None: hutch's default
        self._env = child_env(state_dir)

    def skill_dir(self, skill_name: str) -> pathlib.Path:
        """skills_dir/skill_name; a name is one path component (a model or
        a user cannot reach another directory through it)."""
        if not isinstance(skill_name, str) or not _NAME.match(skill_name) or skill_name.startswith(".."):
            raise ValueError(f"bad skill name {skill_name!r}: use letters, digits, '.', '_' and '-', "
                             "starting with a letter or digit")
        d = self.skills_dir / skill_name
        if not (d / "Dockerfile").is_file():
            raise ValueError(f"no skill {skill_name!r}: {d}/Dockerfile does not exist")
        return d

    async def execute_skill(self, skill_name: str, action: str, args: Mapping[str, Any] | None = None,
                            sandbox_config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Runs ACTION of the skill and returns {'status', 'output', 'error', ...}:
        status "ok" or "error" (or the skill's own status, when it answers
        with a JSON object that has one); output its stdout, parsed when it
        is JSON; error None or why it failed. With the sandbox on, the
        fields of hutch's run result (exit_code, timed_out, oom_killed,
        duration_ms...) come too. When hutch cannot run the skill at all
        (no Docker engine, a bad sandbox_config), status is "error" and
        error is hutch's one-line reason, with exit_code 125."""
        directory = self.skill_dir(skill_name)
        if not isinstance(action, str) or not action or "\0" in action:
            raise ValueError("action is a non-empty string")
        args_json = json.dumps(dict(args or {}))
        if self.enable_sandbox:
            return await self._sandboxed(directory, action, args_json, sandbox_config)
        return await self._on_host(directory, action, args_json)

    async def _sandboxed(self, directory: pathlib.Path, action: str, args_json: str,
                         sandbox_config: Mapping[str, Any] | None) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="hutch-skill-") as tmp:
            argv = [self.hutch, "skill", "run", str(directory), action, "--args", args_json, "--json"]
            if sandbox_config:
                conf = pathlib.Path(tmp) / "sandbox_config.json"
                conf.write_text(json.dumps(dict(sandbox_config)))
                argv += ["--config", str(conf)]
            if self.timeout is not None:
                argv += ["--timeout", str(self.timeout)]
            proc = await asyncio.create_subprocess_exec(
                *argv, env=self._env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE)
            try:
                out, err = await proc.communicate()
            except BaseException:
                if proc.returncode is None:
                    proc.terminate()  # hutch removes the container
                await asyncio.shield(proc.wait())
                raise
        text = out.strip()
        if text:
            try:
                return json.loads(text)
            except ValueError:
                pass
        lines = [l for l in err.decode("utf-8", "replace").splitlines() if l.strip()]
        return _error(lines[-1] if lines else f"hutch exited with status {proc.returncode}",
                      exit_code=proc.returncode)

    async def _on_host(self, directory: pathlib.Path, action: str, args_json: str) -> dict[str, Any]:
        base = _dockerfile_command(directory / "Dockerfile")
        argv = [*base, action, args_json] if base else [action]
        policy: dict[str, Any] = {"backend": "host", "workdir": str(directory.resolve()),
                                  "env": {"SKILL_ACTION": action, "SKILL_ARGS": args_json}}
        if self.timeout is not None:
            policy["timeout"] = self.timeout
        from ._options import flags
        try:
            r = await run_async(self.hutch, ["run", *flags(policy)], ["--", *argv], env=self._env,
                                input=args_json)
        except HutchError as e:
            return _error(e.message, exit_code=125)
        output: Any = r.stdout or ""
        try:
            output = json.loads(output)
        except ValueError:
            pass
        if r.exit_code == 0 and r.error is None:
            if isinstance(output, dict) and "status" in output:
                return {"error": None, **output}
            return {"status": "ok", "output": output, "error": None, "exit_code": 0}
        why = r.error or (r.stderr or "").strip() or (
            "timed out" if r.timed_out else f"exited with status {r.exit_code}")
        return {"status": "error", "output": output, "error": why, "exit_code": r.exit_code}
