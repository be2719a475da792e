"""RemoteEngine, the real code, against a loopback server that replays what llama-server,
ollama and vLLM stream (``tests/openai_fake.py``, recordings in
``tests/fixtures/openai_streams/``): streaming, thinking fields, stats, parameters, stop,
and a reply saved by the chat service; the failures are in ``test_remote_failures.py``."""

from __future__ import annotations

import threading
import time

import pytest
from openai_fake import MODELS, engine_for

from qwen_tui.chat import ChatService
from qwen_tui.config import Settings
from qwen_tui.engine.remote import RemoteEngine, estimate_tokens
from qwen_tui.engine.remote.engine import thinking_of
from qwen_tui.engine.remote.sse import Event, events
from qwen_tui.engine.types import ChatMessage, GenerationParams
from qwen_tui.history import ConversationStore

THINKING = "Okay, the user says hello. I should greet them back."
ANSWER = "Hello! How can I help you today?"
HI = [ChatMessage("user", "hi")]


def collect(engine: RemoteEngine, messages=HI, params=None, **kwargs):
    text: list[str] = []
    thought: list[str] = []
    reply = engine.chat(
        messages, params, on_text=text.append, on_reasoning=thought.append, **kwargs
    )
    return reply, "".join(text), "".join(thought)


# -- streaming ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "flavor, script, family",
    [
        ("llama_server", "chat_qwen3.sse", "llama.cpp"),  # delta.reasoning_content
        ("ollama", "chat_qwen3.sse", "ollama"),  # delta.reasoning
        ("vllm", "chat_qwen3_older.sse", "vllm"),  # older vLLM
        ("vllm", "chat_qwen3.sse", "vllm"),  # newer vLLM
        ("vllm", "chat_think_in_content.sse", "vllm"),  # no reasoning parser: <think> in content
    ],
)
def test_the_answer_and_the_thinking_stream_apart_from_each_server(
    fake_openai, flavor, script, family
):
    fake = fake_openai(flavor, script=script)
    engine = engine_for(fake)
    info = engine.load()
    assert info.family == family and info.low_bit == "remote" and info.thinking == "switch"
    reply, text, thought = collect(engine)
    assert (text, thought) == (ANSWER, THINKING)
    assert (reply.text, reply.reasoning) == (ANSWER, THINKING)
    assert reply.stats.finish_reason == "stop" and not reply.stopped


def test_stats_come_from_llama_servers_usage_and_timings(fake_openai):
    fake = fake_openai("llama_server")
    engine = engine_for(fake)
    assert engine.load().context_window == 8192  # /props: default_generation_settings.n_ctx
    stats = collect(engine)[0].stats
    assert (stats.prompt_tokens, stats.generated_tokens, stats.reused_tokens) == (14, 21, 3)
    assert stats.time_to_first_token == pytest.approx(0.084512)  # timings.prompt_ms
    assert stats.decode_tokens_per_s == pytest.approx(29.92)  # timings.predicted_per_second
    assert (stats.context_used, stats.context_window) == (35, 8192)


@pytest.mark.parametrize("flavor, script", [("vllm", "chat_qwen3.sse"), ("ollama", None)])
def test_without_timings_the_pace_is_measured_here(fake_openai, flavor, script):
    fake = fake_openai(flavor, script=script or "chat_qwen3.sse", pace=0.01)
    engine = engine_for(fake, context_window=4096)
    info = engine.load()
    assert info.context_window == 4096  # the entry's own wins over the server's
    started = time.perf_counter()
    stats = collect(engine)[0].stats
    took = time.perf_counter() - started
    usage = {"vllm": (13, 23), "ollama": (12, 24)}[flavor]
    assert (stats.prompt_tokens, stats.generated_tokens) == usage
    assert 0 < stats.time_to_first_token < took
    # 23 tokens over the ~16 paced chunks after the first: well above 0, below 23 / 0.01 s
    assert 10 < stats.decode_tokens_per_s < 2300


def test_vllm_says_its_window_and_ollama_does_not(fake_openai):
    assert engine_for(fake_openai("vllm")).load().context_window == 40960  # max_model_len
    assert engine_for(fake_openai("ollama")).load().context_window == 0


def test_a_reply_cut_at_max_tokens_says_length(fake_openai):
    fake = fake_openai("llama_server", script="chat_length.sse")
    engine = engine_for(fake)
    engine.load()
    reply = collect(engine, params=GenerationParams(max_new_tokens=4))[0]
    assert reply.text == "Hello! How can"
    assert reply.stats.finish_reason == "length" and reply.stats.generated_tokens == 4


# -- what is sent -------------------------------------------------------------------------
PARAMS = GenerationParams(
    temperature=0.3,
    top_p=0.9,
    top_k=20,
    repetition_penalty=1.1,
    max_new_tokens=64,
    seed=7,
    enable_thinking=False,
)
COMMON = {"temperature": 0.3, "top_p": 0.9, "max_tokens": 64, "seed": 7}


@pytest.mark.parametrize(
    "flavor, extra",
    [
        (
            "vllm",
            {
                "top_k": 20,
                "repetition_penalty": 1.1,
                "chat_template_kwargs": {"enable_thinking": False},
            },
        ),
        (
            "llama_server",
            {
                "top_k": 20,
                "repeat_penalty": 1.1,
                "chat_template_kwargs": {"enable_thinking": False},
            },
        ),
        ("ollama", {"reasoning_effort": "none"}),
    ],
)
def test_parameters_go_in_each_servers_own_words(fake_openai, monkeypatch, flavor, extra):
    monkeypatch.setenv("BOX_KEY", "s3cret")
    fake = fake_openai(flavor, key="s3cret")
    engine = engine_for(fake, api_key_env="BOX_KEY")
    engine.load()
    history = [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "Hello.", (1, 2, 3), reasoning="They greet me."),
        ChatMessage("user", "and again"),
    ]
    collect(engine, history, PARAMS)
    body = fake.requests[-1]
    assert body["model"] == MODELS[flavor]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello."},  # never the thinking, never token ids
        {"role": "user", "content": "and again"},
    ]
    sent = {k: v for k, v in body.items() if k not in ("model", "messages", "stream")}
    sent.pop("stream_options")
    assert sent == {**COMMON, **extra}
    assert fake.headers[-1]["Authorization"] == "Bearer s3cret"


def test_unset_parameters_are_left_to_the_server(fake_openai):
    fake = fake_openai("vllm", script="chat_qwen3.sse")
    engine = engine_for(fake)
    engine.load()
    collect(engine, params=GenerationParams(enable_thinking=True))
    body = fake.requests[-1]
    assert set(body) == {"model", "messages", "stream", "stream_options", "chat_template_kwargs"}
    assert body["chat_template_kwargs"] == {"enable_thinking": True}
    assert "Authorization" not in fake.headers[-1]  # no api_key_env: no key sent


def test_continuing_a_reply_asks_vllm_to_continue_the_last_message(fake_openai):
    fake = fake_openai("vllm", script="chat_qwen3.sse")
    engine = engine_for(fake)
    engine.load()
    cut = [ChatMessage("user", "hi"), ChatMessage("assistant", "Hello! How")]
    collect(engine, cut, continue_reply=True)
    body = fake.requests[-1]
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["messages"][-1] == {"role": "assistant", "content": "Hello! How"}


def test_ollamas_bare_name_means_latest(fake_openai):
    fake = fake_openai("ollama")
    engine = engine_for(fake, model="llama3.2")
    assert engine.load().thinking == "none"
    collect(engine)
    assert fake.requests[-1]["model"] == "llama3.2:latest"


# -- stop ---------------------------------------------------------------------------------
def test_stop_mid_stream_closes_the_connection_and_keeps_the_text(fake_openai):
    # role, 7 thinking chunks, "Hello", "!" ... then the server keeps generating (holds)
    fake = fake_openai("vllm", script="chat_qwen3.sse", hold_after=10)
    engine = engine_for(fake)
    engine.load()
    cancel = threading.Event()

    def on_text(piece: str) -> None:
        if piece == "!":
            cancel.set()  # as Esc does: the reply queue's event

    started = time.monotonic()
    reply = engine.chat(HI, on_text=on_text, cancel=cancel)
    assert time.monotonic() - started < 5
    assert reply.stopped and reply.stats.finish_reason == "cancelled"
    assert (reply.text, reply.reasoning) == ("Hello!", THINKING)
    assert reply.stats.generated_tokens == 9  # no usage after a stop: the chunks counted
    assert fake.disconnected.wait(5), "the server never saw the client go"


def test_stop_before_the_first_token_and_cancel_from_another_thread(fake_openai):
    fake = fake_openai("llama_server", hold_after=0)  # a long prompt: nothing comes
    engine = engine_for(fake)
    engine.load()
    threading.Timer(0.3, engine.cancel).start()
    started = time.monotonic()
    reply = engine.chat(HI)
    assert time.monotonic() - started < 5
    assert reply.stopped and reply.text == "" and reply.stats.generated_tokens == 0
    assert fake.disconnected.wait(5)


def test_unload_stops_a_reply_and_refuses_the_next(fake_openai):
    fake = fake_openai("ollama", hold_after=3)
    engine = engine_for(fake)
    engine.load()
    threading.Timer(0.3, engine.unload).start()
    assert engine.chat(HI).stopped
    with pytest.raises(Exception, match="No model is loaded"):
        engine.chat(HI)


# -- through the chat service -------------------------------------------------------------
def test_the_chat_service_saves_a_remote_reply_and_what_a_failure_left(fake_openai, tmp_path):
    store = ConversationStore(tmp_path / "h.db")
    service = ChatService(store, lambda: Settings(temperature=0.5))
    fake = fake_openai("llama_server")
    engine = engine_for(fake)
    engine.load()
    cid = store.create().id
    service.add_user_message(cid, "hi")
    outcome = service.generate(cid, engine)
    saved = store.messages(cid)[-1]
    assert outcome.error is None and saved.content == ANSWER and saved.state == "complete"
    assert saved.stats["model"] == "box" and saved.stats["format"] == "remote"
    assert saved.stats["prompt_tokens"] == 14 and fake.requests[-1]["temperature"] == 0.5

    fake.script = "error_mid_stream.sse"
    service.add_user_message(cid, "again")
    outcome = service.generate(cid, engine)
    saved = store.messages(cid)[-1]
    assert saved.state == "error" and saved.content == "Hello! How"
    assert outcome.error and "failed to decode the batch" in outcome.error
    assert fake.requests[-1]["messages"][-2] == {"role": "assistant", "content": ANSWER}


# -- pieces -------------------------------------------------------------------------------
def test_server_sent_events_are_read_as_the_spec_says():
    lines = [": ping", 'data: {"a":', "data: 1}", "", "event: x", "data: [DONE]", "", "error: {}"]
    assert list(events(lines)) == [
        Event("data", '{"a":\n1}'),
        Event("data", "[DONE]"),
        Event("error", "{}"),
    ]


def test_the_token_estimate_and_the_thinking_guess():
    assert estimate_tokens([]) == 0
    english = estimate_tokens([ChatMessage("user", "a" * 400)])
    chinese = estimate_tokens([ChatMessage("user", "你" * 150)])
    assert english == 104 and chinese == 104  # 4 for the markers each
    assert thinking_of("Qwen/Qwen3-8B") == "switch"
    assert thinking_of("Qwen/Qwen3-30B-A3B-Thinking-2507") == "always"
    assert thinking_of("Qwen/Qwen3-30B-A3B-Instruct-2507") == "none"
    assert thinking_of("qwen2.5:7b") == "none"


def test_a_long_chat_leaves_its_oldest_turns_out_to_fit_the_servers_window(fake_openai):
    """As the local engine does: the system prompt and the newest message always go, the
    oldest turns go first, and the reply says how many were left out."""
    fake = fake_openai("vllm", script="chat_qwen3.sse")
    engine = engine_for(fake, context_window=400)
    engine.load()
    system = [ChatMessage("system", "Be brief.")]
    turns = [
        [
            ChatMessage("user", f"turn {i}: tell me about rivers " * 12),
            ChatMessage("assistant", "ok " * 60),
        ]
        for i in range(4)
    ]
    newest = [ChatMessage("user", "and lakes?")]
    history = system + [m for turn in turns for m in turn] + newest
    reply = engine.chat(history, GenerationParams(max_new_tokens=100))
    sent = [m["content"] for m in fake.requests[-1]["messages"]]
    assert sent[0] == "Be brief." and sent[-1] == "and lakes?"
    assert reply.stats.dropped_turns >= 1 and not any("turn 0:" in c for c in sent)
    kept = len(turns) - reply.stats.dropped_turns
    assert len(sent) == 1 + 2 * kept + 1  # whole turns, the newest ones
    assert all(f"turn {i}:" in "".join(sent) for i in range(len(turns) - kept, len(turns)))
    engine_wide = engine_for(fake, context_window=100_000)
    engine_wide.load()
    assert engine_wide.chat(history).stats.dropped_turns == 0  # it all fits: nothing is left out
    assert len(fake.requests[-1]["messages"]) == len(history)


def test_unload_closes_the_connection_pool_now_or_when_the_reply_ends(fake_openai):
    engine = engine_for(fake_openai("llama_server"))
    engine.load()
    pool = engine._http
    engine.unload()
    assert pool.is_closed and engine._http is None

    engine = engine_for(fake_openai("llama_server", pace=0.2))
    engine.load()
    pool = engine._http
    started = threading.Event()
    unloader = threading.Thread(target=lambda: started.wait(10) and engine.unload())
    unloader.start()
    reply = engine.chat(HI, on_text=lambda _: started.set())
    unloader.join(10)
    assert reply.stopped and reply.text and pool.is_closed  # closed by the reply, as it ended
