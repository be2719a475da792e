"""The real bigdl-llm path on a tiny model: load_low_bit, stream, stop, cancel, reuse."""

import threading

import pytest
import torch
from engine_probes import (
    assert_all_close,
    bigdl_forwards,
    count_kernel_calls,
    prompt_then_tokens,
    use_bigdl_forward,
)

from qwen_tui.engine.bigdl.engine import BigdlEngine
from qwen_tui.engine.generate.sampling import Sampler
from qwen_tui.engine.types import ChatMessage, GenerationParams
from qwen_tui.errors import EngineError, ModelIncomplete

GREEDY = GenerationParams(temperature=0, max_new_tokens=24, repetition_penalty=1.0)
HELLO = [ChatMessage("system", "You are a helpful assistant."), ChatMessage("user", "Hello!")]


@pytest.fixture
def engine(bigdl_engine):
    """This file tests bigdl-llm's engine (its modules, patches and torch loop)."""
    return bigdl_engine


def test_engine_loads_the_store_model(engine):
    info = engine.info
    assert info.family == "qwen2" and info.low_bit == "sym_int4"
    assert info.context_window == 4096
    assert info.defaults.top_k == 20 and info.defaults.max_new_tokens == 32
    layer = engine._lm.model.model.layers[0].mlp.gate_proj
    assert type(layer).__name__ == "LowBitLinear"
    rotaries = {id(layer.self_attn.rotary_emb) for layer in engine._lm.model.model.layers}
    assert len(rotaries) == 1  # one shared copy of the rotary tables


def test_greedy_reply_matches_transformers_generate(engine):
    streamed = []
    reply = engine.chat(HELLO, GREEDY, on_text=streamed.append)
    assert reply.stats.generated_tokens == 24 and reply.stats.finish_reason == "length"
    assert "".join(streamed) == reply.text
    builder = engine._builder
    ids = builder.encode(HELLO)
    with torch.inference_mode():
        out = engine._lm.model.generate(
            torch.tensor([ids]),
            max_new_tokens=24,
            do_sample=False,
            repetition_penalty=1.0,
            eos_token_id=list(builder.special.stop),
        )
    assert builder.decode(out[0, len(ids) :].tolist()) == reply.text


def test_generation_stops_on_a_stop_token(engine):
    lm, builder = engine._lm, engine._builder
    ids = builder.encode(HELLO)
    first = lm.run(
        ids, Sampler(GREEDY), 5, frozenset(), on_token=lambda t: None, cancel=threading.Event()
    )
    # the first token the reply had not produced before: generation stops right before it
    at = next(i for i, t in enumerate(first.new_ids) if i and t not in first.new_ids[:i])
    stopped = lm.run(
        ids,
        Sampler(GREEDY),
        5,
        frozenset({first.new_ids[at]}),
        on_token=lambda t: None,
        cancel=threading.Event(),
    )
    assert stopped.finish_reason == "stop"
    assert stopped.new_ids == first.new_ids[:at]


def test_cancel_stops_within_one_token_and_keeps_the_partial_reply(engine):
    full = engine.chat(HELLO, GREEDY).text
    cancel = threading.Event()
    seen = []

    def on_text(piece):
        seen.append(piece)
        if len(seen) == 3:
            cancel.set()

    reply = engine.chat(HELLO, GREEDY, on_text=on_text, cancel=cancel)
    assert reply.stopped and reply.stats.finish_reason == "cancelled"
    assert reply.stats.generated_tokens <= len(engine._builder.tokenizer.encode("".join(seen))) + 1
    assert full.startswith(reply.text) and 0 < len(reply.text) < len(full)


def test_engine_cancel_from_another_thread(engine):
    """Another thread cancels once the reply streams (a timer could fire after the native
    engine had written all 3,000 tokens of the tiny model)."""
    params = GenerationParams(temperature=0, max_new_tokens=3000)
    streaming = threading.Event()
    canceller = threading.Thread(target=lambda: streaming.wait(30) and engine.cancel())
    canceller.start()
    reply = engine.chat(HELLO, params, on_text=lambda _text: streaming.set())
    canceller.join()
    assert streaming.is_set()
    assert reply.stopped and reply.stats.generated_tokens < 3000


def test_seed_makes_sampling_repeatable(engine):
    params = GenerationParams(temperature=1.0, top_p=0.95, top_k=0, max_new_tokens=16, seed=7)
    a = engine.chat(HELLO, params).text
    b = engine.chat(HELLO, params).text
    c = engine.chat(HELLO, GenerationParams(**{**params.to_dict(), "seed": 8})).text
    assert a == b
    assert a != c


def load_engine(path, mode, monkeypatch):
    monkeypatch.setenv("QWEN_TUI_MATMUL", mode)
    eng = BigdlEngine(path, threads=1)
    eng.load()
    return eng


@pytest.fixture(params=["bigdl", "ours"])
def kernel_engine(request, tiny_quantized, monkeypatch):
    """One low-bit kernel for every row count (no BLAS path): results do not depend on
    batching. bigdl-llm's is called directly, never its dequantize switch for 512 rows."""
    from qwen_tui.engine import kernels

    if request.param == "ours" and not kernels.available():
        pytest.skip("our kernels are not built")
    eng = load_engine(tiny_quantized.path, request.param, monkeypatch)
    yield eng
    eng.unload()


def test_kv_cache_reuse_gives_identical_greedy_output(kernel_engine):
    engine = kernel_engine
    turns = ["Hello!", "Tell me more.", "你好", "And then?"]

    def conversation(key):
        messages = [ChatMessage("system", "Be brief.")]
        replies = []
        for text in turns:
            messages.append(ChatMessage("user", text))
            reply = engine.chat(messages, GREEDY, cache_key=key)
            replies.append(reply)
            messages.append(ChatMessage("assistant", reply.text))
        return replies

    fresh = conversation(None)
    reused = conversation("conv-1")
    assert [r.text for r in reused] == [r.text for r in fresh]
    assert reused[0].stats.reused_tokens == 0
    assert all(r.stats.reused_tokens > 0 for r in reused[1:])
    assert all(r.stats.reused_tokens == 0 for r in fresh)
    engine.forget("conv-1")


def test_changed_history_reuses_only_the_shared_prefix(kernel_engine):
    engine = kernel_engine
    first = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hello!")]
    a = engine.chat(first, GREEDY, cache_key="edit")
    edited = [ChatMessage("system", "Be brief."), ChatMessage("user", "Goodbye!")]
    b = engine.chat(edited, GREEDY, cache_key="edit")
    assert 0 < b.stats.reused_tokens < a.stats.prompt_tokens
    assert b.text == engine.chat(edited, GREEDY).text
    engine.forget("edit")


def test_window_fitting_reports_dropped_turns(engine):
    messages = []
    for i in range(30):
        messages += [
            ChatMessage("user", f"question {i} " * 8),
            ChatMessage("assistant", f"answer {i} " * 8),
        ]
    messages.append(ChatMessage("user", "last"))
    params = GenerationParams(temperature=0, max_new_tokens=3900)  # leaves ~196 prompt tokens
    cancel = threading.Event()
    reply = engine.chat(messages, params, on_text=lambda _: cancel.set(), cancel=cancel)
    assert reply.stats.dropped_turns > 0
    assert reply.stats.prompt_tokens <= 4096 - 3900


def test_max_new_tokens_larger_than_the_window_is_refused(engine):
    with pytest.raises(EngineError, match="no room"):
        engine.chat(HELLO, GenerationParams(max_new_tokens=5000))


def test_stats_are_filled(engine):
    stats = engine.chat(HELLO, GREEDY).stats
    assert stats.prompt_tokens == len(engine._builder.encode(HELLO))
    assert stats.time_to_first_token > 0 and stats.decode_tokens_per_s > 0
    assert stats.context_used == stats.prompt_tokens + stats.generated_tokens


def test_a_folder_without_manifest_is_not_loaded(tiny_quantized, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_quantized.path, broken)
    (broken / "qwen-tui-manifest.json").unlink()
    with pytest.raises(ModelIncomplete):
        BigdlEngine(broken).load()


def test_the_plan_is_the_engines_and_every_path_agrees(engine, tiny_quantized, monkeypatch):
    """bigdl's kernel, ours and dequantize + BLAS compute the same logits, up to rounding; each
    engine keeps its own plan (a second load does not change the first one's)."""
    from qwen_tui.engine import kernels
    from qwen_tui.engine.bigdl import matmul

    ours = "ours" if kernels.available() else "bigdl"
    assert engine.plan.mode == "auto"
    assert all(key.endswith((f":{ours}", ":embedding")) for key in engine.plan.layers)
    gate = engine._lm.model.model.layers[0].mlp.gate_proj
    modes = ["bigdl"] + (["ours", "dequant"] if kernels.available() else [])
    logits = {}
    for mode in modes:
        eng = load_engine(tiny_quantized.path, mode, monkeypatch)
        assert eng.plan.mode == mode
        layer = eng._lm.model.model.layers[0].mlp.gate_proj
        assert layer.__dict__[matmul.PATH] == mode
        assert (matmul.PACKED in layer.__dict__) == (mode != "bigdl")
        ids = eng._builder.encode([ChatMessage("user", "word " * 60)])
        with torch.inference_mode():
            logits[mode] = eng._lm.step(ids, None)[0]
        eng.unload()
    assert gate.__dict__[matmul.PATH] == ours  # the first engine's layers kept their path
    reference = logits["bigdl"]
    for mode, other in logits.items():
        if mode == "dequant":
            assert not torch.equal(reference, other)  # really a different path
        assert torch.allclose(reference, other, rtol=0.05, atol=0.05 * reference.abs().max())


def test_qwen2_attention_without_the_discarded_scores_is_bigdls(engine, monkeypatch):
    """Our CPU attention drops bigdl's unused score matrix; with a float32 cache it changes
    nothing else, and its float16 cache moves logits by rounding only."""
    from bigdl.llm.transformers.models import qwen2 as bigdl_qwen2

    ours = bigdl_qwen2.qwen2_sdpa_attention_forward
    assert getattr(ours, "qwen_tui", False)
    lm, builder = bigdl_forwards(engine), engine._builder
    ids = builder.encode([ChatMessage("user", "word " * 40)])

    def prompt_then_two_tokens():
        with torch.inference_mode():
            first, past = lm.step(ids, None)
            second, past = lm.step([5, 6], past)
            third, _ = lm.step([7], past)
        return first, second, third

    from qwen_tui.engine import kernels
    from qwen_tui.engine.bigdl.patches import layer_kv, qwen2_attention

    calls = []
    attend_rows = qwen2_attention.attend_rows
    monkeypatch.setattr(
        qwen2_attention, "attend_rows", lambda *a: calls.append(1) or attend_rows(*a)
    )
    with_half_cache = prompt_then_two_tokens()
    layers = len(lm.model.model.layers)
    assert len(calls) == (3 * layers if kernels.float_kernels() else 0)  # prompt, both steps
    monkeypatch.setattr(layer_kv, "CACHE_DTYPE", "float32")  # bigdl-llm's cache
    with_ours = prompt_then_two_tokens()
    assert len(calls) == (6 * layers if kernels.float_kernels() else 0)
    original = ours.__wrapped__  # bigdl-llm's own
    monkeypatch.setattr(bigdl_qwen2, "qwen2_sdpa_attention_forward", original)
    with_bigdl = prompt_then_two_tokens()
    for a, b, c in zip(with_ours, with_bigdl, with_half_cache, strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5)
        assert not torch.equal(a, c)  # the float16 cache really rounds
        assert torch.allclose(a, c, rtol=0, atol=0.03 * a.abs().max())


def test_projections_of_one_input_share_a_kernel_call(kernel_engine, monkeypatch):
    """q/k/v and gate/up each go to the kernel in one call, down takes silu(gate) * up as its
    two factors; logits equal bigdl-llm's MLP."""
    from qwen_tui.engine.bigdl import matmul

    lm, builder = bigdl_forwards(kernel_engine), kernel_engine._builder
    mlps = [layer.mlp for layer in lm.model.model.layers]
    assert all(hasattr(mlp, "qwen_tui_forward") for mlp in mlps)  # installed at load
    ids = builder.encode([ChatMessage("user", "word " * 20)])
    calls = count_kernel_calls(monkeypatch)
    ours = prompt_then_tokens(lm, ids, [7])
    fast = mlps[0].gate_proj.__dict__[matmul.PATH] == "ours"
    assert fast == (kernel_engine.plan.mode == "ours")
    expected = (2 * len(mlps),) * 3 if fast else (0, 0, 0)
    assert (calls.count(3), calls.count(2), calls.count("gated")) == expected
    use_bigdl_forward(monkeypatch, mlps)  # llama_mlp_forward
    assert_all_close(ours, prompt_then_tokens(lm, ids, [7]), 1e-5)


def test_rms_norm_in_one_call_is_bigdls(kernel_engine, monkeypatch):
    """Every RMSNorm (two per layer and the final one) is our kernel; logits as bigdl-llm's."""
    from qwen_tui.engine import kernels

    lm, builder = bigdl_forwards(kernel_engine), kernel_engine._builder
    norms = [m for m in lm.model.modules() if type(m).__name__ == "Qwen2RMSNorm"]
    assert len(norms) == 2 * len(lm.model.model.layers) + 1
    assert all(hasattr(n, "qwen_tui_forward") for n in norms) == kernels.float_kernels()
    x = torch.randn(3, 5, norms[0].weight.shape[0])
    with torch.inference_mode():
        assert torch.allclose(norms[0](x), norms[0].qwen_tui_forward(x), rtol=1e-5, atol=1e-6)
    ids = builder.encode([ChatMessage("user", "word " * 20)])
    ours = prompt_then_tokens(lm, ids, [7])
    use_bigdl_forward(monkeypatch, norms)
    assert_all_close(ours, prompt_then_tokens(lm, ids, [7]), 1e-4)


def test_the_last_layer_computes_only_the_sampled_position(kernel_engine, monkeypatch):
    """Same logits, bit for bit, as the whole last layer; its cache still gets every position."""
    lm, builder = bigdl_forwards(kernel_engine), kernel_engine._builder
    last = lm.model.model.layers[-1]
    assert hasattr(last, "qwen_tui_forward")
    ids = builder.encode([ChatMessage("user", "word " * 20)])
    with torch.inference_mode():
        out = lm.body(input_ids=torch.tensor([ids]), use_cache=True, return_dict=True)
    assert out.last_hidden_state.shape[1] == 1
    past = out.past_key_values  # legacy tuples or a Cache object
    last_keys = past.key_cache[-1] if hasattr(past, "key_cache") else past[-1][0]
    assert last_keys.shape[2] == len(ids)
    ours = prompt_then_tokens(lm, ids, [7, 8])
    use_bigdl_forward(monkeypatch, [last])  # transformers' own decoder layer
    theirs = prompt_then_tokens(lm, ids, [7, 8])
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)


def test_long_message_after_a_kept_cache(kernel_engine):
    """400 new positions on a kept cache: more than the 256 spare ones are allocated."""
    engine = kernel_engine
    first = [ChatMessage("user", "Hello!")]
    a = engine.chat(first, GREEDY, cache_key="long")
    second = first + [ChatMessage("assistant", a.text), ChatMessage("user", "word " * 400)]
    b = engine.chat(second, GREEDY, cache_key="long")
    assert b.stats.reused_tokens > 0
    assert b.stats.prompt_tokens - b.stats.reused_tokens > 300
    assert b.text == engine.chat(second, GREEDY).text
    engine.forget("long")
