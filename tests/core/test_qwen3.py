"""Qwen3 on the verified stack: our model code equals transformers' own Qwen3, and a tiny
Qwen3 (from a folder or a GGUF file) goes through quantize -> our decoder -> chat, thinking
split off, switched, and kept out of the next turn's prompt."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from gguf import GGMLQuantizationType as T
from gguf_fixture import write_gguf

from qwen_tui.engine import kernels
from qwen_tui.engine.bigdl.causal_lm import DecoderLM
from qwen_tui.engine.bigdl.engine import BigdlEngine
from qwen_tui.engine.types import ChatMessage, GenerationParams
from qwen_tui.recipes import RECIPES
from qwen_tui.store.quantize import quantize_folder
from qwen_tui.testing.tiny_qwen3 import (
    ANSWER,
    THINKING,
    THINKING_ONLY_TEMPLATE,
    build_tiny_qwen3,
)

REFERENCE = Path(__file__).parent.parent / "fixtures" / "qwen3_reference"
needs_decoder = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the decoder needs AVX2, which this CPU lacks"
)
GREEDY = GenerationParams(temperature=0.0, max_new_tokens=24)


def float_model(folder: Path):
    from transformers import AutoModelForCausalLM

    from qwen_tui.engine.models import register

    register()
    return AutoModelForCausalLM.from_pretrained(str(folder), torch_dtype=torch.float32).eval()


def test_our_qwen3_gives_transformers_own_logits():
    """tests/fixtures/qwen3_reference: a tiny random Qwen3 saved by transformers 4.51.3 with
    the logits its modeling_qwen3.py computed (prompt in one pass), recorded once."""
    from safetensors.torch import load_file

    recorded = load_file(str(REFERENCE / "reference.safetensors"))
    model = float_model(REFERENCE)
    assert type(model).__name__ == "Qwen3ForCausalLM"
    ids = recorded["ids"].unsqueeze(0)
    with torch.inference_mode():
        logits = model(ids).logits[0]
        past, steps = None, []
        for i in range(ids.shape[1]):  # and on a growing cache, one token at a time
            out = model(ids[:, i : i + 1], past_key_values=past, use_cache=True)
            past = out.past_key_values
            steps.append(out.logits[0, -1])
    assert torch.allclose(logits, recorded["logits"], atol=1e-4, rtol=1e-4)
    assert torch.allclose(torch.stack(steps), recorded["logits"], atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def qwen3_source(tmp_path_factory):
    return build_tiny_qwen3(tmp_path_factory.mktemp("qwen3"))


@pytest.fixture(scope="module")
def scripted_source(tmp_path_factory):
    return build_tiny_qwen3(tmp_path_factory.mktemp("qwen3-scripted"), scripted=True)


def loaded(path: Path) -> BigdlEngine:
    engine = BigdlEngine(path, threads=2)
    engine.load()
    return engine


@needs_decoder
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_every_format_runs_on_our_decoder_close_to_the_float_model(qwen3_source, tmp_path, recipe):
    stored = quantize_folder(qwen3_source, "q3", recipe, root=tmp_path, measure=False)
    assert stored.manifest.family == "qwen3"
    engine = loaded(stored.path)
    try:
        assert isinstance(engine._lm, DecoderLM) and engine.decoder_note == "ours"
        assert engine.info.thinking == "switch"
        ids = engine._builder.encode([ChatMessage("user", "The quick brown fox 你好")])
        ours = engine.score(ids, "prompt")
        assert torch.equal(engine.score(ids, "decode")[-1], ours[-1])
        with torch.inference_mode():
            reference = float_model(qwen3_source)(input_ids=torch.tensor([ids])).logits[0]
        kl = torch.nn.functional.kl_div(
            ours.log_softmax(-1), reference.log_softmax(-1), log_target=True, reduction="none"
        ).sum(-1)
        top1 = (ours.argmax(-1) == reference.argmax(-1)).float().mean().item()
        # measured: KL 0.001 (sym_int8), 0.005 (mixed_int5), 0.03 (sym_int5), 0.11 (sym_int4);
        # a wrong q/k norm or head width gives KL > 1
        near = recipe in ("sym_int8", "mixed_int5")
        assert kl.mean().item() < (0.02 if near else 0.3), (recipe, kl.mean().item())
        if near:  # a random model's top tokens are close: only the near-lossless are held to it
            assert top1 >= 0.75
    finally:
        engine.unload()


def with_stored_weights(model, stored):
    """``model`` (float) with the weights ``stored`` holds, dequantized by our reference."""
    from safetensors.torch import load_file

    from qwen_tui.engine.bigdl.lowbit import io
    from qwen_tui.engine.kernels.formats import FORMATS, dequantize

    layout = io.read_layout(stored.path)
    state = load_file(str(stored.path / io.WEIGHTS))
    weights = model.state_dict()
    for name, fmt in layout["modules"].items():
        rows, cols = weights[f"{name}.weight"].shape
        weights[f"{name}.weight"] = dequantize(state[f"{name}.weight"], FORMATS[fmt], rows, cols)
    shared = layout["embedding"].get("shared_with")
    weights["model.embed_tokens.weight"] = weights[f"{shared}.weight"]
    model.load_state_dict(weights)
    return model


@needs_decoder
def test_decoder_and_forwards_fallback_compute_the_stored_model(
    qwen3_source, tmp_path, monkeypatch
):
    """Both paths compute the float model of the stored weights, up to the int8 rounding of
    the activations our kernels multiply (measured: at most 0.06-0.09 on logits of about 3).
    A q/k norm left out, misplaced or over the wrong width is off by more than 1."""
    stored = quantize_folder(qwen3_source, "q3", "sym_int8", root=tmp_path, measure=False)
    assert stored.manifest.low_bit == "sym_int8"
    reference = with_stored_weights(float_model(qwen3_source), stored)
    for decoder in ("ours", "bigdl"):
        monkeypatch.setenv("QWEN_TUI_DECODER", decoder)
        engine = loaded(stored.path)
        assert isinstance(engine._lm, DecoderLM) == (decoder == "ours")
        ids = engine._builder.encode([ChatMessage("user", "hello there, 你好")])
        logits = engine.score(ids, "prompt")
        engine.unload()
        with torch.inference_mode():
            expected = reference(input_ids=torch.tensor([ids])).logits[0]
        assert (logits - expected).abs().max().item() < 0.15, decoder


@pytest.fixture(scope="module")
def scripted(scripted_source, tmp_path_factory):
    stored = quantize_folder(
        scripted_source, "think", "mixed_int5", root=tmp_path_factory.mktemp("s"), measure=False
    )
    engine = loaded(stored.path)
    yield engine
    engine.unload()


def test_thinking_is_split_off_streamed_apart_and_switched(scripted):
    answer, thinking = [], []
    reply = scripted.chat(
        [ChatMessage("user", "What is 2+2?")],
        GREEDY,
        on_text=answer.append,
        on_reasoning=thinking.append,
    )
    assert (reply.reasoning, reply.text) == (THINKING, ANSWER)
    assert ("".join(thinking), "".join(answer)) == (THINKING, ANSWER)
    assert reply.stats.finish_reason == "stop"
    off = scripted.chat(
        [ChatMessage("user", "What is 2+2?")],
        GenerationParams(temperature=0.0, max_new_tokens=24, enable_thinking=False),
    )
    assert (off.reasoning, off.text) == ("", ANSWER)
    assert off.stats.generated_tokens < reply.stats.generated_tokens


def test_past_thinking_stays_out_of_the_next_prompt_and_the_cache_is_reused(scripted):
    first = [ChatMessage("user", "What is 2+2?")]
    reply = scripted.chat(first, GREEDY, cache_key="c")
    history = [
        *first,
        ChatMessage("assistant", reply.text, reply.token_ids, reasoning=reply.reasoning),
        ChatMessage("user", "And 3+3?"),
    ]
    prompt = scripted._builder.decode(scripted._builder.encode(history))
    assert THINKING not in prompt and ANSWER in prompt
    second = scripted.chat(history, GREEDY, cache_key="c")
    assert (second.reasoning, second.text) == (THINKING, ANSWER)
    assert second.stats.reused_tokens > 0  # the prefix up to the first reply


def test_a_template_that_opens_the_block_gives_thinking_without_the_opening_tag(tmp_path):
    src = build_tiny_qwen3(tmp_path / "src", scripted=True, template=THINKING_ONLY_TEMPLATE)
    stored = quantize_folder(src, "t", "sym_int8", root=tmp_path / "store", measure=False)
    engine = loaded(stored.path)
    try:
        assert engine.info.thinking == "always"
        reply = engine.chat([ChatMessage("user", "2+2?")], GREEDY)
        assert (reply.reasoning, reply.text) == (THINKING, ANSWER)
    finally:
        engine.unload()


def test_a_qwen3_gguf_imports_to_the_same_model(scripted_source, tmp_path):
    """The `qwen3` GGUF architecture: key_length for head_dim, attn_q_norm/attn_k_norm, tied
    output, <think> as a user-defined token; quantized, it thinks as the folder's model does."""
    path = tmp_path / "q3.gguf"
    held = write_gguf(scripted_source, path, {"ffn_up": T.Q8_0, "attn_q": T.Q8_0})
    folder = tmp_path / "same"
    shutil.copytree(scripted_source, folder)
    model = float_model(scripted_source)
    model.load_state_dict({**model.state_dict(), **held})
    model.save_pretrained(folder, safe_serialization=True)
    root = tmp_path / "store"
    from_gguf = quantize_folder(path, "g", "mixed_int5", root=root, measure=False)
    from_folder = quantize_folder(folder, "f", "mixed_int5", root=root, measure=False)
    config = json.loads((from_gguf.path / "config.json").read_text())
    assert (config["model_type"], config["head_dim"]) == ("qwen3", 32)
    replies, logits = [], []
    for stored in (from_gguf, from_folder):
        engine = loaded(stored.path)
        replies.append(engine.chat([ChatMessage("user", "2+2?")], GREEDY))
        logits.append(engine.score(engine._builder.encode([ChatMessage("user", "hi")]), "prompt"))
        engine.unload()
    assert torch.equal(logits[0], logits[1])
    assert (replies[0].reasoning, replies[0].text) == (THINKING, ANSWER)


def test_a_template_kept_in_chat_template_jinja_is_used(tmp_path):
    """Newer repos keep the template beside tokenizer_config.json, where transformers 4.37
    does not look; the store folds it in, so thinking works as from the config."""
    src = build_tiny_qwen3(tmp_path / "src", scripted=True)
    config_file = src / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    (src / "chat_template.jinja").write_text(config.pop("chat_template"))
    config_file.write_text(json.dumps(config))
    stored = quantize_folder(src, "t", "sym_int8", root=tmp_path / "store", measure=False)
    engine = loaded(stored.path)
    try:
        reply = engine.chat([ChatMessage("user", "2+2?")], GREEDY)
        assert (reply.reasoning, reply.text) == (THINKING, ANSWER)
    finally:
        engine.unload()


def test_qwen3_conventions_for_defaults(scripted, scripted_source, monkeypatch, tmp_path):
    """A thinking model's replies get room by default; with thinking off, Qwen3's
    non-thinking sampling (0.7 / 0.8 / 20) applies unless the user set their own."""
    from qwen_tui.engine.bigdl import engine as engine_module
    from qwen_tui.engine.bigdl.engine import read_defaults

    defaults = scripted.info.defaults
    assert (defaults.temperature, defaults.top_p, defaults.top_k) == (0.6, 0.95, 20)
    assert defaults.max_new_tokens == 32  # the tiny model's generation_config sets 32
    assert read_defaults(scripted_source, thinks=True).max_new_tokens == 32
    # none set there: 8192, at most a quarter of the window (512 positions in that config)
    assert read_defaults(REFERENCE, thinks=True).max_new_tokens == 128
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 40960}))
    assert read_defaults(tmp_path, thinks=True).max_new_tokens == 8192  # Qwen3's window
    assert read_defaults(REFERENCE, thinks=False).max_new_tokens == 512
    used = []

    def recording(params):
        used.append(params)
        return engine_module.Sampler.__wrapped__(params)

    recording.__wrapped__ = engine_module.Sampler
    monkeypatch.setattr(engine_module, "Sampler", recording)
    question = [ChatMessage("user", "2+2?")]
    assert scripted.chat(question, GenerationParams(enable_thinking=False)).text == ANSWER
    assert scripted.chat(question, GenerationParams(enable_thinking=False, top_p=0.5)).text
    assert scripted.chat(question, GenerationParams()).reasoning == THINKING
    sampled = [(p.temperature, p.top_p, p.top_k) for p in used]
    assert sampled == [(0.7, 0.8, 20), (0.7, 0.5, 20), (0.6, 0.95, 20)]
