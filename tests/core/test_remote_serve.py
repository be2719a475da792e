"""RemoteEngine against our own `qwen-tui serve` (tests/serving.py: the real app on a
loopback port) in front of the tiny real quantized model: streaming, stats, stop."""

from __future__ import annotations

import threading
import time

import pytest
from serving import KEY, serving

from qwen_tui.engine.remote import RemoteEngine
from qwen_tui.engine.types import ChatMessage, GenerationParams
from qwen_tui.remotes import RemoteEntry


@pytest.fixture(scope="module")
def served(engine, tiny_quantized):
    with serving(engine, tiny_quantized.folder_name, ("tiny",), api_key=KEY) as s:
        yield s


@pytest.fixture
def remote(served, monkeypatch):
    monkeypatch.setenv("QWEN_SERVE_KEY", KEY)
    engine = RemoteEngine(RemoteEntry("self", served.url + "/v1", served.model, "QWEN_SERVE_KEY"))
    engine.load()
    return engine


def test_a_reply_streams_through_serve_as_the_engine_writes_it(served, remote, engine):
    assert remote.info.family == "qwen-tui"
    assert remote.info.context_window == engine.info.context_window  # its max_model_len
    messages = [ChatMessage("system", "Be brief."), ChatMessage("user", "hello there")]
    params = GenerationParams(temperature=0, max_new_tokens=12, top_k=5, repetition_penalty=1.0)
    pieces: list[str] = []
    reply = remote.chat(messages, params, on_text=pieces.append)
    served.wait_idle()
    server_side = served.scheduler.finished[-1].stats
    direct = engine.chat(messages, params).text
    assert len(pieces) > 1 and "".join(pieces) == reply.text == direct
    stats = reply.stats  # usage and timings, as serve counted them
    assert stats.finish_reason == "length" and stats.generated_tokens == 12
    assert stats.prompt_tokens == server_side.prompt_tokens > 0
    assert stats.context_used == stats.prompt_tokens + 12
    assert stats.time_to_first_token > 0 and stats.decode_tokens_per_s > 0


def test_stop_closes_the_stream_and_serve_stops_generating(served, remote):
    cancel = threading.Event()
    pieces: list[str] = []

    def on_text(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 5:
            cancel.set()

    params = GenerationParams(temperature=0, max_new_tokens=3000)
    started = time.monotonic()
    reply = remote.chat([ChatMessage("user", "a long one")], params, on_text=on_text, cancel=cancel)
    assert reply.stopped and reply.text == "".join(pieces)
    assert time.monotonic() - started < 30
    started = time.monotonic()
    quick = remote.chat([ChatMessage("user", "next")], GenerationParams(max_new_tokens=3))
    assert quick.stats.generated_tokens == 3
    assert time.monotonic() - started < 20  # not behind 3000 tokens still being written
    served.wait_idle()
    record = served.scheduler.finished[-2]  # the stopped one, then the quick one
    assert record.why == "client" and record.stats.finish_reason == "cancelled"
    assert 0 < record.stats.generated_tokens < 3000
    assert "cancelled by the client" in " ".join(served.log)
