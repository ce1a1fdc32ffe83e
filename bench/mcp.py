#!/usr/bin/env python3
"""MCP round trips of `hutch mcp` in a warm session, over stdio:
  - tools/call read of a 1 KiB file (goal: median at most 2 ms)
  - write + edit + read of a 100 KiB file
Times are measured by this client from writing the request line to reading
the response line, so they include both pipes and the JSON on both sides.

  bench/mcp.py [CALLS] [BACKEND]      default 300, native
"""
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
HUTCH = os.environ.get("HUTCH_BIN", str(REPO / "build" / "hutch"))
calls = int(sys.argv[1]) if len(sys.argv) > 1 else 300
backend = sys.argv[2] if len(sys.argv) > 2 else "native"

state = tempfile.mkdtemp(prefix="hutch-bench-mcp-")
env = dict(os.environ, HUTCH_STATE_DIR=state, HUTCH_NO_AUTO_PRUNE="1")
subprocess.run([HUTCH, "session", "create", "bench", "--backend", backend], env=env, check=True,
               stderr=subprocess.DEVNULL)
server = subprocess.Popen([HUTCH, "mcp", "--session", "bench"], env=env, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
next_id = 0


def call(method, params=None):
    global next_id
    next_id += 1
    message = {"jsonrpc": "2.0", "id": next_id, "method": method}
    if params is not None:
        message["params"] = params
    line = (json.dumps(message) + "\n").encode()
    start = time.perf_counter()
    server.stdin.write(line)
    server.stdin.flush()
    reply = server.stdout.readline()
    elapsed = (time.perf_counter() - start) * 1000
    return json.loads(reply), elapsed


def tool(name, arguments):
    reply, ms = call("tools/call", {"name": name, "arguments": arguments})
    assert not reply["result"]["isError"], reply
    return reply["result"], ms


try:
    call("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                        "clientInfo": {"name": "bench", "version": "1"}})
    server.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    server.stdin.flush()
    tool("write", {"path": "small.txt", "content": ("x" * 63 + "\n") * 16})
    for _ in range(20):
        tool("read", {"path": "small.txt"})
    reads = [tool("read", {"path": "small.txt"})[1] for _ in range(calls)]

    big = "".join(f"line {i:06d} " + "y" * 52 + "\n" for i in range(1600))  # 100 KiB
    rounds = []
    for i in range(max(calls // 10, 10)):
        _, w = tool("write", {"path": "big.txt", "content": big})
        _, e = tool("edit", {"path": "big.txt", "oldText": "line 000800 ",
                             "newText": f"line 000800 edited {i} "})
        _, r = tool("read", {"path": "big.txt"})
        rounds.append((w, e, r))
finally:
    server.stdin.close()
    server.wait(timeout=30)
    subprocess.run([HUTCH, "session", "rm", "bench", "--workspaces"], env=env,
                   stderr=subprocess.DEVNULL)

med = statistics.median
print(f"hutch mcp, {backend} session, warm; medians over {calls} calls (ms):")
print(f"  tools/call read, 1 KiB file:   {med(reads):6.2f}  (p90 {sorted(reads)[int(len(reads) * 0.9)]:.2f}; goal <= 2)")
w, e, r = (med(x) for x in zip(*rounds))
print(f"  100 KiB file: write {w:.2f}, edit {e:.2f}, read {r:.2f}; together {w + e + r:.2f}")
