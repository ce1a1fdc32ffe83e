"""Typed results: the JSON hutch prints, as dataclasses. Every one keeps the
whole object in `raw`, so fields a newer hutch adds are not lost."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunResult:
    """The result of `hutch run --json` / `hutch exec --json` (docs/result.md).
    stdout and stderr are None when the run streamed them (on_output or
    async iteration) instead of capturing them."""
    exit_code: int
    signal: int | None
    timed_out: bool
    oom_killed: bool
    stdout: str | None
    stderr: str | None
    stdout_truncated: bool
    stderr_truncated: bool
    stdout_bytes: int
    stderr_bytes: int
    duration_ms: float
    backend: str
    isolated: bool
    degraded: bool
    error: str | None
    limits_via: str | None = None
    degraded_reason: str | None = None
    unenforced: list[str] | None = None
    network_denied: list[str] | None = None
    cancelled: bool = False  # the SDK cancelled it (SIGTERM to hutch)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """The command ran and exited with status 0."""
        return self.exit_code == 0 and self.error is None

    @classmethod
    def from_json(cls, obj: dict[str, Any], *, cancelled: bool = False) -> "RunResult":
        return cls(
            exit_code=int(obj["exit_code"]), signal=obj.get("signal"),
            timed_out=bool(obj.get("timed_out")), oom_killed=bool(obj.get("oom_killed")),
            stdout=obj.get("stdout"), stderr=obj.get("stderr"),
            stdout_truncated=bool(obj.get("stdout_truncated")),
            stderr_truncated=bool(obj.get("stderr_truncated")),
            stdout_bytes=int(obj.get("stdout_bytes") or 0),
            stderr_bytes=int(obj.get("stderr_bytes") or 0),
            duration_ms=float(obj.get("duration_ms") or 0.0),
            backend=obj.get("backend", ""), isolated=bool(obj.get("isolated")),
            degraded=bool(obj.get("degraded")), error=obj.get("error"),
            limits_via=obj.get("limits_via"), degraded_reason=obj.get("degraded_reason"),
            unenforced=obj.get("unenforced"), network_denied=obj.get("network_denied"),
            cancelled=cancelled, raw=obj)


@dataclass
class OutputChunk:
    """Output of a streaming run as the command wrote it."""
    stream: str  # "stdout" or "stderr"
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


@dataclass
class ToolResult:
    """A tool's result object (docs/tools.md): {"ok": true, "text": ...} or
    {"ok": false, "error": ...} plus the tool's own fields, which are in
    `data` and readable as result["exit_code"]."""
    ok: bool
    text: str | None
    error: str | None
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def model_text(self) -> str:
        """What a model reads back: the text, or the error of a failed call."""
        return (self.text if self.ok else self.error) or ""

    @classmethod
    def from_call_result(cls, result: dict[str, Any]) -> "ToolResult":
        data = result.get("structuredContent")
        if not isinstance(data, dict):  # only text content: build the object from it
            text = "".join(c.get("text", "") for c in result.get("content", [])
                           if c.get("type") == "text")
            data = {"ok": False, "error": text} if result.get("isError") else {"ok": True, "text": text}
        return cls(ok=bool(data.get("ok")), text=data.get("text"), error=data.get("error"), data=data)


@dataclass
class SessionStatus:
    """`hutch session status KEY --json` (docs/sessions.md)."""
    key: str
    state: str
    backend: str
    workspace: str | None
    detail: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "SessionStatus":
        return cls(key=obj.get("key", ""), state=obj.get("state", ""), backend=obj.get("backend", ""),
                   workspace=obj.get("workspace"), detail=obj.get("detail"), raw=obj)


@dataclass
class SessionStats:
    """`hutch session stats KEY --json`: what runs in the sandbox now."""
    key: str
    pids: int
    memory_bytes: int
    cpu_seconds: float
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "SessionStats":
        return cls(key=obj.get("key", ""), pids=int(obj.get("pids") or 0),
                   memory_bytes=int(obj.get("memory_bytes") or 0),
                   cpu_seconds=float(obj.get("cpu_seconds") or 0.0), raw=obj)
