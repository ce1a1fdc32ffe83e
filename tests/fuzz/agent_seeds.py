#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_agent (tests/fuzz/seeds/agent/): one
message of each kind, in the wire format of src/agent/proto.h."""
import pathlib
import struct

MAGIC = 0x48435448
OUT = pathlib.Path(__file__).resolve().parent / "seeds" / "agent"
SIGNED = {8, 10, 18}  # AF_SIGNAL, AF_CODE, AF_ERRNO


def field(tag, value):
    if isinstance(value, str):
        value = value.encode()
    elif isinstance(value, int):
        value = struct.pack("=q" if tag in SIGNED else "=Q", value)
    return struct.pack("=HHI", tag, 0, len(value)) + value


def message(type_, *fields):
    body = b"".join(field(t, v) for t, v in fields)
    return struct.pack("=IHHI", MAGIC, 1, type_, len(body)) + body


SEEDS = {
    "hello": message(1),
    "run": message(2, (1, "sh"), (1, "-c"), (1, "echo hi; exit 3"), (2, "PATH=/usr/bin:/bin"),
                   (2, "HOME=/workspace"), (3, "/workspace"), (4, 60000), (5, 2000),
                   (6, 1 << 20), (7, 1), (999, "a future field")),
    "signal": message(3, (8, 15)),
    "stats": message(4),
    "hello_ok": message(101, (12, 1), (9, 1), (13, "run signal stats")),
    "started": message(102, (9, 42)),
    "exited_code": message(103, (10, 0), (11, 0)),
    "exited_signal": message(103, (8, 9), (11, 1)),
    "stats_ok": message(104, (14, 3), (15, 1 << 20), (16, 12345)),
    "error": message(199, (17, 7), (18, 2), (19, "cannot run x: No such file or directory")),
    "tool": message(5, (20, "bash"), (21, '{"command": "ls"}'), (22, "/workspace"), (22, "/tmp"),
                    (23, "/workspace"), (2, "PATH=/usr/bin:/bin"), (4, 30000),
                    (27, "/tmp/hutch-output"), (24, 0)),
    "tool_write": message(5, (20, "write"), (21, '{"path": "a.txt"}'), (22, "/workspace"),
                          (24, 1)),
    "tool_result": message(105, (25, '{"ok":true,"text":"hi"}')),
    "tool_result_more": message(105, (25, '{"ok":true,'), (26, 1)),
}

if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS.items():
        (OUT / name).write_bytes(data)
