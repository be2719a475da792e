"""A reply that ends on the model's own <|im_end|> (the scripted tiny model answers one fixed
sentence, then stops): finish_reason "stop" from the engine, through `serve`, and through the
remote engine in front of it, streaming and not."""

from __future__ import annotations

import pytest
from serving import KEY, serving

from qwen_tui.engine.open import open_engine
from qwen_tui.engine.remote import RemoteEngine
from qwen_tui.engine.types import ChatMessage, GenerationParams
from qwen_tui.remotes import RemoteEntry
from qwen_tui.testing.tiny import SCRIPTED_REPLY, build_tiny_qwen2

GREEDY = GenerationParams(temperature=0, max_new_tokens=64, repetition_penalty=1.0)
QUESTION = [ChatMessage("user", "What is the capital of France?")]


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    from qwen_tui.store.quantize import quantize_folder

    source = build_tiny_qwen2(tmp_path_factory.mktemp("scripted") / "src", scripted=True)
    stored = quantize_folder(source, "scripted", root=tmp_path_factory.mktemp("store"))
    engine = open_engine(stored.path, threads=1)  # the engine serve opens
    engine.load()
    yield engine
    engine.unload()


def test_the_engine_ends_on_the_models_own_stop(scripted):
    reply = scripted.chat(QUESTION, GREEDY)
    assert reply.text == SCRIPTED_REPLY
    assert reply.stats.finish_reason == "stop" and reply.stats.generated_tokens < 64


def test_serve_and_the_remote_engine_report_a_natural_stop(scripted, monkeypatch):
    with serving(scripted, "scripted", api_key=KEY) as served:
        client = served.client()
        messages = [{"role": "user", "content": QUESTION[0].content}]
        whole = client.chat.completions.create(
            model="scripted", messages=messages, temperature=0, max_tokens=64
        )
        assert whole.choices[0].message.content == SCRIPTED_REPLY
        assert whole.choices[0].finish_reason == "stop"
        assert whole.usage.completion_tokens < 64
        chunks = list(
            client.chat.completions.create(
                model="scripted", messages=messages, temperature=0, max_tokens=64, stream=True
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
        assert text == SCRIPTED_REPLY and finishes[-1] == "stop" and set(finishes[:-1]) == {None}

        monkeypatch.setenv("QWEN_SERVE_KEY", KEY)
        entry = RemoteEntry("self", served.url + "/v1", "scripted", "QWEN_SERVE_KEY")
        remote = RemoteEngine(entry)
        remote.load()
        reply = remote.chat(QUESTION, GREEDY)
        assert reply.text == SCRIPTED_REPLY and reply.stats.finish_reason == "stop"
