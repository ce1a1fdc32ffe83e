"""Running `hutch run|exec ...` for one RunResult, captured (--json) or
streamed (--result-fd N), synchronously or with asyncio.

Captured: hutch prints one JSON result on stdout; exit status 125 with
nothing on stdout means hutch could not do it, and its one line on stderr
is the error. Streamed: the command's output goes to hutch's stdout and
stderr as it is written, and the result (or {"error": ...}) comes as one
line on a pipe the SDK passes as descriptor N.

Cancelling sends SIGTERM to hutch, which forwards it and tears the sandbox
down; its result then reports the signal.
"""
from __future__ import annotations

import asyncio
import fcntl
import inspect
import json
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._errors import Cancelled, HutchError
from ._results import OutputChunk, RunResult

# How long output is still read after hutch exited (see run_sync).
LINGER = 0.5

OutputCallback = Callable[[str, bytes], Any]  # (stream, data); may be async for the async API


def _result_pipe() -> tuple[int, int]:
    """A pipe whose write end is above 2 (hutch refuses 0-2) and is not
    inherited by anything but the hutch child (pass_fds)."""
    r, w = os.pipe2(os.O_CLOEXEC)
    if w <= 2:
        high = fcntl.fcntl(w, fcntl.F_DUPFD_CLOEXEC, 3)
        os.close(w)
        w = high
    return r, w


def _last_line(stderr: bytes) -> str:
    lines = [l for l in stderr.decode("utf-8", "replace").splitlines() if l.strip()]
    return lines[-1] if lines else ""


def _captured_result(rc: int, stdout: bytes, stderr: bytes, cancelled: bool) -> RunResult:
    text = stdout.strip()
    if text:
        try:
            return RunResult.from_json(json.loads(text), cancelled=cancelled)
        except (ValueError, KeyError) as e:
            raise HutchError(f"hutch printed a result that is not one JSON object ({e}): "
                             f"{text[:200]!r}", exit_code=rc) from None
    if cancelled:
        raise Cancelled("the run was cancelled before hutch made a result", exit_code=rc)
    line = _last_line(stderr)
    raise HutchError(line or f"hutch exited with status {rc} without a result", exit_code=rc)


def _streamed_result(rc: int, result: bytes, stderr_tail: bytes, cancelled: bool) -> RunResult:
    text = result.strip()
    if text:
        try:
            obj = json.loads(text)
        except ValueError:
            raise HutchError(f"hutch wrote a result that is not JSON: {text[:200]!r}",
                             exit_code=rc) from None
        if obj.get("backend"):  # a result; hutch's own failure has no backend
            return RunResult.from_json(obj, cancelled=cancelled)
        error = obj.get("error")
        if error and not error.startswith("hutch: "):
            error = "hutch: " + error  # as the line on stderr says it
        raise HutchError(error or _last_line(stderr_tail) or f"hutch exited with status {rc}",
                         exit_code=rc)
    if cancelled:
        raise Cancelled("the run was cancelled before hutch made a result", exit_code=rc)
    raise HutchError(_last_line(stderr_tail) or f"hutch exited with status {rc} without a result",
                     exit_code=rc)


def _argv(hutch: str, prefix: Sequence[str], cmd: Sequence[str], mode: list[str],
          stdin: bool) -> list[str]:
    return [hutch, *prefix, *mode, *(["--stdin"] if stdin else []), *cmd]


def run_sync(hutch: str, prefix: Sequence[str], cmd: Sequence[str], *, env: dict | None,
             input: bytes | str | None = None, on_output: OutputCallback | None = None,
             cancel: threading.Event | None = None) -> RunResult:
    """Runs hutch PREFIX --json|--result-fd N [--stdin] CMD and returns its result."""
    if isinstance(input, str):
        input = input.encode()
    streaming = on_output is not None
    r = w = -1
    if streaming:
        r, w = _result_pipe()
        mode = ["--result-fd", str(w)]
    else:
        mode = ["--json"]
    try:
        proc = subprocess.Popen(
            _argv(hutch, prefix, cmd, mode, input is not None), env=env,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(w,) if streaming else ())
    except OSError as e:
        if streaming:
            os.close(r)
            os.close(w)
        raise HutchError(f"cannot start {hutch}: {e.strerror} (set HUTCH_BIN or pass hutch=)") from None
    if streaming:
        os.close(w)

    names = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr"}
    if streaming:
        names[r] = "result"
    bufs = {"stdout": bytearray(), "stderr": bytearray(), "result": bytearray()}
    sel = selectors.DefaultSelector()
    for fd, name in names.items():
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ, name)
    pending = memoryview(input) if input else None
    if input is not None:
        if pending:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, "stdin")
        else:
            proc.stdin.close()
    cancelled = False
    exited_at = 0.0
    try:
        while sel.get_map():
            for key, _ in sel.select(timeout=0.05):
                if key.data == "stdin":
                    try:
                        n = os.write(key.fd, pending[:65536])
                        pending = pending[n:]
                        done = not pending
                    except BlockingIOError:
                        done = False
                    except BrokenPipeError:
                        done = True
                    if done:
                        sel.unregister(key.fd)
                        proc.stdin.close()
                    continue
                try:
                    data = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not data:
                    sel.unregister(key.fd)
                    continue
                if streaming and key.data != "result":
                    on_output(key.data, data)
                    if key.data == "stderr":  # the tail, for hutch's own error line
                        bufs["stderr"] = (bufs["stderr"] + data)[-4096:]
                else:
                    bufs[key.data] += data
            if cancel is not None and cancel.is_set() and not cancelled:
                cancelled = True
                proc.send_signal(signal.SIGTERM)
            if proc.poll() is not None:
                # hutch has exited: what it wrote is in the pipes. A process
                # the command left behind outside its group (setsid) may
                # hold them open; stop reading soon after.
                exited_at = exited_at or time.monotonic()
                if time.monotonic() - exited_at > LINGER:
                    break
        rc = proc.wait()
    except BaseException:
        # A callback that raised, a KeyboardInterrupt: no run outlives the call.
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise
    finally:
        sel.close()
        for f in (proc.stdout, proc.stderr):
            f.close()
        if streaming:
            os.close(r)
    if streaming:
        return _streamed_result(rc, bytes(bufs["result"]), bytes(bufs["stderr"]), cancelled)
    return _captured_result(rc, bytes(bufs["stdout"]), bytes(bufs["stderr"]), cancelled)


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to hutch (it tears the sandbox down), then wait for it, even
    while the calling task is being cancelled."""
    if proc.returncode is None:
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    await asyncio.shield(proc.wait())


async def _write_input(proc: asyncio.subprocess.Process, data: bytes) -> None:
    try:
        proc.stdin.write(data)
        await proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        proc.stdin.close()


async def run_async(hutch: str, prefix: Sequence[str], cmd: Sequence[str], *, env: dict | None,
                    input: bytes | str | None = None,
                    on_output: OutputCallback | None = None) -> RunResult:
    """run_sync for asyncio; cancelling the task kills the run."""
    if on_output is not None:
        stream = RunStream(hutch, prefix, cmd, env=env, input=input)
        async with stream:
            async for chunk in stream:
                ret = on_output(chunk.stream, chunk.data)
                if inspect.isawaitable(ret):
                    await ret
        return stream.result
    if isinstance(input, str):
        input = input.encode()
    try:
        proc = await asyncio.create_subprocess_exec(
            *_argv(hutch, prefix, cmd, ["--json"], input is not None), env=env,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:
        raise HutchError(f"cannot start {hutch}: {e.strerror} (set HUTCH_BIN or pass hutch=)") from None
    try:
        out, err = await proc.communicate(input)
    except BaseException:
        await _terminate(proc)
        raise
    return _captured_result(proc.returncode, out, err, False)


class RunStream:
    """A streaming run for asyncio: iterate over its OutputChunks as the
    command writes them; once the iteration ends, `result` is the RunResult
    (stdout and stderr None: they were streamed).

        async with session.stream("make test") as run:
            async for chunk in run:
                print(chunk.stream, chunk.text, end="")
        print(run.result.exit_code)

    Cancelling the task that iterates, leaving the `async with` early, or
    aclose() kill the run (SIGTERM to hutch, which tears the sandbox down).
    """

    def __init__(self, hutch: str, prefix: Sequence[str], cmd: Sequence[str], *,
                 env: dict | None, input: bytes | str | None = None):
        self._argv = (hutch, list(prefix), list(cmd))
        self._env = env
        self._input = input.encode() if isinstance(input, str) else input
        self._proc: asyncio.subprocess.Process | None = None
        self._queue: asyncio.Queue[OutputChunk | None] = asyncio.Queue()
        self._open = 0
        self._tasks: list[asyncio.Task] = []
        self._result_reader: asyncio.StreamReader | None = None
        self._stderr_tail = b""
        self._cancelled = False
        self._linger_until = 0.0
        self.result: RunResult | None = None

    async def _start(self) -> None:
        hutch, prefix, cmd = self._argv
        loop = asyncio.get_running_loop()
        r, w = _result_pipe()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *_argv(hutch, prefix, cmd, ["--result-fd", str(w)], self._input is not None),
                env=self._env, pass_fds=(w,),
                stdin=subprocess.PIPE if self._input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as e:
            os.close(r)
            raise HutchError(f"cannot start {hutch}: {e.strerror} (set HUTCH_BIN or pass hutch=)") from None
        finally:
            os.close(w)
        self._result_reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(self._result_reader),
                                     os.fdopen(r, "rb", buffering=0))
        self._open = 2
        self._exit = asyncio.ensure_future(self._proc.wait())
        self._tasks = [asyncio.create_task(self._pump("stdout", self._proc.stdout)),
                       asyncio.create_task(self._pump("stderr", self._proc.stderr))]
        if self._input is not None:
            self._tasks.append(asyncio.create_task(_write_input(self._proc, self._input)))

    async def _pump(self, name: str, reader: asyncio.StreamReader) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if name == "stderr":
                self._stderr_tail = (self._stderr_tail + data)[-4096:]
            await self._queue.put(OutputChunk(name, data))
        await self._queue.put(None)

    def __aiter__(self) -> "RunStream":
        return self

    async def __anext__(self) -> OutputChunk:
        if self.result is not None:
            raise StopAsyncIteration
        try:
            if self._proc is None:
                await self._start()
            while self._open:
                get = asyncio.ensure_future(self._queue.get())
                try:
                    if not self._exit.done():
                        await asyncio.wait({get, self._exit}, return_when=asyncio.FIRST_COMPLETED)
                    if not get.done():
                        # hutch exited; a process left behind outside the
                        # command's group may hold the pipes open (see run_sync)
                        loop = asyncio.get_running_loop()
                        self._linger_until = self._linger_until or loop.time() + LINGER
                        await asyncio.wait({get}, timeout=max(0.0, self._linger_until - loop.time()))
                        if not get.done():
                            break
                finally:
                    if not get.done():
                        get.cancel()
                chunk = get.result()
                if chunk is not None:
                    return chunk
                self._open -= 1
            rc = await self._exit
            text = await self._result_reader.read()
        except BaseException:
            await self.aclose()
            raise
        self.result = _streamed_result(rc, text, self._stderr_tail, self._cancelled)
        raise StopAsyncIteration

    async def wait(self) -> RunResult:
        """Reads the rest of the output (dropping it) and returns the result."""
        async for _ in self:
            pass
        return self.result

    async def aclose(self) -> None:
        """Kills the run if it is still going, and waits for hutch to exit."""
        if self._proc is not None and self._proc.returncode is None:
            self._cancelled = True
            await _terminate(self._proc)
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> "RunStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
