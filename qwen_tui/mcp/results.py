"""What a server gave, as text: a tool's result as the model reads it, and a failure as one
sentence a person reads (never a traceback; the log file has that)."""

from __future__ import annotations

import json

import mcp_types
from mcp import MCPError

from .entries import McpEntry

DEFAULT_RESULT_LIMIT = 20_000  # characters of a result the model is given


def result_text(result: mcp_types.CallToolResult, limit: int = DEFAULT_RESULT_LIMIT) -> str:
    """The result's content blocks as text, one after another; what a model cannot read (an
    image, a binary file) is named in brackets. Cut at ``limit`` characters, saying so."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, (mcp_types.ImageContent, mcp_types.AudioContent)):
            parts.append(f"[{block.type} ({block.mime_type}), not shown]")
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            if isinstance(resource, mcp_types.TextResourceContents):
                parts.append(resource.text)
            else:
                parts.append(f"[file {resource.uri} ({resource.mime_type or 'binary'}), not shown]")
        elif isinstance(block, mcp_types.ResourceLink):
            parts.append(f"[{block.name}: {block.uri}]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    text = "\n".join(parts)
    if len(text) > limit:
        text = text[:limit] + f"\n[... {len(text) - limit:,} more characters left out]"
    return text


def leaf(exc: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups: the SDK's task groups wrap the
    one that says what happened."""
    inner = getattr(exc, "exceptions", None)  # BaseExceptionGroup (Python 3.11+, or anyio's)
    while isinstance(inner, tuple) and inner and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


def describe_failure(exc: BaseException, entry: McpEntry, stderr_tail: str = "") -> str:
    """Why a server could not be started or used, as one sentence (without the full stop)."""
    exc = leaf(exc)
    said = f" (its last words: {stderr_tail})" if stderr_tail else ""
    if isinstance(exc, FileNotFoundError) and entry.command:
        return f"there is no program {entry.command!r} (is it installed and on PATH?)"
    if isinstance(exc, PermissionError) and entry.command:
        return f"{entry.command!r} may not be run (permission denied)"
    if isinstance(exc, ValueError) and "environment variable" in str(exc):
        return str(exc)  # expand()'s sentence
    if isinstance(exc, MCPError):
        if exc.code == mcp_types.CONNECTION_CLOSED:
            return "it exited before it answered" + said
        return f"it answered with an error: {exc.message}"
    if isinstance(exc, OSError) and entry.command:
        return f"{entry.command!r} could not be started: {exc.strerror or exc}"
    name = type(exc).__name__
    if entry.url and ("Connect" in name or isinstance(exc, ConnectionError)):
        return f"nothing answers at {entry.url}"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if entry.url and status is not None:
        return f"{entry.url} answered HTTP {status}"
    message = " ".join(str(exc).split())[:200]
    return f"{name}: {message}" + said if message else name + said
