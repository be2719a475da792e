"""`qwen-tui serve` with a Qwen3.5, through the official openai client: the scripted tiny one
(it thinks, then answers, then ends with its own <|im_end|>), stored from its folder and from
the GGUF of it, on our own engine. Its thinking comes as ``reasoning_content`` apart from the
answer, streamed or whole, as for Qwen3; ``chat_template_kwargs.enable_thinking`` false gives
the answer alone; a conversation's next turn, and the same request again, start from the
recurrent-state snapshots the cache kept."""

from __future__ import annotations

import pytest
from qwen35_thinker import ANSWER, SOURCES, THINKING, quantized
from serving import serving

from qwen_tui.engine import kernels
from qwen_tui.engine.open import open_engine

pytestmark = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the native engine needs AVX2, which this CPU lacks"
)
SUM = [{"role": "user", "content": "What is 2+2?"}]
GENERATED = 11  # I add them.\n</think>\n\nIt is 4!


@pytest.fixture(scope="module", params=SOURCES)
def served(request, tmp_path_factory):
    model = quantized(tmp_path_factory, request.param)
    engine = open_engine(model.path, threads=1)
    info = engine.load()
    assert engine.name == "native" and info.family == "qwen35" and info.thinking == "switch"
    with serving(engine, model.folder_name) as s:
        yield s
    engine.unload()


def chat(served, messages, **kwargs):
    return served.client().chat.completions.create(
        model=served.model, messages=messages, temperature=0, max_tokens=32, **kwargs
    )


def test_a_whole_reply_has_its_thinking_apart_and_stops_on_its_own(served):
    reply = chat(served, SUM)
    [choice] = reply.choices
    assert choice.message.content == ANSWER
    assert choice.message.model_extra["reasoning_content"] == THINKING
    assert choice.finish_reason == "stop" and reply.usage.completion_tokens == GENERATED


def test_a_streamed_reply_has_its_thinking_apart_and_stops_on_its_own(served):
    chunks = list(chat(served, SUM, stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
    assert reasoning == THINKING and "".join(d.content or "" for d in deltas) == ANSWER
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}


def test_enable_thinking_false_gives_the_answer_alone(served):
    off = {"chat_template_kwargs": {"enable_thinking": False}}
    for stream in (False, True):
        if stream:
            deltas = [c.choices[0].delta for c in chat(served, SUM, stream=True, extra_body=off)
                      if c.choices]  # fmt: skip
            text = "".join(d.content or "" for d in deltas)
            assert not any((d.model_extra or {}).get("reasoning_content") for d in deltas)
        else:
            [choice] = chat(served, SUM, extra_body=off).choices
            text = choice.message.content
            assert not (choice.message.model_extra or {}).get("reasoning_content")
            assert choice.finish_reason == "stop"
        assert text == ANSWER


def test_a_next_turn_and_a_request_sent_again_start_from_the_kept_snapshots(served):
    messages = [{"role": "system", "content": "Count."}, *SUM]
    one = chat(served, messages)
    assert one.usage.prompt_tokens_details.cached_tokens == 0
    again = chat(served, messages)  # a regenerate: back to before the prompt's last token
    assert again.choices[0].message.content == ANSWER
    assert again.usage.prompt_tokens_details.cached_tokens == again.usage.prompt_tokens - 1
    message = one.choices[0].message
    messages += [
        {"role": "assistant", "content": message.content,
         "reasoning_content": message.model_extra["reasoning_content"]},
        {"role": "user", "content": "And 3+3?"},
    ]  # fmt: skip
    two = chat(served, messages)
    assert two.choices[0].message.content == ANSWER and two.choices[0].finish_reason == "stop"
    assert two.choices[0].message.model_extra["reasoning_content"] == THINKING
    cached = two.usage.prompt_tokens_details.cached_tokens
    assert 0 < cached < two.usage.prompt_tokens
