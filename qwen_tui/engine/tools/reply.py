"""The calls of one reply, for an engine that writes the reply's text itself (``LocalEngine``):
the prompt a forced call opens, the answer with its calls taken out as it streams, the moment a
named tool's call is written (the reply ends there), and what the reply's stats say of them."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ..types import ChatMessage, ReplyStats, ToolCall, ToolChoice, ToolSpec
from .stream import ToolCallFilter
from .template import plan_tools


class ReplyCalls:
    def __init__(
        self,
        tools: Sequence[ToolSpec],
        choice: ToolChoice,
        form: str,
        continue_reply: bool = False,
    ) -> None:
        """``form``: how the model's template writes calls ("json", "xml", "": none)."""
        self.plan = plan_tools(tools, choice, form, continue_reply)
        self.written = threading.Event()  # set when a named tool's call is whole
        self._filter = ToolCallFilter(self.plan.tools) if self.plan.active else None
        if self._filter is not None:
            self._filter.push(self.plan.prefill)  # held: the start of a call

    def prompt(self, messages: list[ChatMessage]) -> list[ChatMessage]:
        """The conversation, with a forced call's opening as the reply to continue."""
        if not self.plan.prefill:
            return messages
        return [*messages, ChatMessage("assistant", self.plan.prefill)]

    def answer(self, text: str) -> str:
        """What of the answer's ``text`` can be shown now."""
        if self._filter is None:
            return text
        shown = self._filter.push(text)
        if self.plan.one_call and self._filter.call_written():
            self.written.set()
        return shown

    def flush(self) -> str:
        """The end of the reply: what was held back and is not a call."""
        return self._filter.flush() if self._filter is not None else ""

    def finish(self, stats: ReplyStats) -> tuple[ToolCall, ...]:
        """The well-formed calls; ``stats`` gets the badly written ones' count, and a reply
        that made calls ends with "tool_calls" (unless it was stopped)."""
        if self.written.is_set() and stats.finish_reason == "cancelled":
            stats.finish_reason = "stop"  # ended by us, on the call
        if self._filter is None:
            return ()
        stats.bad_tool_calls = self._filter.bad
        calls = tuple(self._filter.calls)
        if calls and stats.finish_reason != "cancelled":
            stats.finish_reason = "tool_calls"
        return calls
