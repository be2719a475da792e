"""The native engine on the scripted tiny models, beside bigdl-llm's engine on the same store:
Qwen3's thinking split off (streamed apart, switched off, kept out of the next turn), a reply
that ends on the model's own <|im_end|>, and `serve` answering through the native engine."""

from __future__ import annotations

import pytest
from serving import serving

from qwen_tui.engine import kernels
from qwen_tui.engine.bigdl.engine import BigdlEngine
from qwen_tui.engine.native.engine import NativeEngine
from qwen_tui.engine.types import ChatMessage, GenerationParams
from qwen_tui.store.quantize import quantize_folder
from qwen_tui.testing.tiny import SCRIPTED_REPLY, build_tiny_qwen2
from qwen_tui.testing.tiny_qwen3 import ANSWER, THINKING, build_tiny_qwen3

pytestmark = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the native engine needs AVX2, which this CPU lacks"
)
GREEDY = GenerationParams(temperature=0.0, max_new_tokens=48, repetition_penalty=1.0)
SUM = [ChatMessage("user", "What is 2+2?")]


def both(stored):
    """The native engine and bigdl-llm's, loaded on one store."""
    engines = NativeEngine(stored.path, threads=1), BigdlEngine(stored.path, threads=1)
    for engine in engines:
        engine.load()
    return engines


@pytest.fixture(scope="module")
def thinker(tmp_path_factory):
    source = build_tiny_qwen3(tmp_path_factory.mktemp("q3"), scripted=True)
    root = tmp_path_factory.mktemp("store")
    native, bigdl = both(quantize_folder(source, "think", root=root, measure=False))
    yield native, bigdl
    native.unload()
    bigdl.unload()


def test_thinking_is_split_off_and_streamed_apart(thinker):
    native, bigdl = thinker
    answer, thinking = [], []
    reply = native.chat(SUM, GREEDY, on_text=answer.append, on_reasoning=thinking.append)
    assert (reply.reasoning, reply.text) == (THINKING, ANSWER)
    assert ("".join(thinking), "".join(answer)) == (THINKING, ANSWER)
    assert reply.stats.finish_reason == "stop"
    assert reply.token_ids == bigdl.chat(SUM, GREEDY).token_ids


def test_thinking_switched_off_and_left_out_of_the_next_turn(thinker):
    native, bigdl = thinker
    off = GenerationParams(temperature=0.0, max_new_tokens=48, enable_thinking=False)
    quiet = native.chat(SUM, off)
    assert (quiet.reasoning, quiet.text) == ("", ANSWER)
    assert quiet.token_ids == bigdl.chat(SUM, off).token_ids
    first = native.chat(SUM, GREEDY, cache_key="c")
    history = [
        *SUM,
        ChatMessage("assistant", first.text, first.token_ids, reasoning=first.reasoning),
        ChatMessage("user", "And 3+3?"),
    ]
    second = native.chat(history, GREEDY, cache_key="c")
    assert (second.reasoning, second.text) == (THINKING, ANSWER)
    assert second.stats.reused_tokens > 0
    assert second.token_ids == bigdl.chat(history, GREEDY).token_ids
    native.forget("c")


@pytest.fixture(scope="module")
def stopper(tmp_path_factory):
    source = build_tiny_qwen2(tmp_path_factory.mktemp("q2") / "src", scripted=True)
    root = tmp_path_factory.mktemp("store")
    native, bigdl = both(quantize_folder(source, "scripted", root=root, measure=False))
    yield native, bigdl
    native.unload()
    bigdl.unload()


def test_a_reply_ends_on_the_models_own_stop(stopper):
    native, bigdl = stopper
    question = [ChatMessage("user", "What is the capital of France?")]
    reply = native.chat(question, GREEDY)
    assert reply.text == SCRIPTED_REPLY and reply.stats.finish_reason == "stop"
    assert reply.stats.generated_tokens < GREEDY.max_new_tokens
    assert reply.token_ids == bigdl.chat(question, GREEDY).token_ids


def test_serve_answers_through_the_native_engine(stopper):
    native, _ = stopper
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    with serving(native, "scripted") as served:
        client = served.client()
        whole = client.chat.completions.create(
            model="scripted", messages=messages, temperature=0, max_tokens=48
        )
        chunks = list(
            client.chat.completions.create(
                model="scripted", messages=messages, temperature=0, max_tokens=48, stream=True
            )
        )
    assert whole.choices[0].message.content == SCRIPTED_REPLY
    assert whole.choices[0].finish_reason == "stop"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == SCRIPTED_REPLY
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
