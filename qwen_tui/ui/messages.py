"""Messages the background workers post to the app (post_message is thread-safe)."""

from __future__ import annotations

from textual.message import Message

from ..engine.types import ModelInfo, ReplyStats


class ReplyStarted(Message):
    def __init__(self, conversation_id: int, message_id: int) -> None:
        super().__init__()
        self.conversation_id = conversation_id
        self.message_id = message_id


class ReplyChunk(Message):
    def __init__(self, conversation_id: int, text: str) -> None:
        super().__init__()
        self.conversation_id = conversation_id
        self.text = text


class ReplyFinished(Message):
    def __init__(
        self,
        conversation_id: int,
        message_id: int,
        text: str,
        stats: ReplyStats | None,
        error: str | None,
        continued: bool = False,
    ) -> None:
        super().__init__()
        self.conversation_id = conversation_id
        self.message_id = message_id
        self.text = text
        self.stats = stats
        self.error = error
        self.continued = continued  # it wrote on a reply cut short (shown merged with it)


class EngineLoaded(Message):
    def __init__(self, info: ModelInfo) -> None:
        super().__init__()
        self.info = info


class EngineFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class QueueChanged(Message):
    """The set of conversations waiting for or getting a reply changed."""
