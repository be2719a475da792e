"""The reply queue without any UI: a real ChatService on a real history, the real tiny engine,
and a list for the events it sends."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from qwen_tui import config, paths
from qwen_tui.chat import (
    ChatService,
    QueueChanged,
    ReplyChunk,
    ReplyEvent,
    ReplyFinished,
    ReplyQueue,
    ReplyStarted,
)
from qwen_tui.engine.types import Engine
from qwen_tui.history import ConversationStore

Work = Callable[[], None]


class Later:
    """A runner that keeps the queue's work until the test runs it (on the test's thread)."""

    def __init__(self) -> None:
        self.works: list[Work] = []

    def __call__(self, work: Work) -> None:
        self.works.append(work)

    def run(self) -> None:
        assert len(self.works) == 1, f"{len(self.works)} workers were started"
        self.works.pop()()


class Setup:
    def __init__(self, engine: Engine, max_new_tokens: int = 12) -> None:
        self.settings = config.Settings(
            temperature=0.0, max_new_tokens=max_new_tokens, repetition_penalty=1.0
        )
        self.store = ConversationStore(paths.history_db())
        self.service = ChatService(self.store, lambda: self.settings)
        self.engine: Engine | None = engine  # None: no model ready
        self.events: list[ReplyEvent] = []
        self.on_event: Callable[[ReplyEvent], None] = lambda event: None  # a test's hook
        self.load_after_next_look = False  # a model load begins right after the next look
        self.later = Later()
        self.queue = ReplyQueue(self.service, self.look, self.collect, run=self.later)

    def look(self) -> Engine | None:
        engine = self.engine
        if self.load_after_next_look:
            self.engine, self.load_after_next_look = None, False
        return engine

    def collect(self, event: ReplyEvent) -> None:
        self.events.append(event)
        self.queue.follow(event)  # what the UI does where it shows the events
        self.on_event(event)

    def chat(self, text: str = "Hello") -> int:
        cid = self.store.create().id
        self.service.add_user_message(cid, text)
        return cid

    def finished(self, cid: int | None = None) -> list[ReplyFinished]:
        return [
            e
            for e in self.events
            if isinstance(e, ReplyFinished) and cid in (None, e.conversation_id)
        ]

    def chunks(self, cid: int) -> list[str]:
        return [
            e.text for e in self.events if isinstance(e, ReplyChunk) and e.conversation_id == cid
        ]

    def idle(self) -> bool:
        q = self.queue
        return q.current is None and not q.pending and not q.running


@pytest.fixture
def setup(engine):
    made: list[Setup] = []

    def make(**kwargs) -> Setup:
        made.append(Setup(engine, **kwargs))
        return made[-1]

    yield make
    for s in made:
        s.store.close()


def test_a_reply_sends_its_events_in_order_and_is_saved(setup):
    s = setup()
    cid = s.chat()
    live_seen: list[str] = []
    s.on_event = lambda e: (
        live_seen.append(s.queue.live[cid]) if isinstance(e, ReplyChunk) else None
    )
    s.queue.enqueue(cid)
    assert s.events == [QueueChanged()]  # queued; the work waits for the runner
    assert s.queue.busy(cid) and s.queue.queued == {cid} and s.queue.running
    s.later.run()

    kinds = [type(e) for e in s.events]
    chunks = s.chunks(cid)
    assert chunks, "no text streamed"
    assert kinds == [
        QueueChanged,
        QueueChanged,
        ReplyStarted,
        *[ReplyChunk] * len(chunks),
        ReplyFinished,
        QueueChanged,
    ]
    saved = s.store.messages(cid)[-1]
    started = s.events[2]
    [finished] = s.finished()
    assert started == ReplyStarted(cid, saved.id)
    assert finished.message_id == saved.id and finished.error is None and not finished.continued
    assert finished.text == "".join(chunks) == saved.content
    assert saved.state == "complete" and finished.stats is not None
    assert finished.stats.generated_tokens == 12
    # live follows the chunks, and a finished reply leaves it
    assert live_seen == ["".join(chunks[: i + 1]) for i in range(len(chunks))]
    assert cid not in s.queue.live
    assert s.idle() and not s.queue.busy(cid)


def test_two_chats_get_their_replies_one_after_the_other(setup):
    s = setup()
    a, b = s.chat("one"), s.chat("two")
    during_a: list[tuple[int | None, set[int]]] = []
    s.on_event = lambda e: (
        during_a.append((s.queue.current, s.queue.queued))
        if isinstance(e, ReplyStarted) and e.conversation_id == a
        else None
    )
    s.queue.enqueue(a)
    s.queue.enqueue(b)  # the worker already runs: no second one
    assert s.queue.queued == {a, b}
    s.later.run()  # Later.run: exactly one worker was started

    assert during_a == [(a, {b})]  # b waited while a was written
    order = [
        (type(e).__name__, e.conversation_id)
        for e in s.events
        if isinstance(e, (ReplyStarted, ReplyFinished))
    ]
    assert order == [
        ("ReplyStarted", a),
        ("ReplyFinished", a),
        ("ReplyStarted", b),
        ("ReplyFinished", b),
    ]
    assert all(f.error is None for f in s.finished())
    for cid in (a, b):
        assert [m.role for m in s.store.messages(cid)] == ["user", "assistant"]
        assert s.store.messages(cid)[-1].state == "complete"
    assert s.idle()


def test_the_chat_being_written_may_be_queued_again(setup):
    s = setup()
    a = s.chat()

    def again(e: ReplyEvent) -> None:
        if isinstance(e, ReplyStarted) and len(s.finished()) == 0:
            assert s.queue.busy(a) and s.queue.queued == set()
            s.service.add_user_message(a, "and then?")  # sent while its reply streams
            s.queue.enqueue(a)
            assert s.queue.queued == {a}

    s.on_event = again
    s.queue.enqueue(a)
    s.later.run()  # one worker writes both
    assert [f.conversation_id for f in s.finished()] == [a, a]
    assert [f.error for f in s.finished()] == [None, None]
    assert [m.role for m in s.store.messages(a)] == ["user", "assistant", "user", "assistant"]


def test_stop_keeps_the_partial_reply_marked_stopped(setup):
    s = setup(max_new_tokens=200)
    cid = s.chat()
    assert not s.queue.stop_current()  # nothing is being written
    stops: list[bool] = []

    def stop_at_third_chunk(e: ReplyEvent) -> None:
        if isinstance(e, ReplyChunk) and len(s.chunks(cid)) == 3:
            stops.append(s.queue.stop_current())

    s.on_event = stop_at_third_chunk
    s.queue.enqueue(cid)
    s.later.run()
    assert stops == [True]
    [finished] = s.finished()
    assert finished.error is None and finished.stats is not None
    assert finished.stats.finish_reason == "cancelled"
    assert 3 <= finished.stats.generated_tokens < 200
    saved = s.store.messages(cid)[-1]
    assert saved.id == finished.message_id and saved.state == "stopped"
    assert saved.content == finished.text and finished.text.startswith("".join(s.chunks(cid)[:3]))
    assert not s.queue.stop_current() and s.idle()


def test_a_dropped_chat_waiting_for_its_reply_gets_none(setup):
    s = setup()
    a, b, c = s.chat("one"), s.chat("two"), s.chat("three")
    for cid in (a, b, c):
        s.queue.enqueue(cid)
    s.events.clear()
    s.queue.drop(b)
    assert s.events == [QueueChanged()]
    assert s.queue.queued == {a, c} and not s.queue.busy(b)
    s.later.run()
    assert [f.conversation_id for f in s.finished()] == [a, c]
    assert not any(isinstance(e, ReplyStarted) and e.conversation_id == b for e in s.events)
    assert [m.role for m in s.store.messages(b)] == ["user"]
    assert s.idle()


def test_dropping_the_chat_being_written_stops_it(setup):
    s = setup(max_new_tokens=200)
    a, b = s.chat("one"), s.chat("two")

    def drop_a(e: ReplyEvent) -> None:
        if isinstance(e, ReplyChunk) and e.conversation_id == a and len(s.chunks(a)) == 2:
            s.queue.drop(a)

    s.on_event = drop_a
    s.queue.enqueue(a)
    s.queue.enqueue(b)
    s.later.run()
    first, second = s.finished()
    assert first.conversation_id == a and first.stats is not None
    assert first.stats.finish_reason == "cancelled"
    assert second.conversation_id == b and second.stats is not None
    assert second.stats.finish_reason == "length"  # the next reply is not stopped too


def test_without_a_ready_engine_nothing_starts_until_kick(setup, engine):
    s = setup()
    s.engine = None  # no model yet, or one loading
    cid = s.chat()
    s.queue.enqueue(cid)
    s.queue.kick()
    assert s.later.works == [] and not s.queue.running
    assert s.queue.busy(cid) and s.events == [QueueChanged()]
    s.engine = engine  # the model is loaded
    s.queue.kick()
    s.later.run()
    [finished] = s.finished()
    assert finished.conversation_id == cid and finished.error is None
    assert s.idle()
    s.queue.kick()  # nothing left to do: no worker
    assert s.later.works == []


def test_a_reply_runs_on_the_engine_read_when_it_started(setup, engine):
    """A model load sets the engine to None right after the worker looked: that reply runs on
    the engine it saw (not "The model failed: AttributeError"), the next waits for the new one."""
    s = setup()
    a, b = s.chat("one"), s.chat("two")
    s.queue.enqueue(a)
    s.queue.enqueue(b)
    s.load_after_next_look = True
    s.later.run()
    [finished] = s.finished()
    assert finished.conversation_id == a and finished.error is None and finished.text
    assert s.store.messages(a)[-1].state == "complete"
    assert s.queue.queued == {b} and s.queue.current is None and not s.queue.running
    assert isinstance(s.events[-1], QueueChanged)
    s.engine = engine  # the new model is ready
    s.queue.kick()
    s.later.run()
    assert [f.conversation_id for f in s.finished()] == [a, b]
    assert s.idle()


def test_a_failing_reply_is_finished_with_its_error_and_the_queue_goes_on(setup):
    s = setup()
    gone, b = s.chat("one"), s.chat("two")
    s.queue.enqueue(gone)
    s.queue.enqueue(b)
    s.store.delete(gone)  # deleted while it waited: generate raises KeyError
    s.later.run()
    failed, ok = s.finished()
    assert failed.conversation_id == gone and failed.message_id == -1
    assert failed.error is not None and failed.error.startswith("KeyError")
    assert failed.text == "" and failed.stats is None
    assert not any(isinstance(e, ReplyStarted) and e.conversation_id == gone for e in s.events)
    assert ok.conversation_id == b and ok.error is None and ok.text
    assert s.store.messages(b)[-1].state == "complete"
    assert s.idle()


def test_continue_writes_on_the_reply_cut_short(setup):
    s = setup(max_new_tokens=6)
    cid = s.chat()
    s.queue.enqueue(cid)
    s.later.run()
    cut = s.store.messages(cid)[-1]
    assert s.service.can_continue(cid)
    s.events.clear()
    s.queue.enqueue(cid, continue_reply=True)
    assert s.queue.continuing == {cid}
    s.later.run()
    assert s.queue.continuing == set()
    started = next(e for e in s.events if isinstance(e, ReplyStarted))
    [finished] = s.finished()
    assert started.message_id == cut.id == finished.message_id  # the same message, written on
    assert finished.continued and finished.error is None
    saved = s.store.messages(cid)
    assert [m.role for m in saved] == ["user", "assistant"]
    assert saved[-1].content.startswith(cut.content) and len(saved[-1].content) > len(cut.content)
    s.service.add_user_message(cid, "more")
    s.queue.enqueue(cid)  # a plain send after it is not a continuation
    s.later.run()
    assert not s.finished()[-1].continued


def test_by_default_the_work_runs_on_a_daemon_thread(engine):
    settings = config.Settings(temperature=0.0, max_new_tokens=4, repetition_penalty=1.0)
    store = ConversationStore(paths.history_db())
    done = threading.Event()
    seen: list[tuple[str, bool]] = []

    def on_event(event: ReplyEvent) -> None:
        if isinstance(event, ReplyStarted):
            thread = threading.current_thread()
            seen.append((thread.name, thread.daemon))
        if isinstance(event, ReplyFinished):
            done.set()

    queue = ReplyQueue(ChatService(store, lambda: settings), lambda: engine, on_event)
    cid = store.create().id
    store.add_message(cid, "user", "hi")
    try:
        queue.enqueue(cid)
        assert done.wait(60), "no reply within a minute"
        assert seen == [("generate", True)]
        assert store.messages(cid)[-1].state == "complete"
    finally:
        for thread in threading.enumerate():
            if thread.name == "generate":
                thread.join(10)
        store.close()


def test_shut_down_stops_the_reply_lets_it_save_and_starts_nothing_after(setup):
    s = setup(max_new_tokens=200)
    first, second = s.chat("one"), s.chat("two")
    answers: list[bool] = []

    def on_event(event: ReplyEvent) -> None:
        if isinstance(event, ReplyChunk) and not answers:  # mid-reply, on the worker's thread
            answers.append(s.queue.shut_down(timeout=0))  # it still runs: False at once

    s.on_event = on_event
    s.queue.enqueue(first)
    s.queue.enqueue(second)
    s.later.run()
    saved = s.store.messages(first)[-1]
    assert answers == [False] and s.queue.shut_down(timeout=0)  # the worker has ended
    assert saved.state == "stopped" and saved.content == "".join(s.chunks(first))
    assert [m.role for m in s.store.messages(second)] == ["user"]  # kept, not answered
    s.queue.enqueue(second)  # after shut_down nothing starts
    assert s.later.works == [] and not s.queue.running


def test_shut_down_waits_for_nothing_when_the_worker_never_ran_or_failed(setup):
    """A worker that was started but never ran (the app closed first) writes nothing, and one
    that failed mid-way has ended: the store may close at once in both cases."""
    s = setup()
    s.queue.enqueue(s.chat("one"))  # the worker is handed to the runner, and never runs
    assert s.later.works and s.queue.shut_down(timeout=0)

    s = setup()
    s.queue.enqueue(s.chat("two"))

    def broken(event: ReplyEvent) -> None:
        if isinstance(event, ReplyFinished):
            raise RuntimeError("the app is gone")

    s.on_event = broken
    with pytest.raises(RuntimeError):
        s.later.run()
    assert not s.queue.running and s.queue.shut_down(timeout=0)
