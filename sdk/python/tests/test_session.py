"""Sessions: lifecycle, exec, the five tools over hutch mcp, cancellation,
concurrency, and the tools as agent tool definitions."""
import asyncio
import json
import os
import threading
import time
import uuid

import pytest

import hutch_sandbox as hs
from conftest import HUTCH, gone, processes_with


def marker():
    return f"{300 + uuid.uuid4().int % 10000 / 1000:.3f}"


def test_create_status_stats_exec_and_remove():
    s = hs.Session.create("life", memory="256m", pids=64)
    st = s.status()
    assert (st.key, st.state, st.backend) == ("life", "running", "native")
    assert os.path.isdir(st.workspace)
    stats = s.stats()
    assert stats.key == "life" and stats.pids >= 1 and stats.memory_bytes > 0
    r = s.exec("echo persisted > /tmp/p; cat /sys/fs/cgroup/pids.max 2>/dev/null || echo 64")
    assert r.exit_code == 0
    assert s.exec(["cat", "/tmp/p"]).stdout == "persisted\n"  # the sandbox is kept between calls
    with pytest.raises(hs.HutchError, match="already exists"):
        hs.Session.create("life")
    assert hs.Session.create("life", exist_ok=True).key == "life"
    assert [x.key for x in hs.list_sessions()] == ["life"]
    s.stop()
    assert s.status().state == "stopped"
    s.start()
    assert s.status().state == "running"
    s.remove(workspaces=True)
    assert not os.path.exists(st.workspace)
    with pytest.raises(hs.HutchError, match="no session life"):
        s.status()


def test_creation_options_are_refused_per_run():
    with pytest.raises(TypeError, match="fixed when a session is created"):
        hs.Session("x", memory="1g")
    s = hs.Session("x")
    with pytest.raises(TypeError, match="fixed when a session is created"):
        s.exec("true", net="host")


def test_tools_read_write_edit_bash_process():
    with hs.Session.create("tools", remove_on_close=True) as s:
        w = s.write("dir/notes.txt", "one\ntwo\n")
        assert w.ok and "8 bytes" in w.text
        assert s.read("dir/notes.txt").text == "one\ntwo\n"
        assert s.read("dir/notes.txt", offset=2).text.startswith("two")
        e = s.edit("dir/notes.txt", "two", "deux")
        assert e.ok and "+deux" in e["diff"]
        assert s.exec(["cat", "/workspace/dir/notes.txt"]).stdout == "one\ndeux\n"
        b = s.bash("cat dir/notes.txt; exit 7", env={"X": "1"})
        assert b.ok and b["exit_code"] == 7 and b.text.startswith("one\ndeux\n")
        missing = s.read("nope.txt")
        assert not missing.ok and "does not exist" in missing.error and missing.model_text == missing.error
        outside = s.read("../../etc/passwd")
        assert not outside.ok
        bg = s.bash("echo bg-out; sleep 0.3", background=True)
        pid = bg["id"] if "id" in bg.data else bg.text.split()[-1]
        time.sleep(1)
        polled = s.process("poll", pid)
        assert polled.ok and "bg-out" in polled.text
        assert s.process("list").ok
        with pytest.raises(hs.ProtocolError) as err:
            s.tool("browser", {})
        assert err.value.code == -32602
        bad = s.tool("bash", {"command": "id", "network": "host"})
        assert not bad.ok and "unknown argument" in bad.error
    assert hs.list_sessions() == []  # remove_on_close


def test_tool_policy_limits_the_tool_definitions(tmp_path):
    conf = tmp_path / "deny.json"
    conf.write_text(json.dumps({"sandbox": {"tools": {"deny": ["bash", "process"]}}}))
    with hs.Session.create("policy", config=conf, remove_on_close=True) as s:
        defs = hs.tools(s)
        assert [d.name for d in defs] == ["read", "write", "edit"]
        with pytest.raises(hs.ProtocolError):
            s.bash("id")


def test_tool_definitions_are_the_servers_and_execute():
    with hs.Session("defs", remove_on_close=True) as s:
        defs = hs.tools(s)
        listed = {t["name"]: t for t in s.list_tools()}
        assert [d.name for d in defs] == ["bash", "read", "write", "edit", "process"]
        for d in defs:
            assert d.parameters == listed[d.name]["inputSchema"]
            assert d.parameters["additionalProperties"] is False
            assert d.description == listed[d.name]["description"] and d.description
            assert d.to_openai()["function"]["parameters"] is d.parameters
            assert d.to_anthropic()["input_schema"] is d.parameters
        by = {d.name: d for d in defs}
        assert by["write"].execute({"path": "f", "content": "x"}).ok
        assert by["bash"].execute({"command": "cat f"}).text == "x"


def test_calls_from_threads_run_at_once():
    with hs.Session("threads", remove_on_close=True) as s:
        s.bash("true")  # started
        results = [None] * 4

        def call(i):
            results[i] = s.bash(f"sleep 1; echo {i}")
        threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - start
        assert [r.text.strip() for r in results] == ["0", "1", "2", "3"]
        assert took < 3.5, f"4 calls of 1 s took {took:.1f} s: not multiplexed"


def test_sync_cancel_and_timeout_kill_the_call():
    with hs.Session("cancel", remove_on_close=True) as s:
        m = marker()
        ev = threading.Event()
        threading.Timer(1.0, ev.set).start()
        with pytest.raises(hs.Cancelled):
            s.bash(f"sleep {m}", cancel=ev)
        assert gone(m), processes_with(m)
        m = marker()
        with pytest.raises(hs.Cancelled, match="timed out"):
            s.tool("bash", {"command": f"sleep {m}"}, timeout=1.0)
        assert gone(m), processes_with(m)
        assert s.bash("echo still fine").text == "still fine\n"


def test_exec_per_run_options_streaming_and_cancel():
    with hs.Session.create("ex", remove_on_close=True, env={"A": "session"}) as s:
        r = s.exec("echo $A $B; pwd", env={"B": "call"}, workdir="/tmp")
        assert r.stdout == "session call\n/tmp\n"  # the session's env, and this call's
        seen = []
        r = s.exec("echo one; echo two >&2", on_output=lambda st, d: seen.append((st, d)))
        assert sorted(seen) == [("stderr", b"two\n"), ("stdout", b"one\n")] and r.exit_code == 0
        m = marker()
        ev = threading.Event()
        threading.Timer(1.0, ev.set).start()
        r = s.exec(["sleep", m], cancel=ev)
        assert r.cancelled and r.signal == 15
        assert gone(m), processes_with(m)
        assert s.exec("true", timeout=1).exit_code == 0


def test_async_session():
    m1, m2 = marker(), marker()

    async def main():
        s = await hs.AsyncSession.create("async", memory="256m")
        async with s:
            assert (await s.write("a.txt", "alpha\n")).ok
            # calls at once over one server
            r = await asyncio.gather(s.read("a.txt"), s.bash("sleep 0.5; echo b"), s.bash("echo c"))
            assert [x.text for x in r] == ["alpha\n", "b\n", "c\n"]
            assert (await s.edit("a.txt", "alpha", "beta")).ok
            assert (await s.exec(["cat", "a.txt"])).stdout == "beta\n"
            assert (await s.status()).state == "running"
            assert (await s.stats()).pids >= 1
            defs = await hs.tools_async(s)
            assert (await {d.name: d for d in defs}["read"].execute({"path": "a.txt"})).text == "beta\n"
            task = asyncio.create_task(s.bash(f"sleep {m1}"))
            await asyncio.sleep(1.0)
            assert processes_with(m1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert gone(m1), processes_with(m1)
            chunks = []
            async with s.stream(f"echo go; exec sleep {m2}") as run:
                async for chunk in run:
                    chunks.append(chunk.data)
                    break  # leaving the block kills the run
            assert chunks == [b"go\n"] and run.result is None
            assert gone(m2), processes_with(m2)
            assert (await s.bash("echo ok")).text == "ok\n"
        await s.remove(workspaces=True)
        with pytest.raises(hs.HutchError):
            await s.status()
    asyncio.run(main())


def test_session_that_cannot_come_up_raises(tmp_path):
    conf = tmp_path / "bad.json"
    conf.write_text('{"sandbox": {"limits": {"memory": "nonsense"}}}')
    s = hs.Session("broken", config=conf)
    with pytest.raises(hs.HutchError) as e:
        s.bash("true")
    assert "memory" in e.value.message
    s.close()
