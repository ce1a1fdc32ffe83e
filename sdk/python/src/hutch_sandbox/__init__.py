"""hutch_sandbox: run AI agents' tool calls and commands in hutch sandboxes
from Python (standard library only). Talks to the `hutch` binary (hutch=
argument, else $HUTCH_BIN, else hutch on PATH) through its CLI's JSON and
`hutch mcp`. See docs/sdk.md, section Python."""
from ._errors import Cancelled, HutchError, ProtocolError
from ._options import PER_RUN_OPTIONS, POLICY_FLAGS, find_hutch, flags
from ._process import RunStream
from ._results import OutputChunk, RunResult, SessionStats, SessionStatus, ToolResult
from .session import AsyncSession, Session, list_sessions, run, run_async, stream
from .skills import SkillSandbox
from .tools import ToolDefinition, tools, tools_async

__version__ = "0.1.0"

__all__ = [
    "AsyncSession", "Cancelled", "HutchError", "OutputChunk", "PER_RUN_OPTIONS", "POLICY_FLAGS",
    "ProtocolError", "RunResult", "RunStream", "Session", "SessionStats", "SessionStatus",
    "SkillSandbox", "ToolDefinition", "ToolResult", "find_hutch", "flags", "list_sessions", "run",
    "run_async", "stream", "tools", "tools_async",
]
