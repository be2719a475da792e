"""What the reply queue tells whoever shows it: plain values, sent from the queue's thread.

The Textual app turns each one into a message of the same name (``qwen_tui/ui/messages.py``);
a script or a test may just collect them.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeAlias

from ..engine.types import ReplyStats, ToolCall
from ..history import Message
from .tools import Approval, ToolOrigin


@dataclass(frozen=True)
class QueueChanged:
    """The set of conversations waiting for or getting a reply changed."""


@dataclass(frozen=True)
class ReplyStarted:
    """A reply began: its placeholder message is saved (``message_id``)."""

    conversation_id: int
    message_id: int


@dataclass(frozen=True)
class ReplyChunk:
    """A piece of the reply's text, in order: of its thinking (``reasoning``), which comes
    first, or of its answer."""

    conversation_id: int
    text: str
    reasoning: bool = False


@dataclass(frozen=True)
class ReplyFinished:
    """The reply ended: complete, stopped (``stats.finish_reason == "cancelled"``) or failed
    (``error``); ``message_id`` is -1 if it failed before its placeholder was saved."""

    conversation_id: int
    message_id: int
    text: str
    stats: ReplyStats | None
    error: str | None
    continued: bool = False  # it wrote on a reply cut short (shown merged with it)
    reasoning: str = ""  # its thinking (``text`` is the answer)
    thinking_seconds: float | None = None  # how long it thought, if it did
    tool_limit: int = 0  # a reply that called tools: the rounds it used up (tool_steps), if it did
    between_rounds: bool = False  # ... it stopped after a round's calls: no text was streaming


# -- a reply that calls tools (``tool_reply.py``): each round is a ReplyStarted, its chunks,
# and, when the model calls tools, a ToolCallsMade; then, per call, maybe a ToolApprovalAsked,
# a ToolActivity while it runs and a ToolResultSaved; the last round ends in ReplyFinished.


@dataclass(frozen=True)
class ToolCallsMade:
    """A round of the reply ended in tool calls: its message (text, thinking, the calls and
    the server each goes to) is saved; the next round starts once they are answered."""

    conversation_id: int
    message: Message


@dataclass(frozen=True)
class ToolApprovalAsked:
    """The model calls a tool not allowed for the whole chat: the reply waits until ``answer``
    holds the user's Approval; it cancels ``answer`` if the reply is stopped meanwhile."""

    conversation_id: int
    call: ToolCall
    origin: ToolOrigin
    answer: Future[Approval]


@dataclass(frozen=True)
class ToolActivity:
    """What the reply waits for besides the model ("starting MCP servers", "running files ·
    read_text_file"); "" when that is over."""

    conversation_id: int
    what: str


@dataclass(frozen=True)
class ToolResultSaved:
    """A call's result (or why it did not run) is saved as a "tool" message."""

    conversation_id: int
    message: Message


@dataclass(frozen=True)
class ToolNotice:
    """One line about the chat's tools for the chat to show (a server that could not start);
    it is not stored."""

    conversation_id: int
    text: str


ToolEvent: TypeAlias = (
    ToolCallsMade | ToolApprovalAsked | ToolActivity | ToolResultSaved | ToolNotice
)
ReplyEvent: TypeAlias = QueueChanged | ReplyStarted | ReplyChunk | ReplyFinished | ToolEvent
