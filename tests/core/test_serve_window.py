"""Whether a prompt fits the window: refused by its characters before any tokenizing when they
alone cannot fit, never refused by them when it fits, and counted off the worker."""

from __future__ import annotations

import threading

import openai
import pytest
from serving import serving

from qwen_tui.engine.types import ChatMessage
from qwen_tui.serve.window import most_characters


@pytest.fixture(scope="module")
def served(engine, tiny_quantized):
    with serving(engine, tiny_quantized.folder_name) as s:
        yield s


def ask(served, content, **kwargs):
    return served.client().chat.completions.create(
        model=served.model, messages=[{"role": "user", "content": content}], **kwargs
    )


def test_messages_with_too_many_characters_are_refused_before_tokenizing(
    served, engine, monkeypatch
):
    bound = most_characters(engine.info)
    assert bound == engine.info.context_window * engine.info.longest_token * 3 // 2
    counted = []
    real = engine.count_tokens
    monkeypatch.setattr(engine, "count_tokens", lambda m: counted.append(m) or real(m))
    with pytest.raises(openai.BadRequestError) as caught:
        ask(served, "x" * (bound + 1), max_tokens=1)
    assert caught.value.code == "context_length_exceeded" and not counted
    assert f"{bound + 1:,} characters" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:  # at the bound, the tokens decide
        ask(served, "x" * bound + "\n" * 1000, max_tokens=1)  # (ends' whitespace not counted)
    assert caught.value.code == "context_length_exceeded" and counted
    assert "characters" not in caught.value.message


def test_a_prompt_that_fits_is_never_refused_by_its_characters(served, engine, tokenizer):
    """The most characters a token stands for, in the tiny vocabulary: a special token."""
    longest = max((tokenizer.decode([i]) for i in tokenizer.get_vocab().values()), key=len)
    window = engine.info.context_window
    content = longest * (window - 64)
    tokens = engine.count_tokens([ChatMessage("user", content)])
    assert window - 100 < tokens < window - 16  # it fits, with room for a token
    assert len(content) > window * 12  # far more characters a token than text has
    reply = ask(served, content, max_tokens=1)
    assert reply.usage.prompt_tokens == tokens and reply.usage.completion_tokens == 1


def test_a_prompt_is_counted_while_the_reply_before_it_is_written(
    engine, tiny_quantized, monkeypatch
):
    entered, release = threading.Event(), threading.Event()
    real = engine.count_tokens

    def slow_count(messages):
        if messages[-1].content == "count me slowly":
            entered.set()
            release.wait(60)
        return real(messages)

    monkeypatch.setattr(engine, "count_tokens", slow_count)
    with serving(engine, tiny_quantized.folder_name) as served:
        running = ask(served, "a long one", max_tokens=3000, stream=True)
        next(iter(running))
        replies: list = []
        second = threading.Thread(
            target=lambda: replies.append(ask(served, "count me slowly", max_tokens=2))
        )
        second.start()
        try:
            assert entered.wait(60)
            # counting it has not waited for the first reply, nor stopped it
            assert not any(f.stats.generated_tokens for f in served.scheduler.finished)
            assert next(iter(running)).choices
        finally:
            release.set()
            running.close()
            second.join(60)
        assert replies[0].usage.completion_tokens == 2
