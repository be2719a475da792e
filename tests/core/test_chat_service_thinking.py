"""The chat service with a model that really thinks (the scripted tiny Qwen3, quantized,
through our decoder): thinking saved apart while it streams, sent back only as
``ChatMessage.reasoning`` (the template leaves it out of past turns), switched per chat and
by ``/think`` / ``/no_think``, and what stop, regenerate and continue do with it."""

from __future__ import annotations

import threading

import pytest
from thinking_model import ANSWER, THINKING, quantized

from qwen_tui import chat, config, paths
from qwen_tui.engine.bigdl.engine import BigdlEngine
from qwen_tui.engine.types import ChatMessage
from qwen_tui.history import ConversationStore


@pytest.fixture(scope="module")
def thinker(tmp_path_factory):
    engine = BigdlEngine(quantized(tmp_path_factory).path, threads=1)
    engine.load()
    yield engine
    engine.unload()


@pytest.fixture
def service():
    store = ConversationStore(paths.history_db())
    settings = config.Settings(temperature=0.0, max_new_tokens=24, repetition_penalty=1.0)
    yield chat.ChatService(store, lambda: settings)
    store.close()


def prompt_text(engine: BigdlEngine, messages: list[ChatMessage], enable=None) -> str:
    """The prompt the engine builds of ``messages``, as text."""
    builder = engine._builder
    return builder.decode(builder.encode(messages, enable_thinking=enable))


def test_thinking_is_saved_apart_while_it_streams(service, thinker, monkeypatch):
    assert thinker.info.thinking == "switch"
    monkeypatch.setattr(chat.service, "SAVE_EVERY", 0.0)
    cid = service.store.create().id
    service.add_user_message(cid, "What is 2+2?")
    seen = []

    def look(kind):
        def hook(piece):
            saved = service.store.messages(cid)[-1]
            seen.append((kind, saved.state, saved.reasoning, saved.content))

        return hook

    outcome = service.generate(cid, thinker, on_text=look("answer"), on_reasoning=look("thought"))
    kinds = [kind for kind, *_ in seen]
    assert kinds == sorted(kinds, reverse=True) and "thought" in kinds and "answer" in kinds
    # on disk while streaming: the thought grows with no answer, then the answer grows
    for kind, state, reasoning, content in seen:
        assert state == "streaming" and THINKING.startswith(reasoning)
        assert content == "" if kind == "thought" else reasoning == THINKING
    saved = service.store.messages(cid)[-1]
    assert (saved.reasoning, saved.content, saved.state) == (THINKING, ANSWER, "complete")
    assert (outcome.reply.reasoning, outcome.reply.text) == (THINKING, ANSWER)
    assert saved.stats["thinking_seconds"] >= 0 and outcome.thinking_seconds is not None


def test_past_thinking_goes_back_only_as_reasoning_and_the_template_drops_it(service, thinker):
    cid = service.store.create().id
    service.add_user_message(cid, "What is 2+2?")
    service.generate(cid, thinker)
    service.add_user_message(cid, "And 3+3?")
    messages = service.prompt_messages(cid)
    assert messages[1] == ChatMessage(
        "assistant", ANSWER, messages[1].token_ids, reasoning=THINKING
    )
    assert all(THINKING not in m.content for m in messages)
    prompt = prompt_text(thinker, messages)
    assert THINKING not in prompt and ANSWER in prompt and "<think>" not in prompt
    second = service.generate(cid, thinker).reply
    assert (second.reasoning, second.text) == (THINKING, ANSWER)
    # regenerate: the old reply goes with its thought; the new one has its own, once
    assert service.rewind_for_regenerate(cid)
    service.generate(cid, thinker)
    assert [m.reasoning for m in service.store.messages(cid)] == ["", THINKING, "", THINKING]


def test_the_chat_switch_and_the_soft_switches(service, thinker):
    cid = service.store.create().id
    service.set_thinking(cid, False)
    service.add_user_message(cid, "What is 2+2?")
    off = service.generate(cid, thinker).reply
    assert (off.reasoning, off.text) == ("", ANSWER)
    saved = service.store.messages(cid)[-1]
    assert saved.reasoning == "" and saved.stats["params"]["enable_thinking"] is False
    assert "thinking_seconds" not in saved.stats
    # "/think" in a message: sent as typed, and that reply thinks though the chat's switch is off
    service.add_user_message(cid, "And 3+3? /think")
    on = service.generate(cid, thinker).reply
    assert (on.reasoning, on.text) == (THINKING, ANSWER)
    assert service.store.messages(cid)[-2].content == "And 3+3? /think"
    service.set_thinking(cid, None)  # the model's default: it thinks; "/no_think" stops that
    service.add_user_message(cid, "Quick, 4+4 /no_think")
    assert service.generate(cid, thinker).reply.reasoning == ""


def test_a_reply_stopped_while_thinking_keeps_its_thought_and_stays_out_of_the_prompt(
    service, thinker
):
    cid = service.store.create().id
    service.add_user_message(cid, "What is 2+2?")
    cancel = threading.Event()
    outcome = service.generate(cid, thinker, on_reasoning=lambda _: cancel.set(), cancel=cancel)
    saved = service.store.messages(cid)[-1]
    assert saved.state == "stopped" and saved.content == "" and outcome.reply.stopped
    assert saved.reasoning and THINKING.startswith(saved.reasoning)
    service.add_user_message(cid, "Never mind.")
    assert [m.role for m in service.prompt_messages(cid)] == ["user", "user"]


def test_continue_after_a_cut_in_the_thought_closes_it_and_answers(service, thinker):
    """Cut at max new tokens while thinking, ctrl+e (continue) keeps the thought as far as
    it got: the template closes it there and the model writes the answer."""
    store = service.store
    cid = store.create(params={"max_new_tokens": 3}).id
    service.add_user_message(cid, "What is 2+2?")
    service.generate(cid, thinker)
    cut = store.messages(cid)[-1]
    assert cut.content == "" and cut.reasoning and THINKING.startswith(cut.reasoning)
    assert cut.reasoning != THINKING and service.can_continue(cid)
    store.set_params(cid, {"max_new_tokens": 24})
    messages = service.prompt_messages(cid, continuing=True)
    assert messages[-1] == ChatMessage("assistant", "", cut.token_ids, reasoning=cut.reasoning)
    service.generate(cid, thinker, continue_reply=True)
    done = store.messages(cid)[-1]
    assert (done.id, done.reasoning, done.content, done.state) == (
        cut.id,
        cut.reasoning,
        ANSWER,
        "complete",
    )
    assert done.stats["finish_reason"] == "stop" and "thinking_seconds" in done.stats


def test_a_reply_records_the_parameters_the_engine_sampled_with(service, thinker):
    """With thinking off Qwen3's non-thinking sampling applies where the user set nothing
    (top_p 0.8 here; the temperature is the settings' 0); the reply records that, not the
    thinking-mode defaults of the model's generation_config."""
    cid = service.store.create().id
    service.set_thinking(cid, False)
    service.add_user_message(cid, "What is 2+2?")
    outcome = service.generate(cid, thinker)
    assert outcome.reply.text == ANSWER
    used = service.store.messages(cid)[-1].stats["params"]
    assert (used["temperature"], used["top_p"], used["top_k"]) == (0.0, 0.8, 20)
    assert used["enable_thinking"] is False
    service.set_thinking(cid, None)
    service.add_user_message(cid, "And 3+3?")
    service.generate(cid, thinker)
    used = service.store.messages(cid)[-1].stats["params"]
    assert (used["temperature"], used["top_p"]) == (0.0, 0.95)  # thinking: the model's own
