"""`qwen-tui serve` driven by the official openai client, on the tiny real quantized model.

The tiny model writes random text until max_tokens (its ChatML markers are zeroed), so every
reply is compared with what the engine itself writes for the same messages, greedily.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from serving import KEY, HeldEngine, serving

from qwen_tui.engine.types import ChatMessage, GenerationParams


@pytest.fixture(scope="module")
def served(engine, tiny_quantized):
    with serving(engine, tiny_quantized.folder_name, ("tiny",), api_key=KEY) as s:
        yield s


def direct(engine, messages, max_tokens):
    """What the engine writes for ``messages`` (dicts), greedily, without the server."""
    chat = [ChatMessage(m["role"], m["content"]) for m in messages]
    params = GenerationParams(temperature=0, max_new_tokens=max_tokens)
    return engine.chat(chat, params).text


def ask(client, model, content, **kwargs):
    messages = [{"role": "user", "content": content}]
    return client.chat.completions.create(model=model, messages=messages, **kwargs)


def test_models_lists_the_loaded_model_and_health_is_ok(served):
    models = served.client().models.list().data
    assert [(m.id, m.owned_by) for m in models] == [(served.model, "qwen-tui")]
    assert served.client().models.retrieve("tiny").id == served.model
    status, body = served.raw("GET", "/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})


def test_a_whole_reply_is_the_engines_reply(served, engine):
    reply = ask(served.client(), served.model, "hello there", max_tokens=6, temperature=0)
    choice = reply.choices[0]
    assert choice.message.role == "assistant" and choice.finish_reason == "length"
    assert choice.message.content == direct(engine, [{"role": "user", "content": "hello there"}], 6)
    usage = reply.usage
    assert usage.completion_tokens == 6 and usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert reply.model == served.model and reply.id.startswith("chatcmpl-")
    timings = reply.model_extra["timings"]
    assert timings["predicted_n"] == 6 and timings["prompt_ms"] > 0


def test_a_model_may_be_named_by_its_short_name(served):
    reply = ask(served.client(), "tiny", "hi", max_tokens=2, temperature=0)
    assert reply.model == served.model and reply.usage.completion_tokens == 2


def test_a_streamed_reply_with_usage(served, engine):
    stream = ask(
        served.client(),
        served.model,
        "stream me",
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == direct(engine, [{"role": "user", "content": "stream me"}], 8)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "length" and set(finishes[:-1]) == {None}
    assert chunks[-2].model_extra["timings"]["predicted_n"] == 8
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens == 8
    assert all(c.usage is None for c in chunks[:-1])


def test_the_stream_is_server_sent_events_ending_in_done(served):
    body = {"model": served.model, "messages": [{"role": "user", "content": "hi"}]}
    body |= {"stream": True, "max_tokens": 3}
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    status, text = served.raw("POST", "/v1/chat/completions", json.dumps(body).encode(), headers)
    assert status == 200
    events = text.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    assert all(e.startswith("data: {") for e in events[:-2])
    assert json.loads(events[0][len("data: ") :])["object"] == "chat.completion.chunk"


@pytest.mark.parametrize("stream", [False, True])
def test_a_stop_string_cuts_the_reply_before_it(served, stream):
    client = served.client()
    whole = ask(client, served.model, "stop test", max_tokens=16, temperature=0)
    text = whole.choices[0].message.content
    assert len(text) >= 8, text
    stop = text[4:7]
    kwargs = dict(max_tokens=16, temperature=0, stop=[stop, "never-written-\u2603"])
    if stream:
        chunks = list(ask(client, served.model, "stop test", stream=True, **kwargs))
        cut = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = chunks[-1].choices[0].finish_reason
    else:
        reply = ask(client, served.model, "stop test", **kwargs)
        cut, finish = reply.choices[0].message.content, reply.choices[0].finish_reason
    assert cut == text[: text.find(stop)] and finish == "stop"
    # a stop string that never comes changes nothing
    same = ask(client, served.model, "stop test", max_tokens=16, temperature=0, stop="\u2603\u2603")
    assert same.choices[0].message.content == text
    assert same.choices[0].finish_reason == "length"


def test_the_same_seed_writes_the_same_reply(served):
    client = served.client()

    def sampled(seed):
        reply = ask(client, served.model, "seeds", max_tokens=10, temperature=1.0, seed=seed)
        return reply.choices[0].message.content

    first = sampled(7)
    assert sampled(7) == first
    assert any(sampled(seed) != first for seed in (8, 9, 10))


def test_closing_a_stream_stops_the_reply_and_the_next_one_starts(served):
    client = served.client()
    stream = ask(client, served.model, "a long one", max_tokens=3000, temperature=0, stream=True)
    for _, _chunk in zip(range(4), stream, strict=False):
        pass
    stream.close()
    started = time.monotonic()
    quick = ask(client, served.model, "next please", max_tokens=3, temperature=0)
    assert quick.usage.completion_tokens == 3
    assert time.monotonic() - started < 20
    first = [f for f in served.scheduler.finished if f.stats.prompt_tokens][-2]
    assert first.why == "client" and first.stats.finish_reason == "cancelled"
    assert 0 < first.stats.generated_tokens < 3000
    assert "cancelled by the client" in " ".join(served.log)


def test_two_clients_at_once_both_get_their_whole_reply(served, engine):
    prompts = {"the first client": 40, "the second client": 30}
    results: dict[str, str] = {}

    def run(prompt, stream):
        client = served.client()
        reply = ask(
            client, served.model, prompt, max_tokens=prompts[prompt], temperature=0, stream=stream
        )
        if stream:
            results[prompt] = "".join(c.choices[0].delta.content or "" for c in reply)
        else:
            results[prompt] = reply.choices[0].message.content

    threads = [threading.Thread(target=run, args=(p, i == 0)) for i, p in enumerate(prompts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for prompt, max_tokens in prompts.items():
        assert results[prompt] == direct(engine, [{"role": "user", "content": prompt}], max_tokens)


def test_the_next_turn_reuses_the_kv_cache_of_the_last(served):
    client = served.client()
    messages = [
        {"role": "system", "content": "You remember the conversation."},
        {"role": "user", "content": "first turn"},
    ]
    one = client.chat.completions.create(
        model=served.model, messages=messages, max_tokens=6, temperature=0
    )
    assert one.usage.prompt_tokens_details.cached_tokens == 0
    messages += [
        {"role": "assistant", "content": one.choices[0].message.content},
        {"role": "user", "content": "second turn"},
    ]
    two = client.chat.completions.create(
        model=served.model, messages=messages, max_tokens=6, temperature=0
    )
    cached = two.usage.prompt_tokens_details.cached_tokens
    # the whole first turn, its reply as generated too (the last token was never fed back)
    assert cached >= one.usage.prompt_tokens + one.usage.completion_tokens - 1
    assert cached < two.usage.prompt_tokens
    assert two.model_extra["timings"]["cache_n"] == cached


def test_a_client_that_gives_up_on_a_whole_reply_stops_it(engine, tiny_quantized):
    import openai

    held = HeldEngine(engine)  # the reply lasts until the client has given up, however fast
    with serving(held, tiny_quantized.folder_name, ("tiny",), api_key=KEY) as served:
        try:
            impatient = served.client(timeout=0.5)
            with pytest.raises(openai.APITimeoutError):
                ask(impatient, served.model, "too slow", max_tokens=4000, temperature=0)
        finally:
            held.release.set()
        quick = ask(served.client(), served.model, "after that", max_tokens=3, temperature=0)
        assert quick.usage.completion_tokens == 3
        gave_up = [f for f in served.scheduler.finished if f.stats.prompt_tokens][-2]
        assert gave_up.why == "client" and gave_up.stats.finish_reason == "cancelled"
        assert gave_up.stats.generated_tokens < 4000
        served.wait_idle()  # the handler of the reply nobody waits for has ended too
