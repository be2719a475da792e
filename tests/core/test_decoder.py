"""Our C decoder (one call per step for every layer) computes exactly what bigdl-llm's
forwards with our patches compute, for every recipe and both families."""

import pytest
import torch
from engine_probes import bigdl_forwards

from qwen_tui.engine import kernels
from qwen_tui.engine.bigdl.causal_lm import DecoderLM
from qwen_tui.engine.bigdl.decoder import DecoderCache
from qwen_tui.engine.bigdl.engine import BigdlEngine
from qwen_tui.engine.types import ChatMessage


@pytest.fixture
def engine(bigdl_engine):
    """This file compares our C decoder with bigdl-llm's forwards, inside bigdl-llm's engine."""
    return bigdl_engine


needs_decoder = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the decoder needs AVX2, which this CPU lacks"
)


def loaded(path):
    engine = BigdlEngine(path, threads=2)
    engine.load()
    return engine


def three_ways(lm, ids):
    """A prompt, two single tokens and a second prompt on one cache; and every position."""
    with torch.inference_mode():
        first, past = lm.step(ids, None)
        second, past = lm.step([5], past)
        third, past = lm.step([7], past)
        fourth, past = lm.step([9, 10, 11], past)
        every = lm.all_logits(ids)
    return first, second, third, fourth, every


@needs_decoder
@pytest.mark.parametrize("recipe", ["mixed_int5", "sym_int4", "asym_int4", "sym_int5"])
def test_the_decoder_equals_bigdl_llms_forwards_bit_for_bit(tiny_source, tmp_path, recipe):
    from qwen_tui.store.quantize import quantize_folder

    model = quantize_folder(tiny_source, "t", recipe, root=tmp_path, measure=False)
    engine = loaded(model.path)
    try:
        assert isinstance(engine._lm, DecoderLM) and engine.decoder_note == "ours"
        ids = engine._builder.encode([ChatMessage("user", "word " * 30 + "你好")])
        ours = three_ways(engine._lm, ids)
        theirs = three_ways(bigdl_forwards(engine), ids)
        for a, b in zip(ours, theirs, strict=True):
            assert torch.equal(a, b)
        assert torch.equal(ours[-1][-1], ours[0][0])  # the last position is the first step's
    finally:
        engine.unload()


@needs_decoder
def test_a_long_prompt_in_chunks_is_the_same_prompt(engine, monkeypatch):
    from qwen_tui.engine.bigdl.decoder import model as decoder_model

    ids = engine._builder.encode([ChatMessage("user", "word " * 40)])
    whole = engine.score(ids, "prompt")
    monkeypatch.setattr(decoder_model, "CHUNK", 7)
    assert torch.equal(engine.score(ids, "prompt"), whole)
    with torch.inference_mode():
        last, cache = engine._lm.step(ids, None)
    assert torch.equal(last[0], whole[-1]) and cache.length == len(ids)


def test_the_forwards_are_used_where_the_decoder_does_not_fit(tiny_quantized, monkeypatch):
    monkeypatch.setenv("QWEN_TUI_DECODER", "bigdl")
    engine = loaded(tiny_quantized.path)
    assert not isinstance(engine._lm, DecoderLM) and "QWEN_TUI_DECODER" in engine.decoder_note
    engine.unload()
    monkeypatch.setenv("QWEN_TUI_DECODER", "ours")
    monkeypatch.setenv("QWEN_TUI_MATMUL", "bigdl")  # layers on bigdl-llm's kernel
    engine = loaded(tiny_quantized.path)
    assert not isinstance(engine._lm, DecoderLM) and "not on our kernels" in engine.decoder_note
    engine.unload()


def test_the_cache_grows_keeping_what_it_holds_and_crops_into_a_copy():
    cache = DecoderCache(layers=2, kv_heads=2, head_dim=16)
    cache.reserve(3)
    first = cache.capacity
    cache.keys[1][:, :3] = torch.arange(96, dtype=torch.float16).view(2, 3, 16)
    cache.length = 3
    cache.reserve(first + 1)  # beyond the room: a new buffer, the used positions copied
    assert cache.capacity > first
    assert torch.equal(cache.keys[1][:, :3], torch.arange(96, dtype=torch.float16).view(2, 3, 16))
    copy = cache.cropped(2)
    copy.keys[1][:, :2] = 0
    assert copy.length == 2 and cache.keys[1][0, 1, 0] == 16  # the original is untouched
    assert sum(k.numel() + v.numel() for k, v in cache) == 2 * 2 * 2 * cache.capacity * 16
