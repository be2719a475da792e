"""Qwen-1 (remote code, QWenTokenizer) through our store and engine, end to end."""

import importlib.util

import pytest
import torch
from engine_probes import (
    assert_all_close,
    bigdl_forwards,
    count_kernel_calls,
    prompt_then_tokens,
    use_bigdl_forward,
)
from qwen1_fixture import build_tiny_qwen1

from qwen_tui.engine.bigdl.engine import BigdlEngine
from qwen_tui.engine.generate.detok import REPLACEMENT
from qwen_tui.engine.types import ChatMessage, GenerationParams
from qwen_tui.store.quantize import quantize_folder

GREEDY = GenerationParams(temperature=0, max_new_tokens=16, repetition_penalty=1.0)


@pytest.fixture(scope="module")
def qwen1_source(tmp_path_factory):
    return build_tiny_qwen1(tmp_path_factory.mktemp("qwen1-src"))


@pytest.fixture(scope="module")
def qwen1_engine(qwen1_source, tmp_path_factory):
    # a Qwen-1 folder needs no --trust-remote-code: it runs on our own code, not the folder's
    model = quantize_folder(qwen1_source, "q1", root=tmp_path_factory.mktemp("store"))
    assert model.manifest.family == "qwen" and not model.manifest.remote_code
    stored = {f.name for f in model.manifest.files}
    assert "qwen.tiktoken" in stored and not any(n.endswith(".py") for n in stored)
    engine = BigdlEngine(model.path, threads=1)
    engine.load()
    yield engine
    engine.unload()


def make_context(source):
    """Qwen-1's own prompt builder from the vendored qwen_generation_utils.py."""
    spec = importlib.util.spec_from_file_location("qgu", source / "qwen_generation_utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_context


def test_prompt_matches_qwen1_make_context(qwen1_engine, qwen1_source):
    tok = qwen1_engine._builder.tokenizer
    history = [("你好", "你好！有什么可以帮你？"), ("Say <|im_end|> please", "ok")]
    query = "最后一个问题 😀"
    _, expected = make_context(qwen1_source)(
        tok, query, history=history, system="Be brief.", max_window_size=6144
    )
    messages = [ChatMessage("system", "Be brief.")]
    for q, r in history:
        messages += [ChatMessage("user", q), ChatMessage("assistant", r)]
    messages.append(ChatMessage("user", query))
    ids = qwen1_engine._builder.encode(messages)
    assert ids == expected
    # typed marker text stays text: only the real turn markers are special tokens
    assert ids.count(tok.im_end_id) == 6


def test_a_qwen1_model_gets_every_qwen1_patch(qwen1_engine):
    """The patch registry on Qwen-1: its attention, MLP, norms and last block; Qwen2's
    attention and shared rotary tables do not apply and say so."""
    report = qwen1_engine.patches
    model = qwen1_engine._lm.model
    blocks = [m for m in model.modules() if type(m).__name__ == "QWenBlock"]
    assert report.get("qwen1_attention").patched == len(blocks) >= 2
    assert report.get("mlp").patched == len(blocks)
    assert report.get("norm").patched == 2 * len(blocks) + 1
    assert report.get("last_layer").patched == 1  # needs qwen1_attention, installed before
    assert {r.name for r in report.fell_back} == {"qwen2_attention", "shared_rotary"}


def test_qwen1_window_comes_from_generation_config(qwen1_engine):
    info = qwen1_engine.info
    assert info.family == "qwen" and info.context_window == 6144
    assert info.defaults.top_p == 0.8 and info.defaults.repetition_penalty == 1.1
    assert info.defaults.max_new_tokens == 512
    stops = qwen1_engine._builder.special.stop
    tok = qwen1_engine._builder.tokenizer
    assert {tok.im_end_id, tok.eod_id} <= stops


def test_qwen1_greedy_chat_matches_generate(qwen1_engine):
    messages = [ChatMessage("user", "你好")]
    reply = qwen1_engine.chat(messages, GREEDY)
    builder = qwen1_engine._builder
    ids = builder.encode([ChatMessage("system", "You are a helpful assistant."), *messages])
    with torch.inference_mode():
        out = qwen1_engine._lm.model.generate(
            torch.tensor([ids]),
            max_new_tokens=16,
            do_sample=False,
            repetition_penalty=1.0,
            top_p=None,
            top_k=None,
            eos_token_id=list(builder.special.stop),
        )
    generated = out[0, len(ids) :].tolist()
    generated = [t for t in generated if t not in builder.special.stop]
    assert builder.decode(generated) == reply.text


def test_qwen1_streams_valid_text_and_reuses_the_cache(qwen1_engine):
    pieces = []
    first = [ChatMessage("user", "你好")]
    a = qwen1_engine.chat(first, GREEDY, on_text=pieces.append, cache_key="q")
    assert "".join(pieces) == a.text
    second = first + [ChatMessage("assistant", a.text), ChatMessage("user", "再说一遍")]
    b = qwen1_engine.chat(second, GREEDY, cache_key="q")
    assert b.stats.reused_tokens > a.stats.prompt_tokens // 2
    assert b.text == qwen1_engine.chat(second, GREEDY).text
    qwen1_engine.forget("q")


def test_qwen1_cancel(qwen1_engine):
    import threading

    cancel = threading.Event()
    reply = qwen1_engine.chat(
        [ChatMessage("user", "hi")],
        GenerationParams(temperature=0, max_new_tokens=400),
        on_text=lambda _: cancel.set(),
        cancel=cancel,
    )
    assert reply.stopped and reply.stats.generated_tokens <= 3


def test_qwen1_tokens_stream_as_whole_characters(qwen1_engine):
    from qwen_tui.engine.generate.detok import IncrementalDecoder

    builder = qwen1_engine._builder
    text = "中文流式输出，不要乱码 😀🚀 done"
    ids = builder.tokenizer.encode(text)
    assert any(REPLACEMENT in builder.decode([i]) for i in ids)
    decoder = IncrementalDecoder(builder.decode)
    pieces = [decoder.push(i) for i in ids] + [decoder.flush()]
    assert "".join(pieces) == text and not any(REPLACEMENT in p for p in pieces)


def test_qwen1_attention_is_bigdls_with_a_float16_cache(qwen1_engine, monkeypatch):
    """Our forward (one q/k/v call, rotary and attention kernels) for a prompt, a token and a
    second prompt on the cache: with a float32 cache it equals bigdl-llm's forward and the
    remote code's _attn; the float16 cache holds exactly those keys and values, rounded."""
    from qwen_tui.engine.bigdl import matmul
    from qwen_tui.engine.bigdl.patches import layer_kv, qwen1_attention

    lm, builder = bigdl_forwards(qwen1_engine), qwen1_engine._builder
    layers = [m for m in lm.model.modules() if type(m).__name__ == "QWenAttention"]
    assert layers and all(hasattr(m, "qwen_tui_forward") for m in layers)  # installed at load
    ids = builder.encode([ChatMessage("user", "你好，" * 20)])

    def prompt_token_prompt():
        with torch.inference_mode():
            first, past = lm.step(ids, None)
            second, past = lm.step([100], past)
            third, past = lm.step([200, 300, 400], past)
        assert past[0][0].shape[1] == len(ids) + 4
        return (first, second, third), past[0]

    calls = count_kernel_calls(monkeypatch)
    rows = []
    attend_rows = qwen1_attention.attend_rows
    monkeypatch.setattr(
        qwen1_attention,
        "attend_rows",
        lambda q, k, v: rows.append(q.shape[2]) or attend_rows(q, k, v),
    )
    _, half_cache = prompt_token_prompt()
    fast = layers[0].q_proj.__dict__[matmul.PATH] == "ours"
    assert calls.count(3) == (3 * len(layers) if fast else 0)  # q, k and v in one call
    # every layer but the last attends every new row; the last one only the sampled row
    n = len(layers)
    assert rows == [len(ids)] * (n - 1) + [1] + [1] * n + [3] * (n - 1) + [1]
    monkeypatch.setattr(layer_kv, "CACHE_DTYPE", "float32")  # bigdl-llm's cache
    with_ours, full_cache = prompt_token_prompt()
    use_bigdl_forward(monkeypatch, layers)  # bigdl-llm's forward and the remote code's _attn
    with_bigdl, _ = prompt_token_prompt()
    assert_all_close(with_ours, with_bigdl, 1e-5)
    # the first layer's keys and values (same input either way) are the float32 ones, rounded;
    # with random weights the rounding's effect on logits says nothing about a real model's
    for half, full in zip(half_cache, full_cache, strict=True):
        assert half.dtype == torch.float16 and full.dtype == torch.float32
        assert torch.equal(half, full.half())


def test_qwen1_last_block_computes_only_the_sampled_position(qwen1_engine, monkeypatch):
    """Same logits, bit for bit, as the remote code's whole last block; its cache still gets
    every position."""
    lm, builder = bigdl_forwards(qwen1_engine), qwen1_engine._builder
    last = lm.model.transformer.h[-1]
    assert hasattr(last, "qwen_tui_forward")
    ids = builder.encode([ChatMessage("user", "你好，" * 20)])
    mlp_rows = []
    monkeypatch.setattr(
        last.mlp, "forward", lambda x, f=last.mlp.forward: mlp_rows.append(x.shape[1]) or f(x)
    )
    ours = prompt_then_tokens(lm, ids, [7, 8])
    assert mlp_rows == [1, 1, 1]  # the prompt's last position, then each token
    with torch.inference_mode():
        _, past = lm.step(ids, None)
    assert past[-1][0].shape[1] == len(ids)
    use_bigdl_forward(monkeypatch, [last])  # the remote code's QWenBlock.forward
    theirs = prompt_then_tokens(lm, ids, [7, 8])
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)


def test_qwen1_mlp_projections_share_a_kernel_call(qwen1_engine, monkeypatch):
    """w2 and w1 read the same input: one kernel call; c_proj takes w1(x) * silu(w2(x)) as its
    two factors; logits equal bigdl-llm's qwen_mlp_forward."""
    from qwen_tui.engine.bigdl import matmul

    lm, builder = bigdl_forwards(qwen1_engine), qwen1_engine._builder
    mlps = [m for m in lm.model.modules() if type(m).__name__ == "QWenMLP"]
    assert mlps and all(hasattr(mlp, "qwen_tui_forward") for mlp in mlps)
    ids = builder.encode([ChatMessage("user", "你好，" * 10)])
    calls = count_kernel_calls(monkeypatch)
    ours = prompt_then_tokens(lm, ids, [100])
    fast = mlps[0].w1.__dict__[matmul.PATH] == "ours"
    assert calls.count(2) == calls.count("gated") == (2 * len(mlps) if fast else 0)
    use_bigdl_forward(monkeypatch, mlps)
    assert_all_close(ours, prompt_then_tokens(lm, ids, [100]), 1e-5)


def test_qwen1_rms_norm_in_one_call_is_bigdls(qwen1_engine, monkeypatch):
    from qwen_tui.engine import kernels

    lm, builder = bigdl_forwards(qwen1_engine), qwen1_engine._builder
    norms = [m for m in lm.model.modules() if type(m).__name__ == "RMSNorm"]
    assert norms
    assert all(hasattr(n, "qwen_tui_forward") for n in norms) == kernels.float_kernels()
    ids = builder.encode([ChatMessage("user", "你好，" * 10)])
    ours = prompt_then_tokens(lm, ids, [100])
    use_bigdl_forward(monkeypatch, norms)
    assert_all_close(ours, prompt_then_tokens(lm, ids, [100]), 1e-4)


def test_qwen1_runs_on_our_decoder_as_its_forwards_do(qwen1_engine):
    """Qwen-1 (bigdl-llm's q/k/v split, w2/w1/c_proj) on the C decoder: the same logits, bit
    for bit, as the remote code's model with bigdl-llm's forwards and our patches."""
    from qwen_tui.engine import kernels
    from qwen_tui.engine.bigdl.causal_lm import DecoderLM

    if not kernels.float_kernels():
        pytest.skip("the decoder needs AVX2, which this CPU lacks")
    assert isinstance(qwen1_engine._lm, DecoderLM)
    ids = qwen1_engine._builder.encode([ChatMessage("user", "你好，" * 12)])
    lm, forwards = qwen1_engine._lm, bigdl_forwards(qwen1_engine)
    with torch.inference_mode():
        a, pa = lm.step(ids, None)
        b, pb = forwards.step(ids, None)
        assert torch.equal(a, b)
        for token in (100, 200):
            a, pa = lm.step([token], pa)
            b, pb = forwards.step([token], pb)
            assert torch.equal(a, b)
        assert torch.equal(lm.all_logits(ids), forwards.all_logits(ids))
