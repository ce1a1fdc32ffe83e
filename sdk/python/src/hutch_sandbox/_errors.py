"""Errors of the SDK."""
from __future__ import annotations


class HutchError(Exception):
    """hutch could not do what was asked (exit status 125: a bad option, a
    bad config, a backend that cannot enforce the policy...). The message is
    hutch's own one line, which says what is wrong and what to do."""

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class ProtocolError(HutchError):
    """A tool call that could not be made at all: hutch mcp answered with a
    JSON-RPC error (an unknown or denied tool: -32602; a session that cannot
    be brought up: -32603)."""

    def __init__(self, message: str, *, code: int):
        super().__init__(message)
        self.code = code


class Cancelled(HutchError):
    """A synchronous tool call was cancelled (its threading.Event was set, or
    its timeout passed): hutch killed the call's processes. Async calls raise
    asyncio.CancelledError instead, as cancelled tasks do."""
