"""The app's reply queue gathers a reply's pieces (ui/reply_queue.py): while one ChunksWaiting
is on its way, more pieces join it instead of posting a message a token, a ChunksWaiting is
posted at most every GAP seconds, and whatever else the queue says still comes after the
pieces before it."""

from __future__ import annotations

from qwen_tui.chat.chat_tools import ChatTools
from qwen_tui.chat.events import ReplyChunk, ReplyFinished, ReplyStarted
from qwen_tui.ui.messages import ChunksWaiting
from qwen_tui.ui.messages import ReplyFinished as FinishedMessage
from qwen_tui.ui.messages import ReplyStarted as StartedMessage
from qwen_tui.ui.reply_queue import GAP, AppReplyQueue


def later():  # type: ignore[no-untyped-def]
    """A clock a second later at every reading: every piece comes GAP after the last post."""
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    return clock


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
    queue = AppReplyQueue(host, later())  # type: ignore[arg-type]
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
    queue = AppReplyQueue(host, later())  # type: ignore[arg-type]
    for chunk in (ReplyChunk(1, "a"), ReplyChunk(1, "b"), ReplyChunk(2, "c"), ReplyChunk(1, "d")):
        queue._emit(chunk)
    assert len(host.posted) == 1
    assert queue.take_chunks() == [ReplyChunk(1, "ab"), ReplyChunk(2, "c"), ReplyChunk(1, "d")]


def test_pieces_after_another_event_wait_for_it():
    """A reply's next round (after its tool calls), or the next reply, may write while the
    pieces before are still waiting: those later pieces are not taken with them, ahead of the
    event between (they would land in the round or reply before)."""
    host = Host()
    queue = AppReplyQueue(host, later())  # type: ignore[arg-type]
    queue._emit(ReplyChunk(1, "first round "))
    queue._emit(ReplyStarted(1, 8))  # the next round's message
    queue._emit(ReplyChunk(1, "second "))
    queue._emit(ReplyChunk(1, "round"))
    assert [type(m) for m in host.posted] == [ChunksWaiting, StartedMessage, ChunksWaiting]
    assert queue.take_chunks() == [ReplyChunk(1, "first round ")]  # the first message's
    assert queue.take_chunks() == [ReplyChunk(1, "second round")]  # the second's, after it
    assert queue.take_chunks() == []
    queue._emit(ReplyChunk(1, "!"))  # all taken: a piece posts again
    assert [type(m) for m in host.posted][-1] is ChunksWaiting and len(host.posted) == 4


def test_pieces_soon_after_a_message_are_held_until_the_next_after_gap_or_an_event():
    """An idle UI thread takes each ChunksWaiting at once: without the gap, every token was a
    message again. A piece within GAP of the last message is held (no message); the first
    piece GAP after it posts the batch; another event posts a held batch before itself."""
    host, now = Host(), [10.0]
    queue = AppReplyQueue(host, lambda: now[0])  # type: ignore[arg-type]
    queue._emit(ReplyChunk(1, "a"))
    assert [type(m) for m in host.posted] == [ChunksWaiting]
    assert queue.take_chunks() == [ReplyChunk(1, "a")]  # the UI took it at once
    for text in "bcd":  # tokens 12 ms apart
        now[0] += 0.012
        queue._emit(ReplyChunk(1, text))
    assert len(host.posted) == 1 and len(queue.batches) == 1  # held: a batch, no message
    now[0] += GAP
    queue._emit(ReplyChunk(1, "e"))  # GAP after the message: the held batch is posted
    assert [type(m) for m in host.posted] == [ChunksWaiting, ChunksWaiting]
    assert queue.take_chunks() == [ReplyChunk(1, "bcde")]

    now[0] += 0.01
    queue._emit(ReplyChunk(1, "f"))  # held again...
    queue._emit(ReplyFinished(1, 7, "abcdef", None, None))  # ...and posted before the end
    assert [type(m) for m in host.posted][2:] == [ChunksWaiting, FinishedMessage]
    assert queue.take_chunks() == [ReplyChunk(1, "f")]


def test_a_held_batch_is_released_when_the_reply_stops_writing():
    """A reply that stops writing without ending (a slow server, a stuck engine) would keep its
    held pieces until its next one: the app releases them GAP after it took the last batch."""
    host, now = Host(), [10.0]
    queue = AppReplyQueue(host, lambda: now[0])  # type: ignore[arg-type]
    queue._emit(ReplyChunk(1, "Hello"))
    assert queue.take_chunks() == [ReplyChunk(1, "Hello")]
    now[0] += 0.01
    queue._emit(ReplyChunk(1, ", world"))  # held, and nothing more comes
    assert len(host.posted) == 1
    queue.release_held()  # the app's timer, GAP after it took "Hello"
    assert [type(m) for m in host.posted] == [ChunksWaiting, ChunksWaiting]
    assert queue.take_chunks() == [ReplyChunk(1, ", world")]
    queue.release_held()  # nothing held: nothing posted
    assert len(host.posted) == 2
