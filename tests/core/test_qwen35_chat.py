"""A tiny Qwen3.5 end to end: quantized (with its quality check), opened by ``open_engine`` on
our own engine, chatting; its conversation cache, whose recurrent states cannot be cut back,
goes back to the snapshots it kept at turn boundaries and never to a wrong continuation; and
where our engine cannot run it, no fall back into bigdl-llm's, which cannot either."""

from __future__ import annotations

import pytest
from qwen35_fixture import chat_folder

from qwen_tui.engine import kernels
from qwen_tui.engine.native.hybrid import HybridModel
from qwen_tui.engine.native.hybrid_cache import SNAPSHOTS
from qwen_tui.engine.open import UnrunnableEngine, choose_engine, open_engine
from qwen_tui.engine.types import ChatMessage, GenerationParams
from qwen_tui.errors import EngineError
from qwen_tui.store.quantize import quantize_folder

pytestmark = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the native engine needs AVX2, which this CPU lacks"
)
GREEDY = GenerationParams(temperature=0, max_new_tokens=16, repetition_penalty=1.0)
SYSTEM = ChatMessage("system", "Be brief.")


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """The default recipe, with the quality check quantize runs against the source."""
    source = chat_folder(tmp_path_factory.mktemp("qwen35"))
    return quantize_folder(source, "q35", root=tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def engine(stored):
    opened = open_engine(stored.path, threads=2)
    opened.load()
    yield opened
    opened.unload()


def test_quantizing_measures_it_against_its_source(stored):
    quality = stored.manifest.quality
    assert quality and "error" not in quality, quality
    assert set(quality["texts"]) == {"english", "code", "chinese"}
    assert all(t["kl"] > 0 and t["reference_ppl"] > 1 for t in quality["texts"].values())


def test_it_chats_on_our_engine_greedily_and_deterministically(engine):
    assert engine.name == "native" and isinstance(engine.model, HybridModel)
    assert engine.info.family == "qwen35" and engine.model.turn_token == 1  # <|im_start|>
    messages = [SYSTEM, ChatMessage("user", "Hello there 你好")]
    first, second = engine.chat(messages, GREEDY), engine.chat(messages, GREEDY)
    assert first.stats.generated_tokens > 0 and first.token_ids == second.token_ids
    assert engine.kv_bytes_per_position() == 1 * 2 * 32 * 2 * 2  # one full layer's keys, values


def conversation(engine, key):
    messages, replies = [SYSTEM], []
    for text in ["Hello!", "Tell me more.", "你好", "And then?"]:
        messages.append(ChatMessage("user", text))
        reply = engine.chat(messages, GREEDY, cache_key=key)
        replies.append(reply)
        messages.append(ChatMessage("assistant", reply.text, reply.token_ids))
    return replies


def test_a_kept_cache_gives_the_replies_a_fresh_prompt_gives(engine):
    fresh = conversation(engine, None)
    reused = conversation(engine, "conv")
    assert [r.token_ids for r in reused] == [r.token_ids for r in fresh]
    assert reused[0].stats.reused_tokens == 0
    assert all(r.stats.reused_tokens > 0 for r in reused[1:])
    past = engine.caches.entries["conv"].past
    assert 0 < len(past.snapshots) <= SNAPSHOTS
    kept = sum(w.nbytes + s.nbytes for snap in past.snapshots.values() for w, s in snap)
    assert engine.caches.nbytes == past.nbytes > kept > 0  # the budget counts the snapshots
    engine.forget("conv")


def test_regenerating_goes_back_to_the_snapshot_before_the_prompts_last_token(engine):
    messages = [SYSTEM, ChatMessage("user", "Hello!")]
    first = engine.chat(messages, GREEDY, cache_key="regen")
    again = engine.chat(messages, GREEDY, cache_key="regen")
    assert again.stats.reused_tokens == again.stats.prompt_tokens - 1
    assert again.token_ids == first.token_ids == engine.chat(messages, GREEDY).token_ids
    engine.forget("regen")


def test_an_edited_message_goes_back_to_the_turn_it_opens(engine):
    first = [SYSTEM, ChatMessage("user", "Hello!")]
    engine.chat(first, GREEDY, cache_key="edit")
    edited = [SYSTEM, ChatMessage("user", "Goodbye!")]
    ids = engine._builder.encode(edited)
    opens = [i for i, t in enumerate(ids) if t == engine.model.turn_token]
    reply = engine.chat(edited, GREEDY, cache_key="edit")
    assert reply.stats.reused_tokens == opens[1]  # the user's turn is computed again
    assert reply.token_ids == engine.chat(edited, GREEDY).token_ids
    engine.forget("edit")


def test_a_change_before_every_snapshot_computes_the_prompt_again(engine):
    engine.chat([SYSTEM, ChatMessage("user", "Hello!")], GREEDY, cache_key="system")
    changed = [ChatMessage("system", "Be long."), ChatMessage("user", "Hello!")]
    reply = engine.chat(changed, GREEDY, cache_key="system")
    assert reply.stats.reused_tokens == 0
    assert reply.token_ids == engine.chat(changed, GREEDY).token_ids
    engine.forget("system")


@pytest.mark.parametrize(
    ("variable", "value"), [("QWEN_TUI_DECODER", "bigdl"), ("QWEN_TUI_MATMUL", "dequant")]
)
def test_bigdl_llm_is_never_asked_to_run_it(stored, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    choice = choose_engine(stored.path)
    assert choice.name == "none"
    assert choice.why == (
        f"bigdl-llm's engine, which {variable}={value} asks for, cannot run Qwen3.5 models"
    )
    opened = open_engine(stored.path, threads=1)
    assert isinstance(opened, UnrunnableEngine)
    with pytest.raises(EngineError) as caught:
        opened.load()
    assert caught.value.message == f"Cannot load q35: {choice.why}."
    assert caught.value.hint == f"Unset {variable} to run it on qwen-tui's own engine."


def test_a_cpu_without_avx2_cannot_run_it_and_doctor_says_so(stored, monkeypatch, tmp_path):
    import shutil

    from qwen_tui import doctor, paths

    shutil.copytree(stored.path, paths.models_dir() / stored.path.name)
    monkeypatch.setattr(kernels, "float_kernels", lambda: False)
    choice = choose_engine(stored.path)
    assert choice.name == "none" and choice.why == (
        "only qwen-tui's own engine runs Qwen3.5 models, and it cannot run this one here: this "
        "CPU lacks AVX2, which our decoder needs"
    )
    found = {f.area: f for f in doctor.check_models()}[f"model {stored.path.name}"]
    assert not found.ok and found.text == choice.why and "AVX2" in found.fix
