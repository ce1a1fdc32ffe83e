"""One-shot runs, and sessions: sandboxes kept between calls.

Tool calls go through one long-lived `hutch mcp --session KEY` child per
session object (started on the first call, ended by close()); runs and
execs through `hutch run|exec --json` (captured) or `--result-fd N`
(streamed); lifecycle through `hutch session ...`.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
from collections.abc import Sequence
from typing import Any

from ._errors import HutchError
from ._mcp import AsyncMcpClient, McpClient
from ._options import PER_RUN_OPTIONS, child_env, command_args, find_hutch, flags
from ._process import OutputCallback, RunStream, run_async as _run_async, run_sync
from ._results import RunResult, SessionStats, SessionStatus, ToolResult

Command = str | Sequence[str]  # a shell string (sh -c) or an argv


def run(command: Command, *, hutch: str | os.PathLike | None = None,
        state_dir: str | os.PathLike | None = None, input: bytes | str | None = None,
        on_output: OutputCallback | None = None, cancel: threading.Event | None = None,
        **policy: Any) -> RunResult:
    """Runs one command in a fresh sandbox (`hutch run`) and waits for it.

    command: an argv list (no shell) or a string for /bin/sh -c.
    policy: memory="256m", cpus=0.5, pids=64, timeout=60, net="none",
        ro=[...], rw=[...], workdir=..., env={...}, read_only_root=True,
        backend="native", image=..., and the rest of POLICY_FLAGS.
    on_output(stream, data): streams the output as it is written; the
        result's stdout and stderr are then None.
    cancel: a threading.Event; setting it kills the run (the result's
        `cancelled` is True and `signal` 15).
    Raises HutchError when hutch could not run it (exit status 125).
    """
    return run_sync(find_hutch(hutch), ["run", *flags(policy)], command_args(command),
                    env=child_env(state_dir), input=input, on_output=on_output, cancel=cancel)


async def run_async(command: Command, *, hutch: str | os.PathLike | None = None,
                    state_dir: str | os.PathLike | None = None, input: bytes | str | None = None,
                    on_output: OutputCallback | None = None, **policy: Any) -> RunResult:
    """run() for asyncio: cancelling the task kills the run. on_output may
    be a coroutine function."""
    return await _run_async(find_hutch(hutch), ["run", *flags(policy)], command_args(command),
                            env=child_env(state_dir), input=input, on_output=on_output)


def stream(command: Command, *, hutch: str | os.PathLike | None = None,
           state_dir: str | os.PathLike | None = None, input: bytes | str | None = None,
           **policy: Any) -> RunStream:
    """A one-shot run whose output is iterated as it comes:

        async with hutch_sandbox.stream(["make", "test"]) as run:
            async for chunk in run:
                print(chunk.text, end="")
        print(run.result.exit_code)
    """
    return RunStream(find_hutch(hutch), ["run", *flags(policy)], command_args(command),
                     env=child_env(state_dir), input=input)


def _cli_error(proc: subprocess.CompletedProcess) -> HutchError:
    lines = [l for l in proc.stderr.decode("utf-8", "replace").splitlines() if l.strip()]
    return HutchError(lines[-1] if lines else f"hutch exited with status {proc.returncode}",
                      exit_code=proc.returncode)


def _drop_none(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if v is not None}


class _Base:
    def __init__(self, key: str, *, hutch: str | os.PathLike | None = None,
                 state_dir: str | os.PathLike | None = None, remove_on_close: bool = False,
                 forward_stderr: bool = True, **run_options: Any):
        if not isinstance(key, str) or not key:
            raise ValueError("a session key is a non-empty string")
        self.key = key
        self.hutch = find_hutch(hutch)
        self.state_dir = state_dir
        self.remove_on_close = remove_on_close
        self._env = child_env(state_dir)
        self._forward = forward_stderr
        flags(run_options, PER_RUN_OPTIONS, "a Session")  # refuse creation-time options now
        self._run_options = run_options

    def _mcp_argv(self) -> list[str]:
        return [self.hutch, "mcp", "--session", self.key,
                *flags(self._run_options, PER_RUN_OPTIONS, "a Session")]

    def _exec_prefix(self, overrides: dict[str, Any]) -> list[str]:
        return ["exec", self.key,
                *flags({**self._run_options, **overrides}, PER_RUN_OPTIONS, "exec()")]

    @staticmethod
    def _create_argv(hutch: str, key: str, policy: dict[str, Any]) -> list[str]:
        return [hutch, "session", "create", key, *flags(policy), "--json"]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r})"


class Session(_Base):
    """A hutch session, synchronous and thread-safe.

        with Session.create("chat-42", memory="512m", remove_on_close=True) as s:
            s.write("hello.txt", "hi\\n")
            print(s.bash("cat hello.txt").text)
            print(s.exec(["ls", "-l"]).stdout)

    Session(key) opens a session by key (hutch creates it with the config
    file's policy on first use); Session.create(key, **policy) creates it
    now with that policy. Per-run options (timeout, env, workdir,
    output_limit, file_size, inherit_env, config, no_config) given here
    apply to every exec and tool call.
    """

    def __init__(self, key: str, **kw: Any):
        super().__init__(key, **kw)
        self._mcp = McpClient(self._mcp_argv(), self._env, forward_stderr=self._forward)
        self._tools: list[dict[str, Any]] | None = None

    @classmethod
    def create(cls, key: str, *, hutch: str | os.PathLike | None = None,
               state_dir: str | os.PathLike | None = None, exist_ok: bool = False,
               remove_on_close: bool = False, **policy: Any) -> "Session":
        """`hutch session create KEY [POLICY]`: makes the sandbox now with
        this policy. exist_ok=True opens an existing session of that key
        as it is instead of failing."""
        binary = find_hutch(hutch)
        env = child_env(state_dir)
        argv = cls._create_argv(binary, key, policy)
        keep = {k: policy[k] for k in ("config", "no_config") if policy.get(k) is not None}
        session = cls(key, hutch=binary, state_dir=state_dir, remove_on_close=remove_on_close, **keep)
        if exist_ok and session._cli_ok("session", "status", key, "--json"):
            return session
        proc = subprocess.run(argv, env=env, capture_output=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise _cli_error(proc)
        return session

    # -- lifecycle --------------------------------------------------------
    def _cli(self, *args: str) -> bytes:
        proc = subprocess.run([self.hutch, *args], env=self._env, capture_output=True,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise _cli_error(proc)
        return proc.stdout

    def _cli_ok(self, *args: str) -> bool:
        return subprocess.run([self.hutch, *args], env=self._env, capture_output=True,
                              stdin=subprocess.DEVNULL).returncode == 0

    def status(self) -> SessionStatus:
        return SessionStatus.from_json(json.loads(self._cli("session", "status", self.key, "--json")))

    def stats(self) -> SessionStats:
        return SessionStats.from_json(json.loads(self._cli("session", "stats", self.key, "--json")))

    def start(self) -> None:
        self._cli("session", "start", self.key)

    def stop(self) -> None:
        """Ends the sandbox's processes (the next use starts it again)."""
        self._cli("session", "stop", self.key)

    def remove(self, workspaces: bool = False) -> None:
        """Closes the tool server and removes the session (with workspaces=True
        also its workspace directory, when hutch made it)."""
        self._mcp.close()
        self._cli("session", "rm", self.key, *(["--workspaces"] if workspaces else []))

    def close(self) -> None:
        """Ends the tool server child; the session stays (unless the session
        was made with remove_on_close=True: then it is removed with its
        workspace)."""
        self._mcp.close()
        if self.remove_on_close:
            self._cli_ok("session", "rm", self.key, "--workspaces")

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- commands ---------------------------------------------------------
    def exec(self, command: Command, *, input: bytes | str | None = None,
             on_output: OutputCallback | None = None, cancel: threading.Event | None = None,
             **per_run: Any) -> RunResult:
        """`hutch exec KEY`: runs a command in the session's sandbox; as run()."""
        return run_sync(self.hutch, self._exec_prefix(per_run), command_args(command), env=self._env,
                        input=input, on_output=on_output, cancel=cancel)

    # -- tools ------------------------------------------------------------
    def list_tools(self) -> list[dict[str, Any]]:
        """The tools the session's policy offers, as tools/list gives them:
        name, title, description, inputSchema, annotations."""
        if self._tools is None:
            self._tools = self._mcp.request("tools/list")["tools"]
        return self._tools

    def tool(self, name: str, args: dict[str, Any] | None = None, *,
             cancel: threading.Event | None = None, timeout: float | None = None) -> ToolResult:
        """Calls a tool. A failed tool is a result with ok False, not an
        exception; an unknown or denied tool raises ProtocolError. Setting
        cancel, or timeout seconds passing, kills the call and raises
        Cancelled."""
        result = self._mcp.request("tools/call", {"name": name, "arguments": args or {}},
                                   cancel=cancel, timeout=timeout)
        return ToolResult.from_call_result(result)

    def bash(self, command: str, *, timeout: float | None = None, workdir: str | None = None,
             env: dict[str, str] | None = None, background: bool | None = None,
             cancel: threading.Event | None = None) -> ToolResult:
        return self.tool("bash", _drop_none({"command": command, "timeout": timeout,
                                             "workdir": workdir, "env": env,
                                             "background": background}), cancel=cancel)

    def read(self, path: str, *, offset: int | None = None, limit: int | None = None) -> ToolResult:
        return self.tool("read", _drop_none({"path": path, "offset": offset, "limit": limit}))

    def write(self, path: str, content: str) -> ToolResult:
        return self.tool("write", {"path": path, "content": content})

    def edit(self, path: str, old_text: str | None = None, new_text: str | None = None, *,
             edits: list[dict[str, str]] | None = None, dry_run: bool | None = None) -> ToolResult:
        return self.tool("edit", _drop_none({"path": path, "oldText": old_text, "newText": new_text,
                                             "edits": edits, "dryRun": dry_run}))

    def process(self, action: str, id: str | None = None, *, data: str | None = None,
                offset: int | None = None, limit: int | None = None) -> ToolResult:
        return self.tool("process", _drop_none({"action": action, "id": id, "data": data,
                                                "offset": offset, "limit": limit}))


class AsyncSession(_Base):
    """Session for asyncio: the same methods, as coroutines. Cancelling the
    task of a tool call or an exec kills it in the sandbox.

        async with await AsyncSession.create("chat-42", remove_on_close=True) as s:
            print((await s.bash("echo hi")).text)
            async with s.stream("make test") as run:
                async for chunk in run:
                    print(chunk.text, end="")
    """

    def __init__(self, key: str, **kw: Any):
        super().__init__(key, **kw)
        self._mcp = AsyncMcpClient(self._mcp_argv(), self._env, forward_stderr=self._forward)
        self._tools: list[dict[str, Any]] | None = None

    @classmethod
    async def create(cls, key: str, *, hutch: str | os.PathLike | None = None,
                     state_dir: str | os.PathLike | None = None, exist_ok: bool = False,
                     remove_on_close: bool = False, **policy: Any) -> "AsyncSession":
        """As Session.create."""
        binary = find_hutch(hutch)
        argv = cls._create_argv(binary, key, policy)
        keep = {k: policy[k] for k in ("config", "no_config") if policy.get(k) is not None}
        session = cls(key, hutch=binary, state_dir=state_dir, remove_on_close=remove_on_close, **keep)
        if exist_ok and (await session._run_cli("session", "status", key, "--json"))[0] == 0:
            return session
        rc, _, err = await session._run_cli(*argv[1:])
        if rc != 0:
            raise _cli_error(subprocess.CompletedProcess(argv, rc, b"", err))
        return session

    # -- lifecycle --------------------------------------------------------
    async def _run_cli(self, *args: str) -> tuple[int, bytes, bytes]:
        proc = await asyncio.create_subprocess_exec(
            self.hutch, *args, env=self._env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = await proc.communicate()
        except BaseException:
            if proc.returncode is None:
                proc.terminate()
            await asyncio.shield(proc.wait())
            raise
        return proc.returncode, out, err

    async def _cli(self, *args: str) -> bytes:
        rc, out, err = await self._run_cli(*args)
        if rc != 0:
            raise _cli_error(subprocess.CompletedProcess(args, rc, out, err))
        return out

    async def status(self) -> SessionStatus:
        return SessionStatus.from_json(json.loads(await self._cli("session", "status", self.key, "--json")))

    async def stats(self) -> SessionStats:
        return SessionStats.from_json(json.loads(await self._cli("session", "stats", self.key, "--json")))

    async def start(self) -> None:
        await self._cli("session", "start", self.key)

    async def stop(self) -> None:
        await self._cli("session", "stop", self.key)

    async def remove(self, workspaces: bool = False) -> None:
        await self._mcp.close()
        await self._cli("session", "rm", self.key, *(["--workspaces"] if workspaces else []))

    async def close(self) -> None:
        await self._mcp.close()
        if self.remove_on_close:
            await self._run_cli("session", "rm", self.key, "--workspaces")

    async def __aenter__(self) -> "AsyncSession":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- commands ---------------------------------------------------------
    async def exec(self, command: Command, *, input: bytes | str | None = None,
                   on_output: OutputCallback | None = None, **per_run: Any) -> RunResult:
        return await _run_async(self.hutch, self._exec_prefix(per_run), command_args(command),
                                env=self._env, input=input, on_output=on_output)

    def stream(self, command: Command, *, input: bytes | str | None = None,
               **per_run: Any) -> RunStream:
        """An exec whose output is iterated as it comes (see RunStream)."""
        return RunStream(self.hutch, self._exec_prefix(per_run), command_args(command),
                         env=self._env, input=input)

    # -- tools ------------------------------------------------------------
    async def list_tools(self) -> list[dict[str, Any]]:
        if self._tools is None:
            self._tools = (await self._mcp.request("tools/list"))["tools"]
        return self._tools

    async def tool(self, name: str, args: dict[str, Any] | None = None) -> ToolResult:
        result = await self._mcp.request("tools/call", {"name": name, "arguments": args or {}})
        return ToolResult.from_call_result(result)

    async def bash(self, command: str, *, timeout: float | None = None, workdir: str | None = None,
                   env: dict[str, str] | None = None, background: bool | None = None) -> ToolResult:
        return await self.tool("bash", _drop_none({"command": command, "timeout": timeout,
                                                   "workdir": workdir, "env": env,
                                                   "background": background}))

    async def read(self, path: str, *, offset: int | None = None, limit: int | None = None) -> ToolResult:
        return await self.tool("read", _drop_none({"path": path, "offset": offset, "limit": limit}))

    async def write(self, path: str, content: str) -> ToolResult:
        return await self.tool("write", {"path": path, "content": content})

    async def edit(self, path: str, old_text: str | None = None, new_text: str | None = None, *,
                   edits: list[dict[str, str]] | None = None, dry_run: bool | None = None) -> ToolResult:
        return await self.tool("edit", _drop_none({"path": path, "oldText": old_text, "newText": new_text,
                                                   "edits": edits, "dryRun": dry_run}))

    async def process(self, action: str, id: str | None = None, *, data: str | None = None,
                      offset: int | None = None, limit: int | None = None) -> ToolResult:
        return await self.tool("process", _drop_none({"action": action, "id": id, "data": data,
                                                      "offset": offset, "limit": limit}))


def list_sessions(*, hutch: str | os.PathLike | None = None,
                  state_dir: str | os.PathLike | None = None) -> list[SessionStatus]:
    """`hutch session ls --json`."""
    proc = subprocess.run([find_hutch(hutch), "session", "ls", "--json"], env=child_env(state_dir),
                          capture_output=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise _cli_error(proc)
    return [SessionStatus.from_json(o) for o in json.loads(proc.stdout)]
