"""The scripted tiny Qwen3.5 (``qwen_tui.testing.tiny_qwen35``): a folder as transformers 5 saves
one, with Qwen3.5's own chat template (thinking prefilled, the empty block when it is off);
the GGUF llama.cpp's converter made of it holds the same model; and ``ask`` answers the same,
thinking apart, whether it was stored from the folder or from the GGUF."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gguf import GGUFReader, dequantize
from qwen35_gguf import F32_GGUF
from qwen35_thinker import ANSWER, SCRIPTED_GGUF, SOURCES, THINKING, install, quantized
from test_cli import run

from qwen_tui.engine import kernels
from qwen_tui.engine.generate.prompt import PromptBuilder
from qwen_tui.engine.tokenizer import ChatTokenizer
from qwen_tui.engine.types import ChatMessage
from qwen_tui.store.gguf_import.tokenizer import QWEN35_SPLIT
from qwen_tui.testing.tiny_qwen35 import QWEN35_CHAT_TEMPLATE, build_tiny_qwen35

ASK = ["ask", "What is 2+2?", "--temperature", "0", "--max-new-tokens", "24"]
HI = [ChatMessage("user", "hi")]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build_tiny_qwen35(tmp_path_factory.mktemp("qwen35") / "src")


def test_the_template_is_qwen35s_own_as_llama_cpp_keeps_it():
    """The template the converter copied into the reference's GGUF from llama.cpp's
    models/templates/Qwen3.5-4B.jinja (tests/fixtures/qwen35_gguf/make.py)."""
    field = GGUFReader(str(F32_GGUF)).fields["tokenizer.chat_template"]
    assert QWEN35_CHAT_TEMPLATE == field.contents()


def test_the_folder_is_a_qwen35_with_the_switch_and_the_prefilled_block(folder):
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "qwen3_5_text" and "rope_parameters" in config
    data = json.loads((folder / "tokenizer.json").read_text())
    assert all(isinstance(m, list) for m in data["model"]["merges"])  # as transformers 5
    assert data["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] == QWEN35_SPLIT
    builder = PromptBuilder(ChatTokenizer.from_folder(folder))
    assert builder.thinking == "switch"
    on = builder.decode(builder.encode(HI))
    off = builder.decode(builder.encode(HI, enable_thinking=False))
    assert on.endswith("<|im_start|>assistant\n<think>\n") and builder.opens_thinking(
        builder.encode(HI)
    )
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    # a past turn's thinking is left out; the reply to it is kept
    turn = ChatMessage("assistant", ANSWER, reasoning=THINKING)
    again = builder.decode(builder.encode([*HI, turn, ChatMessage("user", "and?")]))
    assert THINKING not in again and f"<|im_start|>assistant\n{ANSWER}<|im_end|>" in again


def test_the_committed_gguf_holds_the_builders_model(folder):
    """make_scripted.py converted this builder's folder: the same vocabulary, template and
    (to Q8_0's rounding) the same embedding and head. Run it again if this fails."""
    from safetensors.numpy import load_file

    reader = GGUFReader(str(SCRIPTED_GGUF))
    vocab = ChatTokenizer.from_folder(folder).get_vocab()
    assert reader.fields["tokenizer.ggml.tokens"].contents() == sorted(vocab, key=vocab.get)
    assert reader.fields["tokenizer.chat_template"].contents() == QWEN35_CHAT_TEMPLATE
    weights = load_file(str(folder / "model.safetensors"))
    held = {t.name: t for t in reader.tensors}
    for gguf, hf in (("token_embd.weight", "model.embed_tokens.weight"),
                     ("output.weight", "lm_head.weight")):  # fmt: skip
        tensor = held[gguf]
        values = dequantize(tensor.data, tensor.tensor_type).reshape(weights[hf].shape)
        off = float(np.abs(values - weights[hf]).max() / np.abs(weights[hf]).max())
        assert off < 0.01, f"{gguf} is {off:.2f} off: run make_scripted.py again"


@pytest.mark.skipif(not kernels.float_kernels(), reason="the native engine needs AVX2")
@pytest.mark.parametrize("source", SOURCES)
def test_ask_answers_on_stdout_and_thinks_on_stderr_from_either_source(
    tmp_path_factory, isolated_dirs, source
):
    install(quantized(tmp_path_factory, source))
    result = run(*ASK)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == (ANSWER + "\n", THINKING + "\n")
    data = json.loads(run(*ASK, "--json").stdout)
    assert (data["reasoning"], data["reply"]) == (THINKING, ANSWER)
    assert data["stats"]["finish_reason"] == "stop" and data["model"].startswith(f"qwen35-{source}")
    assert data["stats"]["generated_tokens"] == 11  # I add them.\n</think>\n\nIt is 4!
    off = json.loads(run(*ASK, "--json", "--no-think").stdout)
    assert (off["reasoning"], off["reply"]) == ("", ANSWER)
    assert off["stats"]["generated_tokens"] == 5 and off["stats"]["finish_reason"] == "stop"
