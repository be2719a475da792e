"""RemoteEngine against a real OpenAI-compatible server, not a recording: llama-cpp-python's
(tests/llama_peer.py) serving GGUF files written here from tiny models, a scripted one that
answers one sentence and stops, and a random one that never stops on its own."""

from __future__ import annotations

import threading

import pytest
from gguf_fixture import write_gguf
from llama_peer import llama_server

from qwen_tui.engine.remote import RemoteEngine
from qwen_tui.engine.types import ChatMessage, GenerationParams
from qwen_tui.remotes import RemoteEntry
from qwen_tui.testing.tiny import SCRIPTED_REPLY, build_tiny_qwen2

GREEDY = GenerationParams(temperature=0, max_new_tokens=48, repetition_penalty=1.0)


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama-scripted")
    write_gguf(build_tiny_qwen2(folder / "src", scripted=True), folder / "scripted.gguf", {})
    with llama_server(folder / "scripted.gguf", "scripted") as base:
        yield base


@pytest.fixture(scope="module")
def rambling(tiny_source, tmp_path_factory):
    gguf = tmp_path_factory.mktemp("llama-random") / "random.gguf"
    write_gguf(tiny_source, gguf, {})
    with llama_server(gguf, "random") as base:
        yield base


def engine(base: str, model: str, **entry) -> RemoteEngine:
    remote = RemoteEngine(RemoteEntry("peer", base, model, **entry))
    remote.load()
    return remote


def test_a_reply_streams_and_ends_on_the_models_own_stop(scripted):
    remote = engine(scripted, "scripted")
    pieces: list[str] = []
    reply = remote.chat(
        [ChatMessage("user", "What is the capital?")], GREEDY, on_text=pieces.append
    )
    assert len(pieces) > 1 and "".join(pieces) == reply.text == SCRIPTED_REPLY
    assert reply.stats.finish_reason == "stop" and not reply.stopped
    assert reply.stats.generated_tokens == len(pieces)
    assert reply.stats.time_to_first_token > 0


def test_a_model_that_is_asked_for_another_is_refused(scripted):
    from qwen_tui.errors import QwenTuiError

    with pytest.raises(QwenTuiError, match="scripted"):
        engine(scripted, "qwen3-8b")


def test_max_new_tokens_cuts_and_esc_stops_the_stream(rambling):
    remote = engine(rambling, "random")
    cut = remote.chat(
        [ChatMessage("user", "hi")], GenerationParams(temperature=0, max_new_tokens=3)
    )
    assert cut.stats.finish_reason == "length" and cut.stats.generated_tokens == 3
    cancel = threading.Event()
    stopped = remote.chat(
        [ChatMessage("user", "hi")],
        GenerationParams(temperature=0, max_new_tokens=400),
        on_text=lambda _: cancel.set(),
        cancel=cancel,
    )
    assert stopped.stopped and 0 < stopped.stats.generated_tokens < 400
    again = remote.chat(
        [ChatMessage("user", "hi")], GenerationParams(temperature=0, max_new_tokens=3)
    )
    assert again.text == cut.text  # the server is free again, and greedy is greedy


def test_a_chat_longer_than_the_window_leaves_its_oldest_turns_out(scripted):
    remote = engine(scripted, "scripted", context_window=160)
    history: list[ChatMessage] = []
    for i in range(12):
        history += [
            ChatMessage("user", f"question {i}: " + "tell me more about the quick brown fox " * 2),
            ChatMessage("assistant", "The quick brown fox jumps over the lazy dog. " * 2),
        ]
    reply = remote.chat([*history, ChatMessage("user", "And the capital?")], GREEDY)
    assert reply.stats.dropped_turns > 0 and reply.text == SCRIPTED_REPLY
