"""One-shot runs: captured, streamed, cancelled; hutch's failures as errors."""
import asyncio
import threading
import time
import uuid

import pytest

import hutch_sandbox as hs
from conftest import command_running, gone, processes_with


def marker():
    """A sleep length no other process uses: its command line finds it."""
    return f"{300 + uuid.uuid4().int % 10000 / 1000:.3f}"


def test_argv_runs_without_a_shell():
    r = hs.run(["printf", "%s|", "a b", "$HOME", "--x"])
    assert (r.exit_code, r.stdout, r.stderr, r.backend, r.isolated) == (0, "a b|$HOME|--x|", "", "native", True)
    assert r.ok and not r.cancelled and r.duration_ms > 0


def test_shell_string_exit_code_and_stderr():
    r = hs.run("echo out; echo err >&2; exit 3")
    assert (r.exit_code, r.stdout, r.stderr, r.stdout_bytes, r.signal) == (3, "out\n", "err\n", 4, None)
    assert not r.ok


def test_input_and_policy_flags_apply():
    r = hs.run("cat; echo $GREETING; id -u", input="from stdin\n", env={"GREETING": "hi"},
               output_limit="1m", net="none")
    assert r.stdout.splitlines()[:2] == ["from stdin", "hi"]
    r = hs.run(["sh", "-c", "sleep 5"], timeout=1)
    assert (r.timed_out, r.exit_code, r.signal) == (True, 124, 15)


def test_command_not_found_is_a_result():
    r = hs.run(["no-such-program-here"])
    assert r.exit_code == 127 and "not found" in r.error


def test_hutch_failure_raises_its_line():
    with pytest.raises(hs.HutchError) as e:
        hs.run(["true"], memory="lots")
    assert e.value.exit_code == 125
    assert e.value.message.startswith("hutch: --memory") and "512m" in e.value.message


def test_unknown_option_and_missing_binary():
    with pytest.raises(TypeError, match="unknown option 'memroy'"):
        hs.run(["true"], memroy="1g")
    with pytest.raises(hs.HutchError, match="cannot start"):
        hs.run(["true"], hutch="/nonexistent/hutch")


def test_streaming_callback_gets_output_as_it_is_written():
    seen = []
    start = time.monotonic()
    r = hs.run("echo first; sleep 1; echo second >&2; exit 5",
               on_output=lambda stream, data: seen.append((stream, data, time.monotonic() - start)))
    end = time.monotonic() - start
    assert [(s, d) for s, d, _ in seen] == [("stdout", b"first\n"), ("stderr", b"second\n")]
    assert end - seen[0][2] > 0.7, "the first line came only at the end"
    assert (r.exit_code, r.stdout, r.stderr, r.backend) == (5, None, None, "native")


def test_streaming_failure_raises_its_line():
    with pytest.raises(hs.HutchError) as e:
        hs.run(["true"], pids="many", on_output=lambda s, d: None)
    assert e.value.exit_code == 125 and e.value.message.startswith("hutch: --pids")


def test_async_iteration_streams_then_gives_the_result():
    async def main():
        chunks = []
        async with hs.stream("for i in 1 2 3; do echo $i; sleep 0.2; done; exit 2") as run:
            async for chunk in run:
                chunks.append((chunk.stream, chunk.text, time.monotonic()))
        return chunks, run.result, time.monotonic()
    chunks, result, end = asyncio.run(main())
    assert "".join(t for _, t, _ in chunks) == "1\n2\n3\n"
    assert end - chunks[0][2] > 0.3
    assert result.exit_code == 2 and result.stdout is None


def test_async_run_with_async_callback():
    async def main():
        got = []

        async def cb(stream, data):
            got.append(data)
        r = await hs.run_async(["echo", "hey"], on_output=cb)
        return got, r, await hs.run_async("echo plain")
    got, r, plain = asyncio.run(main())
    assert got == [b"hey\n"] and r.exit_code == 0 and plain.stdout == "plain\n"


def test_cancel_event_kills_the_run_and_its_processes():
    m = marker()
    ev = threading.Event()

    def cancel_once_it_runs():
        # the command itself, not hutch (whose arguments name it during setup)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not command_running(f"sleep {m}"):
            time.sleep(0.02)
        ev.set()
    threading.Thread(target=cancel_once_it_runs, daemon=True).start()
    start = time.monotonic()
    r = hs.run(["sleep", m], cancel=ev)
    assert time.monotonic() - start < 10
    assert r.cancelled and r.signal == 15 and r.exit_code == 143
    assert gone(m), processes_with(m)


def test_cancel_event_while_streaming():
    m = marker()
    ev = threading.Event()
    seen = []

    def cb(stream, data):
        seen.append(data)
        ev.set()
    r = hs.run(f"echo started; exec sleep {m}", on_output=cb, cancel=ev)
    assert seen == [b"started\n"] and r.cancelled and r.signal == 15
    assert gone(m), processes_with(m)


def test_task_cancellation_kills_the_run():
    m = marker()

    async def main():
        task = asyncio.create_task(hs.run_async(["sleep", m]))
        await asyncio.sleep(1.0)
        assert processes_with(m), "the run did not start"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    asyncio.run(main())
    assert gone(m), processes_with(m)


def test_task_cancellation_while_iterating():
    m = marker()

    async def main():
        async def consume():
            async with hs.stream(f"echo up; exec sleep {m}") as run:
                async for _ in run:
                    pass
        task = asyncio.create_task(consume())
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    asyncio.run(main())
    assert gone(m), processes_with(m)
