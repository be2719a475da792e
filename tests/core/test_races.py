"""Races found by reading the code, each reproduced: a cancel that must not be lost, a cache a
deleted chat must not get back, an engine read once, torch work on the torch thread."""

import threading
import time

import pytest

from qwen_tui.engine.generate.conversation_cache import CacheEntry, KVCacheStore
from qwen_tui.engine.types import ChatMessage, GenerationParams
from qwen_tui.errors import EngineError

LONG = GenerationParams(temperature=0, max_new_tokens=200, repetition_penalty=1.0)


def test_a_cancel_sent_before_a_reply_starts_stops_only_what_runs(engine):
    """unload() cancels and then unloads: a reply starting in between must not run on. And
    a user's stop of one reply does not stop the next one."""
    engine.cancel()  # a stop with nothing running: the next reply is not affected
    reply = engine.chat([ChatMessage("user", "hi")], LONG)
    assert reply.stats.finish_reason == "length" and reply.stats.generated_tokens == 200


def test_a_reply_after_unload_refuses_and_one_during_it_stops(tiny_quantized):
    from qwen_tui.engine.bigdl.engine import BigdlEngine

    engine = BigdlEngine(tiny_quantized.path, threads=1)
    engine.load()
    done = {}

    def talk():
        done["reply"] = engine.chat([ChatMessage("user", "hi")], GenerationParams(
            temperature=0, max_new_tokens=4000, repetition_penalty=1.0))  # fmt: skip

    thread = threading.Thread(target=talk)
    thread.start()
    time.sleep(0.3)
    engine._closed.set()  # what unload() does first, racing the reply
    thread.join(timeout=30)
    assert done["reply"].stats.finish_reason == "cancelled"
    with pytest.raises(EngineError, match="unloaded"):
        engine.chat([ChatMessage("user", "hi")], LONG)


def test_a_dropped_chats_cache_is_not_put_back_by_the_reply_that_took_it():
    store = KVCacheStore(1 << 30)
    entry = CacheEntry([1, 2], (), 2)
    store.put("c1", entry)
    taken, stamp = store.take("c1")  # a reply starts on the chat
    store.drop("c1")  # the chat is deleted while it streams
    assert not store.put("c1", taken, stamp)  # the finishing reply does not bring it back
    assert store.take("c1")[0] is None
    assert store.put("c1", entry, store.take("c1")[1])  # a later reply keeps its cache


def test_dropping_while_another_thread_evicts_never_breaks(monkeypatch):
    store = KVCacheStore(budget_bytes=10, max_entries=3)
    monkeypatch.setattr(CacheEntry, "nbytes", property(lambda self: 1))
    errors = []

    def churn(prefix):
        try:
            for i in range(3000):
                key = f"{prefix}{i % 7}"
                _, stamp = store.take(key)
                store.put(key, CacheEntry([i], (), 2), stamp)
                store.drop(f"{prefix}{(i + 3) % 7}")
                assert store.nbytes >= 0  # sums the entries while the other thread churns
        except Exception as exc:  # noqa: BLE001 - any error is the failure
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(p,)) for p in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_quantizing_runs_its_torch_work_on_the_torch_thread(tiny_source, tmp_path, monkeypatch):
    """The quantizer's OpenMP work starts on the one compute thread (a second thread starting
    OpenMP work would slow every later reply of the app)."""
    from qwen_tui.engine.kernels import weights
    from qwen_tui.store import quantize

    seen = set()
    real = weights.quantize_weight

    def spy(*args, **kwargs):
        seen.add(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(weights, "quantize_weight", spy)
    quantize.quantize_folder(tiny_source, "t", "sym_int4", root=tmp_path, measure=False)
    assert seen == {"torch"}


def test_the_reply_queue_reads_the_engine_once(engine, tmp_path):
    """A model load sets app.engine to None while the queue's worker runs: the reply must
    run on the engine the worker saw, not fail with "The model failed: AttributeError"."""
    from qwen_tui import config
    from qwen_tui.chat import ChatService
    from qwen_tui.chat.chat_tools import ChatTools
    from qwen_tui.history import ConversationStore
    from qwen_tui.ui.reply_queue import AppReplyQueue as ReplyQueue

    store = ConversationStore(tmp_path / "h.db")
    settings = config.Settings(temperature=0.0, max_new_tokens=6, repetition_penalty=1.0)

    class App:
        engine_state = "ready"
        service = ChatService(store, lambda: settings)
        tools = ChatTools([])  # no [[mcp]] servers
        posted: list = []
        reads = 0

        @property
        def engine(self):
            App.reads += 1
            return engine if App.reads == 1 else None  # gone right after the first look

        def post_message(self, message):
            self.posted.append(message)

        def run_worker(self, work, **kwargs):
            work()

    app = App()
    queue = ReplyQueue(app)
    cid = store.create().id
    store.add_message(cid, "user", "hello")
    queue.pending.append(cid)
    queue.running = True
    queue._work()
    finished = [m for m in app.posted if type(m).__name__ == "ReplyFinished"]
    assert finished and finished[0].error is None and finished[0].text
    assert store.messages(cid)[-1].state == "complete"
