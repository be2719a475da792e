"""A long follow-up message on top of a kept KV cache (bigdl keeps 256 spare positions)."""

from qwen_tui.engine.base import ChatMessage, GenerationParams

GREEDY = GenerationParams(temperature=0, max_new_tokens=8, repetition_penalty=1.0)


def test_long_message_after_a_cached_turn(engine):
    first = [ChatMessage("user", "Hello!")]
    a = engine.chat(first, GREEDY, cache_key="long")
    long_text = "word " * 400
    second = first + [ChatMessage("assistant", a.text), ChatMessage("user", long_text)]
    b = engine.chat(second, GREEDY, cache_key="long")
    assert b.stats.reused_tokens > 0
    assert b.stats.prompt_tokens - b.stats.reused_tokens > 300, b.stats
    assert b.text == engine.chat(second, GREEDY).text
    engine.forget("long")
