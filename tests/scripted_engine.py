"""A scripted engine for the tool loop's tests: it writes the replies a test hands it (answers
or tool calls, as the engine's Reply carries them) and keeps what each ``chat`` was given.
The MCP side of those tests is real; the tiny real engine runs the loop in
tests/core/test_tool_loop_engine.py."""

from __future__ import annotations

from qwen_tui.engine.types import Reply, ReplyStats, ToolCall


def calling(*calls: tuple[str, str]) -> Reply:
    return Reply(
        "",
        ReplyStats(finish_reason="tool_calls"),
        tool_calls=tuple(ToolCall(f"call_{i}", n, a) for i, (n, a) in enumerate(calls)),
    )


def answer(text: str) -> Reply:
    return Reply(text, ReplyStats(finish_reason="stop"))


class ScriptedEngine:
    """Gives the replies it was handed, one per ``chat``, and keeps what each ``chat`` got."""

    info = None

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.asked: list[dict] = []

    def chat(self, messages, params=None, *, on_text=None, cancel=None, cache_key=None,
             continue_reply=False, on_reasoning=None, tools=(), tool_choice=None):  # fmt: skip
        self.asked.append({"messages": list(messages), "tools": tools, "choice": tool_choice})
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if on_text is not None and reply.text:
            on_text(reply.text)
        return reply
