#!/usr/bin/env python3
"""A minimal agent tool loop: the calls a model would make, scripted, run
through a hutch session with the five tools as agent tool definitions. Swap
SCRIPT for your model: hand it [t.to_openai() for t in tools] (or
to_anthropic()), run each tool call it asks for with execute(), and give it
back the result's model_text.

    HUTCH_BIN=build/hutch python3 examples/agent_loop.py [SESSION_KEY]
"""
import json
import pathlib
import sys

try:
    import hutch_sandbox
except ImportError:  # run from the checkout without installing
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "sdk" / "python" / "src"))
    import hutch_sandbox

# What the model "asks for", in the order it would.
SCRIPT = [
    ("write", {"path": "hello.py", "content": "print('hello from the sandbox')\n"}),
    ("bash", {"command": "python3 hello.py"}),
    ("edit", {"path": "hello.py", "oldText": "hello from", "newText": "goodbye from"}),
    ("bash", {"command": "python3 hello.py && ls"}),
    ("read", {"path": "/etc/shadow"}),  # refused: outside the sandbox's roots
    ("bash", {"command": "sleep 0.2; echo background done", "background": True}),
    ("bash", {"command": "sleep 1"}),
    ("process", {"action": "poll", "id": "p1"}),
]


def main() -> int:
    key = sys.argv[1] if len(sys.argv) > 1 else "agent-loop-example"
    with hutch_sandbox.Session(key, remove_on_close=True) as session:
        tools = {t.name: t for t in hutch_sandbox.tools(session)}
        print("tools:", ", ".join(tools))
        for name, args in SCRIPT:
            result = tools[name].execute(args)
            print(f"> {name} {json.dumps(args)}")
            print(f"  ok={result.ok}: {result.model_text.strip()}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
