"""Qwen3.5's float reference (numpy, from the source) against transformers 5.25's own Qwen3.5:
tests/fixtures/qwen35_reference holds a tiny random Qwen3.5 saved by it with what it computed
(make.py says how). The prompt in one pass, the same prompt a token at a time on the carried
conv window and delta-rule state (the C decoder's reference, eval/float_decoder.py), a prompt
of two chunks, and the states after the prompt; and the delta rule's two forms agree."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from qwen_tui.eval.float_decoder import FloatDecoder
from qwen_tui.eval.float_deltanet import delta_rule, delta_rule_chunked, l2_norm
from qwen_tui.eval.float_reference import open_reference

FIXTURE = Path(__file__).parent.parent / "fixtures" / "qwen35_reference"
LINEAR_LAYERS = (0, 1, 3)  # the fixture's layer_types: linear, linear, full, linear


@pytest.fixture(scope="module")
def recorded():
    return load_file(str(FIXTURE / "reference.safetensors"))


def close(got, want, tol=1e-4):
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


def test_the_prompt_gives_transformers_logits(recorded):
    ref = open_reference(FIXTURE)
    assert ref.dims.layer_types[2] == "full_attention" and ref.dims.tied
    got = ref.logits(recorded["ids"].tolist())
    assert got.dtype == np.float32
    close(got, recorded["logits"])


def test_a_token_at_a_time_gives_the_same_logits_and_states(recorded):
    """The decode form: one token per step, the conv window and the delta rule's state carried
    (the recurrent rule), keys and values kept for the full-attention layer."""
    decoder = FloatDecoder(open_reference(FIXTURE))
    steps = np.stack([decoder.step(t) for t in recorded["ids"].tolist()])
    close(steps, recorded["decode_logits"])
    close(steps, recorded["logits"])
    for i in LINEAR_LAYERS:
        # transformers keeps the last K inputs [channels, K]; the step needs the last K-1
        close(decoder.cache[i].window, recorded[f"conv_state.{i}"][:, 1:].T)
        close(decoder.cache[i].state, recorded[f"recurrent_state.{i}"])
    assert decoder.cache[2].keys.shape == (len(recorded["ids"]), 2, 32)


def test_a_prompt_fed_in_pieces_continues_where_it_stopped(recorded):
    """Token by token, then a chunked piece from that state, then more: as a conversation's
    next turn is fed after the last (the chunked piece's state carries on)."""
    ids = recorded["ids"].tolist()
    decoder = FloatDecoder(open_reference(FIXTURE))
    pieces = [decoder.feed(ids[:5]), decoder.feed(ids[5:12], chunked=True), decoder.feed(ids[12:])]
    close(np.concatenate(pieces), recorded["logits"])


def test_a_prompt_of_two_chunks(recorded):
    """70 tokens: the chunked rule's second chunk starts from the first one's state."""
    ref = open_reference(FIXTURE)
    close(ref.hidden(recorded["long_ids"].tolist()), recorded["long_hidden"])


def test_the_delta_rule_chunked_equals_token_by_token():
    rng = np.random.default_rng(3)
    n, heads, dk, dv = 150, 3, 8, 5
    q = l2_norm(rng.standard_normal((n, heads, dk)).astype(np.float32)) / np.float32(dk**0.5)
    k = l2_norm(rng.standard_normal((n, heads, dk)).astype(np.float32))
    v = rng.standard_normal((n, heads, dv)).astype(np.float32)
    g = -rng.uniform(0.01, 1.0, (n, heads)).astype(np.float32)
    beta = rng.uniform(0.0, 1.0, (n, heads)).astype(np.float32)
    start = rng.standard_normal((heads, dk, dv)).astype(np.float32)
    out, state = delta_rule(q, k, v, g, beta, start)
    for chunk in (64, 7):
        got, got_state = delta_rule_chunked(q, k, v, g, beta, start, chunk)
        close(got, out, 1e-5)
        close(got_state, state, 1e-5)
    assert np.abs(out).max() > 0.1 and not np.allclose(state, start)


def multimodal(tmp_path: Path) -> Path:
    """The fixture as the released checkpoints lay it out: the text model's settings under
    text_config, its tensors under model.language_model., a vision tower and an MTP layer
    beside them (tensors the model does not run)."""
    folder = tmp_path / "vl"
    folder.mkdir()
    text = json.loads((FIXTURE / "config.json").read_text())
    tied = text["tie_word_embeddings"]
    config = {"architectures": ["Qwen3_5ForConditionalGeneration"], "model_type": "qwen3_5",
              "text_config": {**text, "tie_word_embeddings": False},  # the outer one counts
              "vision_config": {"model_type": "qwen3_5_vision", "depth": 1},
              "tie_word_embeddings": tied}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    weights = load_file(str(FIXTURE / "model.safetensors"))
    moved = {k.replace("model.", "model.language_model.", 1): v for k, v in weights.items()}
    extra = np.ones((4, 64), np.float32)
    moved |= {"model.visual.blocks.0.attn.qkv.weight": extra, "mtp.fc.weight": extra,
              "mtp.layers.0.self_attn.q_proj.weight": extra}  # fmt: skip
    save_file(moved, str(folder / "model.safetensors"))
    return folder


def test_a_released_checkpoints_layout_gives_the_same_logits(recorded, tmp_path):
    ref = open_reference(multimodal(tmp_path))
    assert ref.dims.lm_prefix == "model.language_model." and ref.dims.tied
    assert ref.family.skips("model.visual.blocks.0.attn.qkv.weight")
    assert ref.family.skips("mtp.fc.weight") and not ref.family.skips("model.norm.weight")
    close(ref.logits(recorded["ids"].tolist()), recorded["logits"])


def test_a_broken_fixture_is_caught(recorded, tmp_path):
    """The check can fail: the same model with one layer's decay rates changed."""
    folder = tmp_path / "changed"
    shutil.copytree(FIXTURE, folder)
    weights = load_file(str(folder / "model.safetensors"))
    weights["model.layers.3.linear_attn.A_log"] = weights["model.layers.3.linear_attn.A_log"] + 1
    save_file(weights, str(folder / "model.safetensors"))
    got = open_reference(folder).logits(recorded["ids"].tolist())
    assert np.abs(got - recorded["logits"]).max() > 1e-2


def test_each_layers_output_is_the_recorded_hidden_state(recorded):
    """hidden.0 is the embedding, hidden.{i+1} layer i's output (the residual stream), and the
    last one is after the final norm: where a later kernel's layer can be compared alone."""
    from qwen_tui.eval.float_layers import rotary_tables

    ref = open_reference(FIXTURE)
    ids = recorded["ids"].tolist()
    d = ref.dims
    h = ref._embed(ids)
    close(h, recorded["hidden.0"])
    cos, sin = rotary_tables(d.rope_dim, d.rope_base, len(ids))
    for i in range(d.layers - 1):
        h = ref._block(h, i, cos, sin, None, True)
        close(h, recorded[f"hidden.{i + 1}"])
    close(ref.hidden(ids), recorded[f"hidden.{d.layers}"])
