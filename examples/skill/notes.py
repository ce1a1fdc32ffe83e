"""A small skill: python3 -m notes ACTION ARGS_JSON (hutch skill run passes
ACTION and the JSON of the arguments; they are also in SKILL_ACTION,
SKILL_ARGS and on stdin). It answers with one JSON object."""
import json
import os
import socket
import sys

action, args = sys.argv[1], json.loads(sys.argv[2])
if action == "summarize":
    words = args["text"].split()
    print(json.dumps({"status": "success",
                      "output": {"words": len(words), "first": words[0] if words else None},
                      "uid": os.getuid()}))
elif action == "whoami":
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=2).close()
        network = "reachable"
    except OSError as e:
        network = f"unreachable ({e.__class__.__name__})"
    print(json.dumps({"uid": os.getuid(), "cwd": os.getcwd(), "network": network}))
else:
    print(f"unknown action {action!r}: try summarize or whoami", file=sys.stderr)
    sys.exit(2)
