"""Qwen3.5 on the native engine: the tiny fixture (tests/fixtures/qwen35_reference) quantized
by the streaming quantizer in every recipe, from a text-only save and from the released
checkpoints' layout, and run by our C decoder (engine/native/hybrid.py): its logits against
transformers' float logits recorded in the fixture, the decoder against eval's float functions
on the same quantized matmuls, and prompts against the same tokens decoded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qwen35_fixture import chat_folder, recorded

from qwen_tui.engine import kernels
from qwen_tui.engine.kernels.numpy_api import dequantize_rows, matmul
from qwen_tui.engine.native import model as dense
from qwen_tui.engine.native.hybrid import HybridModel, open_model
from qwen_tui.engine.open import open_engine
from qwen_tui.eval.float_deltanet import DeltaNetWeights, LinearState, deltanet_mix, sigmoid
from qwen_tui.eval.float_layers import causal_attention, rms_norm, rotary_tables, rotate, silu
from qwen_tui.eval.metrics import scores
from qwen_tui.families import LINEAR
from qwen_tui.recipes import RECIPES
from qwen_tui.store.quantize import quantize_folder

pytestmark = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the native engine needs AVX2, which this CPU lacks"
)
# measured (KL of the fixture's float logits to ours, top-1 agreement, over 18 positions):
# sym_int8 0.008 / 0.95, mixed_int5 0.028 / 0.74, sym_int5 0.22 / 0.42, sym_int4 0.49 / 0.11,
# asym_int4 0.51 / 0.16. This random model is far touchier than a trained one (on it, int8
# weights alone move the logits by 0.6 where they reach 4.6), so the 4-bit bounds say little:
# norms without their 1 + w give KL 0.68 and top-1 0 on sym_int8. The decoder itself is held
# to 1e-5 below (test_the_decoder_computes_the_float_functions_on_the_same_matmuls).
BOUNDS = {"sym_int8": (0.02, 0.85), "mixed_int5": (0.06, 0.65), "sym_int5": (0.3, 0.25)}
OTHERS = (0.7, 0.0)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return chat_folder(tmp_path_factory.mktemp("qwen35"))


@pytest.fixture(scope="module")
def stored(source, tmp_path_factory):
    root, done = tmp_path_factory.mktemp("store"), {}

    def quantized(recipe: str):
        if recipe not in done:
            done[recipe] = quantize_folder(source, "q35", recipe, root=root, measure=False)
        return done[recipe]

    return quantized


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_every_recipe_runs_close_to_transformers_float_model(recipe, stored):
    model = stored(recipe)
    assert model.manifest.family == "qwen35"
    engine = open_engine(model.path, threads=2)
    engine.load()
    try:
        assert engine.engine_note == "native" and isinstance(engine.model, HybridModel)
        ids = recorded()["ids"].tolist()
        prompt = engine.score(ids, "prompt")
        # the same float operations whichever way a position is fed: bit for bit
        assert np.array_equal(engine.score(ids, "decode"), prompt)
        got = scores(prompt, ids, recorded()["logits"])
        kl, top1 = BOUNDS.get(recipe, OTHERS)
        assert got.kl < kl and got.top1 >= top1, (recipe, got)
    finally:
        engine.unload()


def test_the_default_recipe_keeps_the_deltanet_projections_at_8_bits(stored):
    modules = json.loads((stored("mixed_int5").path / "qwen-tui-lowbit.json").read_text())
    modules = modules["modules"]
    for part in ("linear_attn.in_proj_qkv", "linear_attn.in_proj_z", "linear_attn.out_proj"):
        assert modules[f"model.layers.0.{part}"] == "sym_int8"
    assert modules["model.layers.0.mlp.up_proj"] == "sym_int5"
    assert "model.layers.0.linear_attn.in_proj_a" not in modules  # float32, as A_log and conv


def test_a_released_checkpoints_layout_stores_the_same_model(stored, tmp_path):
    released = chat_folder(tmp_path / "released", released=True)
    model = quantize_folder(released, "vl", "sym_int8", root=tmp_path / "store", measure=False)
    text = stored("sym_int8")
    assert (model.path / "model.safetensors").read_bytes() == (
        text.path / "model.safetensors"
    ).read_bytes()
    engine = open_engine(model.path, threads=1)
    engine.load()
    try:
        ids = recorded()["ids"].tolist()
        assert engine.model.layout.numbers.rope_base == 1e7  # from text_config's rope_parameters
        assert engine.info.context_window == 4096  # its max_position_embeddings
        assert np.array_equal(engine.score(ids), open_engine_scores(text.path, ids))
    finally:
        engine.unload()


def open_engine_scores(path, ids):
    engine = open_engine(path, threads=1)
    engine.load()
    try:
        return engine.score(ids)
    finally:
        engine.unload()


def test_the_decoder_computes_the_float_functions_on_the_same_matmuls(stored):
    """Our quantized matmuls (the same calls on the same bytes) with eval's float layers in
    between: zero-centred norms, the gated attention with partial rotary over a float16 cache,
    the Gated DeltaNet token by token. What is left is float rounding."""
    model = open_model(stored("sym_int8").path, threads=1)
    d, floats, packed = model.layout.dims, model.weights.floats, model.weights.packed
    ids = recorded()["ids"].tolist()
    n = len(ids)

    def mm(x, name):
        return matmul(np.ascontiguousarray(x, np.float32), packed[name], 1)

    h = dequantize_rows(model.embed, np.array(ids, np.int64))
    cos, sin = rotary_tables(d.rope_dim, d.rope_base, n)
    for i in range(d.layers):
        w = {t.role: t.name for t in model.layout.tensors if t.layer == i}
        x = rms_norm(h, floats[w["attn_norm"]] + 1, d.eps)
        if d.kind(i) == LINEAR:
            weights = DeltaNetWeights(
                floats[w["ssm_conv1d"]].reshape(d.linear_conv_dim, -1), floats[w["ssm_a"]],
                floats[w["ssm_dt"]], floats[w["ssm_norm"]], d.linear_k_heads, d.linear_k_dim,
                d.linear_v_dim, d.eps,
            )  # fmt: skip
            state = LinearState.empty(d.linear_conv_dim, d.conv_kernel, d.linear_v_heads,
                                      d.linear_k_dim, d.linear_v_dim)  # fmt: skip
            a, b = x @ floats[w["ssm_alpha"]].T, x @ floats[w["ssm_beta"]].T
            mixed, _ = deltanet_mix(mm(x, w["attn_qkv"]), mm(x, w["attn_gate"]), a, b, weights,
                                    state, chunked=False)  # fmt: skip
            out = mm(mixed, w["ssm_out"])
        else:
            q = mm(x, w["attn_q"]).reshape(n, d.heads, 2 * d.head_dim)
            q, gate = q[..., : d.head_dim], q[..., d.head_dim :].reshape(n, d.q_dim)
            k = mm(x, w["attn_k"]).reshape(n, d.kv_heads, d.head_dim)
            v = mm(x, w["attn_v"]).reshape(n, d.kv_heads, d.head_dim)
            q = rotate(rms_norm(q, floats[w["attn_q_norm"]] + 1, d.eps), cos, sin)
            k = rotate(rms_norm(k, floats[w["attn_k_norm"]] + 1, d.eps), cos, sin)
            half = [t.astype(np.float16).astype(np.float32) for t in (k, v)]
            out = mm(causal_attention(q, *half) * sigmoid(gate), w["attn_o"])
        h = h + out
        x = rms_norm(h, floats[w["ffn_norm"]] + 1, d.eps)
        h = h + mm(silu(mm(x, w["ffn_gate"])) * mm(x, w["ffn_up"]), w["ffn_down"])
    want = rms_norm(h, floats["model.norm.weight"] + 1, d.eps)
    got = model.hidden(ids, model.new_cache(), last_only=False)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_a_prompt_in_pieces_and_chunks_is_the_same_prompt(stored, monkeypatch):
    """Split anywhere (the last token alone, chunks of 3, snapshots in between), fed after a
    restored snapshot: the same hidden states bit for bit."""
    model = open_model(stored("mixed_int5").path, threads=2)
    model.turn_token = 1  # <|im_start|>
    ids = recorded()["long_ids"].tolist()
    whole = model.hidden(ids, model.new_cache(), last_only=False)
    cache = model.new_cache()
    pieces = [model.hidden(ids[:30], cache, last_only=False)]
    monkeypatch.setattr(dense, "CHUNK", 3)
    pieces.append(model.hidden(ids[30:], cache, last_only=False))
    assert np.array_equal(np.concatenate(pieces), whole)
    assert set(cache.snapshots) == {29, 69}  # before each piece's last token
    back = cache.cropped(50)  # between snapshots: back to 29, fed again from there
    assert back.length == 29 and set(back.snapshots) == {29}
    again = model.hidden(ids[29:], back, last_only=False)
    assert np.array_equal(again, whole[29:])
    last = model.hidden(ids, model.new_cache())  # the last row only
    assert np.array_equal(last, whole[-1:])


def test_snapshots_are_bounded_and_a_restored_one_is_copied(stored):
    model = open_model(stored("sym_int8").path, threads=1)
    model.turn_token = 7
    ids = [7, 20, 7, 21, 7, 22, 7, 23, 7, 24, 7, 25, 30]  # six turns opened, then a token
    cache = model.new_cache()
    model.hidden(ids, cache)
    assert sorted(cache.snapshots) == [6, 8, 10, 12]  # the last SNAPSHOTS marks
    kept = [(w.copy(), s.copy()) for w, s in cache.snapshots[8]]
    back = cache.cropped(9)
    assert back.length == 8 and sorted(back.snapshots) == [6, 8]
    model.hidden([40, 41, 42], back)
    for (w, s), (w0, s0) in zip(cache.snapshots[8], kept, strict=True):  # never written
        assert np.array_equal(w, w0) and np.array_equal(s, s0)
    assert cache.length == len(ids) and back.length == 11


def test_every_instruction_set_and_thread_count_gives_the_same_bits(stored, monkeypatch):
    """The matmuls' variants agree bit for bit, and the float kernels have one (AVX2): so does
    the whole model, however many threads split the heads and rows."""
    model = open_model(stored("mixed_int5").path, threads=1)
    ids = recorded()["ids"].tolist()
    results = []
    try:
        for isa in kernels.supported_isas():
            monkeypatch.setenv(kernels.ISA_ENV, isa)
            kernels.chosen_isa.cache_clear()
            assert kernels.chosen_isa().name == isa
            for threads in (1, 2):
                model.threads = threads
                results.append(model.logits(model.hidden(ids, model.new_cache(), False)))
    finally:
        monkeypatch.undo()
        kernels.chosen_isa.cache_clear()
    assert len(results) >= 4 and all(np.array_equal(r, results[0]) for r in results)


def test_every_pointer_the_hybrid_decoder_gets_is_checked_first(stored):
    from qwen_tui.engine.kernels import KernelError

    model = open_model(stored("sym_int8").path, threads=1)
    decoder, s = model.decoder, model.hybrid_shape
    cache = model.new_cache()
    cache.reserve(4)
    states = cache.states()
    h = np.zeros((2, s.hidden), np.float32)
    cos, sin = model.rotary.covering(4)
    good = dict(
        h=h, past=0, positions=np.arange(2, dtype=np.int64), tables=(cos, sin), states=states,
        last_only=True, scratch=np.empty(decoder.scratch_floats(2), np.float32), threads=1,
    )  # fmt: skip
    window, state = states[0]
    keys, values = states[2]
    wrong = {
        "h must be float32": {"h": h.astype(np.float64)},
        "rotary tables must be 8 wide": {"tables": (np.zeros((4, 32), np.float32),) * 2},
        "outside the": {"positions": np.array([0, cos.shape[0]], np.int64)},
        "window must have the shape": {"states": [(window[:2], state), *states[1:]]},
        "state must be float32": {"states": [(window, state.astype(np.float64)), *states[1:]]},
        "keys must have the shape": {"states": [*states[:2], (keys[:1], values), states[3]]},
        "values must be float16": {"states": [*states[:2], (keys, values.astype(np.float32)),
                                              states[3]]},
        "do not fit a cache": {"past": cache.capacity - 1},
        "scratch is too small": {"scratch": np.empty(10, np.float32)},
        "must have 4 layers": {"states": states[:3]},
    }  # fmt: skip
    for complaint, change in wrong.items():
        with pytest.raises(KernelError, match=complaint):
            decoder.decode(**{**good, **change})
    decoder.decode(**good)  # and the right arrays run


def test_the_store_is_refused_where_the_layout_does_not_fit(stored, tmp_path):
    import shutil

    from qwen_tui.engine.native.layout import NativeUnsupported, read_layout

    store = shutil.copytree(stored("sym_int8").path, tmp_path / "q35-sym_int8")
    config = json.loads((store / "config.json").read_text())
    (store / "config.json").write_text(json.dumps({**config, "linear_value_head_dim": 12}))
    with pytest.raises(NativeUnsupported, match="not a multiple of 8 wide"):
        read_layout(store)


def test_the_estimates_count_what_a_conversation_cache_holds(stored):
    """sizes.py's KV per position counts only the full-attention layers, and its fixed part the
    recurrent states with every snapshot: a cache at its most snapshots, its keys and values
    cut to what is used, holds exactly that."""
    from qwen_tui.engine.native import hybrid_cache
    from qwen_tui.sizes import SNAPSHOTS, kv_bytes_per_token, recurrent_bytes

    assert SNAPSHOTS == hybrid_cache.SNAPSHOTS
    model = open_model(stored("sym_int8").path, threads=1)
    model.turn_token = 7
    ids = [7, 20, 7, 21, 7, 22, 7, 23, 7, 24, 7, 25, 30]
    cache = model.new_cache()
    model.hidden(ids, cache)
    used = cache.cropped(cache.length)  # capacity cut to the positions used
    dims = model.layout.dims
    assert len(used.snapshots) == SNAPSHOTS
    assert used.nbytes == kv_bytes_per_token(dims) * len(ids) + recurrent_bytes(dims)
