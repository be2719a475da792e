"""Chatting without any UI: what sending, regenerating and editing do to a conversation
(``service``), and the queue that writes the replies one at a time (``reply_queue``), telling
whoever shows them through plain events (``events``)."""

from .events import QueueChanged, ReplyChunk, ReplyEvent, ReplyFinished, ReplyStarted
from .reply_queue import LiveThought, ReplyQueue, run_on_thread
from .service import ChatService, ReplyOutcome, cache_key, code_blocks, settings_params

__all__ = [
    "ChatService",
    "LiveThought",
    "QueueChanged",
    "ReplyChunk",
    "ReplyEvent",
    "ReplyFinished",
    "ReplyOutcome",
    "ReplyQueue",
    "ReplyStarted",
    "cache_key",
    "code_blocks",
    "run_on_thread",
    "settings_params",
]
