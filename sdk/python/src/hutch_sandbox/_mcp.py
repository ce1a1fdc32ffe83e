"""Clients of `hutch mcp` over stdio (docs/mcp.md): one long-lived child per
session, newline-delimited JSON-RPC, requests multiplexed by id. A tool
call is one request line and one response line: no process start per call.

Cancelling a call sends notifications/cancelled {requestId}: hutch kills the
call's processes and sends no response.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from ._errors import Cancelled, HutchError, ProtocolError

PROTOCOL_VERSION = "2025-11-25"
CLIENT_INFO = {"name": "hutch-sandbox-python", "version": "0.1.0"}
MAX_LINE = 32 << 20  # hutch sends at most 16 MiB per message; JSON escapes stay below this


def _encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _initialize_params() -> dict[str, Any]:
    return {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO}


def _exit_message(argv: Sequence[str], rc: int | None, stderr: Sequence[str]) -> str:
    lines = [l for l in stderr if l.strip()]
    if lines:
        return lines[-1]
    return f"{argv[0]} mcp exited (status {rc}) without answering"


def _unwrap(message: dict[str, Any]) -> Any:
    if "error" in message:
        err = message["error"] or {}
        raise ProtocolError(str(err.get("message", "error")), code=int(err.get("code", 0)))
    return message.get("result")


class _ClientState:
    """What both clients keep: the command, the child, the calls waiting for
    an answer (by id), the last lines hutch wrote on stderr, and why the
    child died when it did."""

    def __init__(self, argv: Sequence[str], env: dict | None, forward_stderr: bool):
        self._argv = list(argv)
        self._env = env
        self._forward = forward_stderr
        self._proc: Any = None
        self._pending: dict[int, Any] = {}
        self._next_id = 0
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._dead: str | None = None
        self._started = False
        self.server_info: dict[str, Any] = {}
        self.messages: collections.deque[dict] = collections.deque(maxlen=100)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _response_in(self, line: bytes) -> dict | None:
        """A line from hutch: the response to one of our calls, or None for
        anything else (noise, a notification kept in messages, or a request
        of hutch's, such as elicitation, refused: we declared no capability)."""
        try:
            message = json.loads(line)
        except ValueError:
            return None
        if not isinstance(message, dict):
            return None
        if "method" in message:
            if "id" in message:
                self._send({"jsonrpc": "2.0", "id": message["id"],
                            "error": {"code": -32601, "message": "not supported by this client"}})
            else:
                self.messages.append(message)
            return None
        return message


class McpClient(_ClientState):
    """A synchronous client; thread-safe (calls from several threads run at
    once in hutch). A reader thread hands responses to the waiting callers."""

    def __init__(self, argv: Sequence[str], env: dict | None, *, forward_stderr: bool = True):
        super().__init__(argv, env, forward_stderr)
        self._start_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _ensure_started(self) -> None:
        if self._started:
            if self._dead:
                raise HutchError(self._dead)
            return
        with self._start_lock:
            if self._started:
                return
            if self._proc is not None:  # a start that failed: clean it up first
                self.close()
            try:
                proc = subprocess.Popen(self._argv, env=self._env, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            except OSError as e:
                raise HutchError(f"cannot start {self._argv[0]}: {e.strerror} "
                                 "(set HUTCH_BIN or pass hutch=)") from None
            self._proc = proc
            self._threads = [threading.Thread(target=self._read_stderr, daemon=True,
                                              name="hutch-mcp-stderr"),
                             threading.Thread(target=self._read_stdout, daemon=True,
                                              name="hutch-mcp-reader")]
            for t in self._threads:
                t.start()
            self.server_info = self._request("initialize", _initialize_params(), None, None) or {}
            self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            self._started = True

    def _read_stderr(self) -> None:
        for raw in self._proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self._stderr.append(line)
            if self._forward:
                print(line, file=sys.stderr, flush=True)

    def _read_stdout(self) -> None:
        for line in self._proc.stdout:
            message = self._response_in(line)
            if message is None:
                continue
            with self._lock:
                fut = self._pending.pop(message.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(message)
        # End of stdout: hutch exited. Fail every waiting call with its reason.
        rc = self._proc.wait()
        self._threads[0].join(timeout=2)
        self._dead = _exit_message(self._argv, rc, self._stderr)
        with self._lock:
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(HutchError(self._dead, exit_code=rc))

    def _send(self, message: dict[str, Any]) -> None:
        data = _encode(message)
        with self._write_lock:
            try:
                self._proc.stdin.write(data)
                self._proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass  # the reader reports why hutch is gone

    def _request(self, method: str, params: dict | None, cancel: threading.Event | None,
                 timeout: float | None) -> Any:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._dead:
                raise HutchError(self._dead)
            self._next_id += 1
            rid = self._next_id
            self._pending[rid] = fut
        message = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)
        if cancel is None and timeout is None:
            return _unwrap(fut.result())
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 0.05 if cancel is not None else None
            if deadline is not None:
                left = max(0.0, deadline - time.monotonic())
                wait = left if wait is None else min(wait, left)
            try:
                return _unwrap(fut.result(timeout=wait))
            except concurrent.futures.TimeoutError:
                pass
            timed_out = deadline is not None and time.monotonic() >= deadline
            if timed_out or (cancel is not None and cancel.is_set()):
                with self._lock:
                    gone = self._pending.pop(rid, None)
                if gone is None and fut.done():  # answered meanwhile
                    return _unwrap(fut.result())
                self._send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                            "params": {"requestId": rid, "reason": "cancelled by the caller"}})
                why = f"timed out after {timeout} s" if timed_out else "cancelled"
                raise Cancelled(f"{method} {why}: hutch killed the call's processes")

    def request(self, method: str, params: dict | None = None, *,
                cancel: threading.Event | None = None, timeout: float | None = None) -> Any:
        self._ensure_started()
        return self._request(method, params, cancel, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Ends stdin: hutch answers the calls still running, then exits."""
        proc = self._proc
        if proc is None:
            return
        try:
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()  # hutch cancels running calls on SIGTERM
            proc.wait()
        for t in self._threads:
            t.join(timeout=2)
        proc.stdout.close()
        proc.stderr.close()
        self._proc = None
        self._dead = None
        self._started = False


class AsyncMcpClient(_ClientState):
    """The asyncio client: bound to the event loop it is first used on.
    Cancelling the task of a call cancels the call in hutch."""

    def __init__(self, argv: Sequence[str], env: dict | None, *, forward_stderr: bool = True):
        super().__init__(argv, env, forward_stderr)
        self._start_lock: asyncio.Lock | None = None
        self._tasks: list[asyncio.Task] = []

    async def _ensure_started(self) -> None:
        if self._started:
            if self._dead:
                raise HutchError(self._dead)
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            if self._proc is not None:  # a start that failed: clean it up first
                await self.close()
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *self._argv, env=self._env, limit=MAX_LINE, stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            except OSError as e:
                raise HutchError(f"cannot start {self._argv[0]}: {e.strerror} "
                                 "(set HUTCH_BIN or pass hutch=)") from None
            err_task = asyncio.create_task(self._read_stderr())
            self._tasks = [err_task, asyncio.create_task(self._read_stdout(err_task))]
            self.server_info = await self._request("initialize", _initialize_params()) or {}
            self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            self._started = True

    async def _read_stderr(self) -> None:
        async for raw in self._proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self._stderr.append(line)
            if self._forward:
                print(line, file=sys.stderr, flush=True)

    async def _read_stdout(self, err_task: asyncio.Task) -> None:
        while True:
            line = await self._proc.stdout.readline()
            if not line:
                break
            message = self._response_in(line)
            if message is None:
                continue
            fut = self._pending.pop(message.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(message)
        rc = await self._proc.wait()
        try:
            await asyncio.wait_for(asyncio.shield(err_task), 2)
        except TimeoutError:
            pass
        self._dead = _exit_message(self._argv, rc, self._stderr)
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(HutchError(self._dead, exit_code=rc))

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self._proc.stdin.write(_encode(message))
        except (BrokenPipeError, ConnectionResetError, RuntimeError):
            pass  # the reader reports why hutch is gone

    async def _request(self, method: str, params: dict | None) -> Any:
        if self._dead:
            raise HutchError(self._dead)
        self._next_id += 1
        rid = self._next_id
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        message = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)
        try:
            await self._proc.stdin.drain()
            return _unwrap(await fut)
        except asyncio.CancelledError:
            if self._pending.pop(rid, None) is not None:
                self._send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                            "params": {"requestId": rid, "reason": "the task was cancelled"}})
            raise
        except (BrokenPipeError, ConnectionResetError):
            self._pending.pop(rid, None)
            raise HutchError(self._dead or "hutch mcp is gone") from None

    async def request(self, method: str, params: dict | None = None) -> Any:
        await self._ensure_started()
        return await self._request(method, params)

    async def close(self, timeout: float = 10.0) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            proc.stdin.close()
        except (BrokenPipeError, OSError, RuntimeError):
            pass
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), timeout)
        except TimeoutError:
            proc.terminate()
            await proc.wait()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
        self._proc = None
        self._tasks = []
        self._dead = None
        self._started = False
