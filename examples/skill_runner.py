#!/usr/bin/env python3
"""The skill runner's call, unchanged, on hutch: examples/skill is a skill
(a directory with a Dockerfile); its image is built on first use and a
container runs each call as uid 1000, without network, and is removed.

    HUTCH_BIN=build/hutch python3 examples/skill_runner.py [SKILLS_DIR [SKILL_NAME]]
"""
import asyncio
import pathlib
import sys

try:
    from hutch_sandbox import SkillSandbox
except ImportError:  # run from the checkout without installing
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "sdk" / "python" / "src"))
    from hutch_sandbox import SkillSandbox

HERE = pathlib.Path(__file__).resolve().parent


async def main() -> None:
    skills_dir = sys.argv[1] if len(sys.argv) > 1 else HERE
    name = sys.argv[2] if len(sys.argv) > 2 else "skill"
    sandbox = SkillSandbox(enable_sandbox=True, skills_dir=skills_dir)
    result = await sandbox.execute_skill(
        skill_name=name,
        action="summarize",
        args={"text": "Hello from the skill runner"},
        sandbox_config={"cpu_limit": 0.5, "memory_limit": "256m", "network_mode": "none"},
    )
    print(result["status"], result["output"], "uid", result["uid"])
    result = await sandbox.execute_skill(name, "whoami", {}, {"memory_limit": "256m"})
    print(result["status"], result["output"])
    result = await sandbox.execute_skill(name, "fly", {})
    print(result["status"], result["error"].strip())


asyncio.run(main())
