"""Messages posted to the app (post_message is thread-safe): the reply queue's core events
(``qwen_tui.chat.events``), each as a Textual message of the same name carrying the same
fields, and the model loader's."""

from __future__ import annotations

from textual.message import Message

from ..chat import events
from ..engine.types import ModelInfo


class ReplyStarted(Message):
    def __init__(self, event: events.ReplyStarted) -> None:
        super().__init__()
        self.event = event
        self.conversation_id = event.conversation_id
        self.message_id = event.message_id


class ChunksWaiting(Message):
    """Pieces of a reply are waiting in the app's reply queue (``take_chunks``)."""


class ReplyFinished(Message):
    def __init__(self, event: events.ReplyFinished) -> None:
        super().__init__()
        self.event = event
        self.conversation_id = event.conversation_id
        self.message_id = event.message_id
        self.text = event.text
        self.stats = event.stats
        self.error = event.error
        self.continued = event.continued  # it wrote on a reply cut short (shown merged with it)
        self.reasoning = event.reasoning
        self.thinking_seconds = event.thinking_seconds
        self.tool_limit = event.tool_limit
        self.between_rounds = event.between_rounds


class QueueChanged(Message):
    """The set of conversations waiting for or getting a reply changed."""

    def __init__(self, event: events.QueueChanged | None = None) -> None:
        super().__init__()
        self.event = event or events.QueueChanged()


class ToolEvent(Message):
    """One of a reply's tool events (``events.ToolEvent``: calls made, a call to approve,
    what it waits for, a result saved, a notice), handled by ``ui/tool_events.py``."""

    def __init__(self, event: events.ToolEvent) -> None:
        super().__init__()
        self.event = event
        self.conversation_id = event.conversation_id


def message_for(event: events.ReplyEvent) -> Message:
    """The Textual message that carries a reply queue's event (a reply's pieces are gathered
    instead: ``ChunksWaiting``)."""
    if isinstance(event, events.ReplyStarted):
        return ReplyStarted(event)
    if isinstance(event, events.ReplyFinished):
        return ReplyFinished(event)
    if isinstance(event, events.QueueChanged):
        return QueueChanged(event)
    return ToolEvent(event)


class EngineLoaded(Message):
    def __init__(self, info: ModelInfo, ticket: int) -> None:
        super().__init__()
        self.info = info
        self.ticket = ticket  # the load's (``EngineSlot.request``): a newer one makes it stale


class EngineFailed(Message):
    def __init__(self, error: str, ticket: int) -> None:
        super().__init__()
        self.error = error
        self.ticket = ticket
