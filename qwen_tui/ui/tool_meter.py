"""What the context meter says of a chat's tools: how many prompt tokens their schemas take,
as the loaded model counts them, and whether some are still starting or failed."""

from __future__ import annotations

from collections.abc import Sequence

from ..chat.chat_tools import ChatTools
from ..engine.types import Engine, ToolSpec
from ..errors import QwenTuiError


def tool_meter(
    tools: ChatTools, servers: Sequence[str], engine: Engine | None
) -> tuple[str, list[ToolSpec]]:
    """(the status bar's words, the tools offered now) for a chat whose ``servers`` are on;
    ("", []) when none is."""
    if not servers:
        return "", []
    specs = tools.specs(servers)
    states = [s.state if (s := tools.status(name)) is not None else "" for name in servers]
    tokens = "on"
    if engine is not None and engine.info is not None:
        try:
            tokens = f"{engine.tool_tokens(specs):,} tok"
        except QwenTuiError:  # a chat template without tool calls
            return "tools: this model cannot call them", []
    words = f"tools {tokens}"
    if any(state != "ready" and state != "failed" for state in states):
        words += " (starting)"  # or about to: opening the chat starts them
    failed = states.count("failed")
    if failed:
        words += f" · {failed} failed"
    return words, specs
