"""What a chat's tool loop needs from whatever runs the tools (``qwen_tui.mcp.McpClient``, or
a test's script): the result of a call, the user's answer when asked to allow one, and the
runner's two methods. Nothing here knows about MCP."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol


class Approval(Enum):
    """The user's answer to "run this call?"."""

    ONCE = "once"  # run this call
    ALWAYS = "always"  # run it, and every later call of this tool in this conversation
    REFUSE = "refuse"  # do not run it; the model is told so


@dataclass(frozen=True)
class ToolResult:
    """What a call gave: ``text`` goes back to the model as the "tool" message. When ``ok`` is
    False the tool reported an error or could not be run, and ``text`` is one sentence
    saying why (never a traceback)."""

    text: str
    ok: bool = True


@dataclass(frozen=True)
class ToolOrigin:
    """Where a tool the model sees by ``name`` comes from (what an approval prompt shows)."""

    name: str  # as the model calls it: "files__read_text_file"
    server: str  # "files"
    tool: str  # as the server calls it: "read_text_file"


class ToolRunner(Protocol):
    """Runs the tools a chat offers; every method may be called from any thread."""

    def origin(self, name: str) -> ToolOrigin | None:
        """Where the tool called ``name`` comes from; None when no server offers it."""
        ...

    def call(
        self, name: str, arguments: dict[str, Any], *, cancel: threading.Event | None = None
    ) -> ToolResult:
        """Run one call and wait for it (``cancel`` ends the wait with a result saying so).
        Never raises for what the tool or its server does: that is a result with ok=False."""
        ...
