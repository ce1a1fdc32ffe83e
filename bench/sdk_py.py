#!/usr/bin/env python3
"""The Python side of bench/sdk.sh: the latency of a `read` tool call
through hutch_sandbox (one `hutch mcp` child per session), each call timed
on its own after 20 warm-up calls. Prints

    python median_ms=X p90_ms=Y runs=N

    bench/sdk_py.py --hutch BIN --session KEY --path FILE --runs N
"""
import argparse
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "sdk" / "python" / "src"))
import hutch_sandbox  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--hutch", required=True)
p.add_argument("--session", required=True)
p.add_argument("--path", required=True)
p.add_argument("--runs", type=int, default=300)
a = p.parse_args()

with hutch_sandbox.Session(a.session, hutch=a.hutch) as s:
    times = []
    for i in range(20 + a.runs):
        start = time.perf_counter()
        r = s.read(a.path)
        took = (time.perf_counter() - start) * 1000
        if not r.ok:
            sys.exit(f"sdk_py: read failed: {r.error}")
        if i >= 20:
            times.append(took)
times.sort()
p90 = times[(9 * len(times) + 9) // 10 - 1]
print(f"python median_ms={statistics.median(times):.3f} p90_ms={p90:.3f} runs={len(times)}")
