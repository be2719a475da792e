"""What the reply queue tells whoever shows it: plain values, sent from the queue's thread.

The Textual app turns each one into a message of the same name (``qwen_tui/ui/messages.py``);
a script or a test may just collect them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from ..engine.types import ReplyStats


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


ReplyEvent: TypeAlias = QueueChanged | ReplyStarted | ReplyChunk | ReplyFinished
