"""The five tools as agent tool definitions for a model's tool loop: name,
description and JSON Schema parameters exactly as the session's server
lists them (tools/list, after the tool policy), and an execute callable
that runs the call in the session."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ._results import ToolResult
from .session import AsyncSession, Session


@dataclass
class ToolDefinition:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON Schema 2020-12 of the arguments
    execute: Callable[[dict[str, Any]], ToolResult] | Callable[[dict[str, Any]], Awaitable[ToolResult]]
    title: str | None = None
    annotations: dict[str, Any] = field(default_factory=dict)

    def to_openai(self) -> dict[str, Any]:
        """The shape of OpenAI-style function tools."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}

    def to_anthropic(self) -> dict[str, Any]:
        """The shape of Anthropic-style tools."""
        return {"name": self.name, "description": self.description, "input_schema": self.parameters}


def _definition(t: dict[str, Any], execute: Callable) -> ToolDefinition:
    return ToolDefinition(name=t["name"], description=t.get("description", ""),
                          parameters=t.get("inputSchema", {"type": "object"}), execute=execute,
                          title=t.get("title"), annotations=t.get("annotations") or {})


def tools(session: Session) -> list[ToolDefinition]:
    """The tools of a Session; execute(args) returns a ToolResult (its
    model_text is what to hand back to the model)."""
    if isinstance(session, AsyncSession):
        raise TypeError("tools() takes a Session; for an AsyncSession use await tools_async(session)")

    def make(name: str) -> Callable[[dict[str, Any]], ToolResult]:
        return lambda args=None: session.tool(name, args or {})

    return [_definition(t, make(t["name"])) for t in session.list_tools()]


async def tools_async(session: AsyncSession) -> list[ToolDefinition]:
    """The tools of an AsyncSession; execute(args) is a coroutine."""

    def make(name: str) -> Callable[[dict[str, Any]], Awaitable[ToolResult]]:
        async def execute(args: dict[str, Any] | None = None) -> ToolResult:
            return await session.tool(name, args or {})
        return execute

    return [_definition(t, make(t["name"])) for t in await session.list_tools()]
