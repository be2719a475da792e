"""The patch registry: every patch a Qwen2 model should get is installed and reported; one
that does not apply, or was written for other versions, falls back and says why."""

from __future__ import annotations

import pytest

from qwen_tui.engine.bigdl import patches
from qwen_tui.engine.bigdl.engine import BigdlEngine
from qwen_tui.engine.bigdl.lowbit import io as lowbit_io
from qwen_tui.engine.bigdl.patches import forwards
from qwen_tui.engine.types import ChatMessage, GenerationParams


@pytest.fixture
def engine(bigdl_engine):
    """This file tests bigdl-llm's engine (its modules, patches and torch loop)."""
    return bigdl_engine


def layers_of(model, *names):
    return [m for m in model.modules() if type(m).__name__ in names]


def test_a_qwen2_model_gets_every_qwen2_patch(engine):
    report = engine.patches
    model = engine._lm.model
    assert [r.name for r in report.results] == [p.name for p in patches.PATCHES]
    attention = layers_of(model, "Qwen2SdpaAttention", "Qwen2Attention")
    n = len(attention)
    assert n >= 2
    assert report.get("qwen2_attention").patched == n
    assert report.get("mlp").patched == n
    assert report.get("norm").patched == 2 * n + 1  # two per layer and the final one
    assert report.get("last_layer").patched == 1
    assert report.get("shared_rotary").patched == n - 1
    assert report.get("lowbit_linear").patched == len(layers_of(model, "LowBitLinear"))
    # the one patch for Qwen-1 finds nothing here, and says so
    assert report.fell_back == [report.get("qwen1_attention")]
    assert "nothing in this model" in report.get("qwen1_attention").why
    assert report.versions == patches.WRITTEN_FOR  # the verified stack
    lines = report.lines()
    assert f"qwen2_attention: {n} patched" in lines
    assert report.to_dict()["patches"][0]["name"] == "lowbit_linear"


def test_a_patch_whose_needs_are_missing_is_not_installed(tiny_quantized):
    model = lowbit_io.load(tiny_quantized.path, trust_remote_code=False)
    last = next(p for p in patches.PATCHES if p.name == "last_layer")
    report = patches.install(model, (last,))
    assert report.get("last_layer").patched == 0
    assert report.get("last_layer").why == "needs qwen2_attention or qwen1_attention"
    assert not any(forwards.is_ours(m) for m in model.modules())


def test_other_versions_fall_back_to_bigdl_and_still_answer(tiny_quantized, monkeypatch):
    """A bigdl-llm or transformers other than the one the patches were written for: nothing
    of theirs is replaced per module, every layer stays on bigdl-llm's bytes and kernel, and
    the report says why for each."""
    found = dict(patches.WRITTEN_FOR, transformers="9.9.9")
    monkeypatch.setattr(patches, "installed_versions", lambda: found)
    engine = BigdlEngine(tiny_quantized.path, threads=1, kv_cache_mb=0)
    engine.load()
    try:
        report = engine.patches
        assert all(r.patched == 0 for r in report.results)
        assert {r.why for r in report.results} == {"written for transformers 4.37.2, found 9.9.9"}
        model = engine._lm.model
        assert not any(forwards.is_ours(m) for m in model.modules())
        assert set(engine.plan.layers) == {"sym_int4:bigdl"} and engine.plan.mode == "bigdl"
        assert engine.decoder_note.startswith("bigdl-llm's forwards")
        reply = engine.chat(
            [ChatMessage("user", "hello")], GenerationParams(temperature=0, max_new_tokens=5)
        )
        assert reply.stats.generated_tokens > 0
    finally:
        engine.unload()


@pytest.mark.parametrize("patch", patches.PATCHES, ids=lambda p: p.name)
def test_every_patch_says_what_it_replaces_and_what_runs_instead(patch):
    assert patch.replaces and patch.fallback and patch.written_for == patches.WRITTEN_FOR
    for need in patch.needs:
        names = [p.name for p in patches.PATCHES]
        assert all(names.index(n) < names.index(patch.name) for n in need.split("|"))


def test_the_plan_counts_the_weight_bytes_a_decoded_token_reads(engine, tiny_quantized):
    """Every low-bit layer's bytes as stored (the embedding table aside: one row a token),
    read from the file, not from the layers: bench's roofline divides by this."""
    import math

    from safetensors import safe_open

    with safe_open(str(tiny_quantized.path / "model.safetensors"), "pt") as f:
        stored = sum(
            math.prod(f.get_slice(k).get_shape())
            for k in f.keys()
            if k != "model.embed_tokens.weight" and f.get_slice(k).get_dtype() == "U8"
        )
    assert stored > 0 and engine.plan.weight_bytes == stored
    assert engine.plan.to_dict()["weight_bytes"] == stored
