"""The app's reply queue gathers a reply's pieces (ui/reply_queue.py): while one ChunksWaiting
is on its way, more pieces join it instead of posting a message a token, and whatever else
the queue says still comes after the pieces before it."""

from __future__ import annotations

from qwen_tui.chat.chat_tools import ChatTools
from qwen_tui.chat.events import ReplyChunk, ReplyFinished
from qwen_tui.ui.messages import ChunksWaiting
from qwen_tui.ui.messages import ReplyFinished as FinishedMessage
from qwen_tui.ui.reply_queue import AppReplyQueue


class Host:
    """What AppReplyQueue needs of the app; it records what is posted."""

    def __init__(self) -> None:
        self.posted: list = []
        self.service = None
        self.engine = None
        self.engine_state = "loading"
        self.tools = ChatTools([])  # no [[mcp]] servers

    def post_message(self, message) -> bool:
        self.posted.append(message)
        return True

    def run_worker(self, work, *, thread, group, name):
        raise AssertionError("no reply is started here")


def test_pieces_wait_together_and_are_taken_joined_in_order():
    host = Host()
    queue = AppReplyQueue(host)  # type: ignore[arg-type]
    thought = [ReplyChunk(1, f"t{i} ", reasoning=True) for i in range(50)]
    answer = [ReplyChunk(1, f"a{i} ") for i in range(100)]
    for chunk in thought + answer:
        queue._emit(chunk)
    finished = ReplyFinished(1, 7, "whole", None, None)
    queue._emit(finished)
    assert [type(m) for m in host.posted] == [ChunksWaiting, FinishedMessage]
    taken = queue.take_chunks()
    assert taken == [
        ReplyChunk(1, "".join(c.text for c in thought), reasoning=True),
        ReplyChunk(1, "".join(c.text for c in answer)),
    ]
    assert queue.take_chunks() == []
    queue._emit(ReplyChunk(2, "next"))  # taken: the next piece posts again
    assert [type(m) for m in host.posted][-1] is ChunksWaiting
    assert queue.take_chunks() == [ReplyChunk(2, "next")]


def test_pieces_of_two_replies_stay_apart():
    host = Host()
    queue = AppReplyQueue(host)  # type: ignore[arg-type]
    for chunk in (ReplyChunk(1, "a"), ReplyChunk(1, "b"), ReplyChunk(2, "c"), ReplyChunk(1, "d")):
        queue._emit(chunk)
    assert len(host.posted) == 1
    assert queue.take_chunks() == [ReplyChunk(1, "ab"), ReplyChunk(2, "c"), ReplyChunk(1, "d")]
