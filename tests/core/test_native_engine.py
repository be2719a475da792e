"""The native engine (no torch) against bigdl-llm's engine with our C decoder on the same store:
every family and recipe gives the same greedy tokens and, with the same rotary tables, the same
logits bit for bit. With its own tables (within 1 ulp of torch's) logits move by rounding: some
1e-7 of the largest logit, except where that rounding flips an activation's int8 code in a
matmul's input, which moves the rows after it by up to one step of that code (measured: 0.8 %
of the largest logit in 15 of 87 positions, tiny Qwen3 mixed_int5; 1e-7 everywhere else).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qwen1_fixture import build_tiny_qwen1

from qwen_tui.engine import kernels
from qwen_tui.engine.bigdl.decoder.model import rotary_tables
from qwen_tui.engine.bigdl.engine import BigdlEngine
from qwen_tui.engine.native.engine import NativeEngine
from qwen_tui.engine.types import ChatMessage, GenerationParams
from qwen_tui.recipes import RECIPES
from qwen_tui.store.quantize import quantize_folder
from qwen_tui.testing.tiny import build_tiny_qwen2
from qwen_tui.testing.tiny_qwen3 import build_tiny_qwen3

pytestmark = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the native engine needs AVX2, which this CPU lacks"
)
GREEDY = GenerationParams(temperature=0, max_new_tokens=24, repetition_penalty=1.0)
MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "word " * 30 + "你好 😀")]
BUILDERS = {
    "qwen1": build_tiny_qwen1,
    "qwen2": build_tiny_qwen2,
    "qwen2-tied": lambda path: build_tiny_qwen2(path, tie_word_embeddings=True),
    "qwen3": build_tiny_qwen3,  # tied, as Qwen3-0.6B
}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    built: dict = {}

    def source(family: str):
        if family not in built:
            built[family] = BUILDERS[family](tmp_path_factory.mktemp(family))
        return built[family]

    return source


def loaded(engine):
    engine.load()
    return engine


def same_tables(native: NativeEngine) -> None:
    """The native model on torch's rotary tables (bigdl's decoder's), for a bit-for-bit check."""
    model = native.model
    cos, sin = rotary_tables(model.shape.head_dim, model.layout.numbers.rope_base, model.positions)
    model.rotary.cos, model.rotary.sin = cos.numpy(), sin.numpy()


@pytest.mark.parametrize("recipe", list(RECIPES))
@pytest.mark.parametrize("family", list(BUILDERS))
def test_the_native_engine_computes_what_bigdls_decoder_computes(family, recipe, sources, tmp_path):
    stored = quantize_folder(sources(family), "m", recipe, root=tmp_path, measure=False)
    native = loaded(NativeEngine(stored.path, threads=2))
    bigdl = loaded(BigdlEngine(stored.path, threads=2))
    try:
        assert bigdl.decoder_note == "ours" and native.decoder_note == "ours"
        assert native.info == bigdl.info
        assert native.chat(MESSAGES, GREEDY).token_ids == bigdl.chat(MESSAGES, GREEDY).token_ids
        ids = native._builder.encode(MESSAGES)
        theirs = {path: bigdl.score(ids, path).numpy() for path in ("prompt", "decode")}
        for path, reference in theirs.items():
            ours = native.score(ids, path)
            assert isinstance(ours, np.ndarray) and ours.shape == reference.shape
            # rotary tables within 1 ulp of torch's: rounding, and int8 codes it flips (above)
            np.testing.assert_allclose(ours, reference, rtol=0, atol=0.02 * np.abs(reference).max())
        same_tables(native)
        for path, reference in theirs.items():
            assert np.array_equal(native.score(ids, path), reference), path
    finally:
        native.unload()
        bigdl.unload()


@pytest.fixture(scope="module")
def native(tiny_quantized):
    engine = loaded(NativeEngine(tiny_quantized.path, threads=1))
    yield engine
    engine.unload()


def conversation(engine, key):
    messages = [ChatMessage("system", "Be brief.")]
    replies = []
    for text in ["Hello!", "Tell me more.", "你好", "And then?"]:
        messages.append(ChatMessage("user", text))
        reply = engine.chat(messages, GREEDY, cache_key=key)
        replies.append(reply)
        messages.append(ChatMessage("assistant", reply.text, reply.token_ids))
    return replies


def test_a_kept_cache_gives_the_replies_a_fresh_prompt_gives(native, bigdl_engine):
    fresh = conversation(native, None)
    reused = conversation(native, "conv")
    assert [r.text for r in reused] == [r.text for r in fresh]
    assert [r.token_ids for r in fresh] == [r.token_ids for r in conversation(bigdl_engine, None)]
    assert reused[0].stats.reused_tokens == 0
    assert all(r.stats.reused_tokens > 0 for r in reused[1:])
    assert native.caches.nbytes == native.caches.entries["conv"].past.nbytes > 0
    native.forget("conv")


def test_a_changed_history_reuses_the_shared_prefix_of_a_copy(native):
    first = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hello!")]
    a = native.chat(first, GREEDY, cache_key="edit")
    kept = native.caches.entries["edit"].past
    length = kept.length
    keys = kept.keys[0][:, :length].copy()
    edited = [ChatMessage("system", "Be brief."), ChatMessage("user", "Goodbye!")]
    b = native.chat(edited, GREEDY, cache_key="edit")
    assert 0 < b.stats.reused_tokens < a.stats.prompt_tokens
    assert b.text == native.chat(edited, GREEDY).text
    assert kept.length == length and np.array_equal(kept.keys[0][:, :length], keys)  # a copy
    native.forget("edit")


def test_a_long_message_after_a_kept_cache_grows_it(native):
    first = [ChatMessage("user", "Hello!")]
    a = native.chat(first, GREEDY, cache_key="long")
    second = first + [ChatMessage("assistant", a.text, a.token_ids),
                      ChatMessage("user", "word " * 400)]  # fmt: skip
    b = native.chat(second, GREEDY, cache_key="long")
    assert b.stats.reused_tokens > 0 and b.stats.prompt_tokens - b.stats.reused_tokens > 300
    assert b.text == native.chat(second, GREEDY).text
    native.forget("long")


def test_cancel_from_another_thread_stops_within_a_token(native):
    import threading

    started, stopped = threading.Event(), threading.Event()
    seen = []

    def on_text(piece):
        seen.append(piece)
        started.set()
        stopped.wait(30)  # the next token waits until the other thread has cancelled

    def cancel_when_started():
        started.wait(30)
        native.cancel()
        stopped.set()

    other = threading.Thread(target=cancel_when_started)
    other.start()
    params = GenerationParams(temperature=0, max_new_tokens=2000, repetition_penalty=1.0)
    reply = native.chat([ChatMessage("user", "Hello!")], params, on_text=on_text)
    other.join(30)
    assert reply.stopped and reply.stats.finish_reason == "cancelled"
    assert reply.stats.generated_tokens <= 3 and reply.text == "".join(seen)
    assert not native.chat([ChatMessage("user", "Hello!")], GREEDY).stopped  # the next one runs


def test_a_seed_repeats_a_sampled_reply(native):
    params = GenerationParams(temperature=1.0, top_p=0.95, top_k=0, max_new_tokens=16, seed=7)
    a, b = native.chat(MESSAGES, params).text, native.chat(MESSAGES, params).text
    other = native.chat(MESSAGES, GenerationParams(**{**params.to_dict(), "seed": 8})).text
    assert a == b and a != other


def test_eval_scores_the_native_engines_numpy_logits(native, bigdl_engine):
    from qwen_tui.eval.metrics import scores

    ids = native.encode_text("The quick brown fox jumps over the lazy dog. 你好")
    ours = native.score(ids)
    assert isinstance(ours, np.ndarray)
    assert scores(ours, ids, ours) == scores(torch.from_numpy(ours.copy()), ids, torch.tensor(ours))
    theirs = scores(bigdl_engine.score(ids), ids)
    assert scores(ours, ids).ppl == pytest.approx(theirs.ppl, rel=1e-5)


def test_unloading_lets_the_weights_go(tiny_quantized):
    import gc
    import weakref

    engine = loaded(NativeEngine(tiny_quantized.path, threads=1))
    engine.chat(MESSAGES, GREEDY, cache_key="kept")
    weights = weakref.ref(engine.model.weights)
    engine.unload()
    gc.collect()
    assert weights() is None and engine.caches.nbytes == 0
