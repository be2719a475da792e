"""The float reference (numpy, one weight at a time from the source) computes what the float
model computes: transformers' Qwen2, our Qwen3, and the original Qwen-1 code (vendored in
tests/fixtures, run here on purpose as the oracle), from float32 and bfloat16 folders and from
GGUF files; and it says in one sentence what it cannot compute."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType as T
from gguf_fixture import write_gguf
from qwen1_fixture import build_tiny_qwen1

from qwen_tui.engine.models import register
from qwen_tui.errors import UsageError
from qwen_tui.eval.float_reference import open_reference
from qwen_tui.testing.tiny import build_tiny_qwen2
from qwen_tui.testing.tiny_qwen3 import build_tiny_qwen3

PROMPT = 40  # tokens


def transformers_logits(folder, ids, weights=None, remote=False) -> np.ndarray:
    """The float model as transformers runs it (``weights`` put in: what a GGUF holds)."""
    from transformers import AutoModelForCausalLM

    register()
    model = AutoModelForCausalLM.from_pretrained(
        str(folder), torch_dtype=torch.float32, trust_remote_code=remote
    ).eval()
    if weights:
        state = model.state_dict()
        state.update(weights)
        model.load_state_dict(state)
    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids])).logits[0].numpy()


def as_bf16(folder, out):
    """The same model with every tensor rounded to bfloat16 (as most checkpoints ship)."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(folder, out)
    for f in out.glob("*.safetensors"):
        state = {k: v.to(torch.bfloat16).contiguous() for k, v in load_file(str(f)).items()}
        save_file(state, str(f), metadata={"format": "pt"})
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "torch_dtype": "bfloat16"}))
    return out


def prompt(vocab: int, seed: int = 0) -> list[int]:
    return np.random.default_rng(seed).integers(0, vocab, PROMPT).tolist()


def check(folder, ids, want):
    ref = open_reference(folder)
    got = ref.logits(ids)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    return ref


BUILDERS = {
    "qwen2": lambda p: build_tiny_qwen2(p),
    "qwen2-tied": lambda p: build_tiny_qwen2(p, tie_word_embeddings=True),
    "qwen3": lambda p: build_tiny_qwen3(p),  # tied, q/k norms, heads x head_dim != hidden
    "qwen3-untied-bias": lambda p: build_tiny_qwen3(
        p, tie_word_embeddings=False, attention_bias=True
    ),
}


@pytest.mark.parametrize("width", ["f32", "bf16"])
@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_qwen2_and_qwen3_folders_give_the_float_models_logits(tmp_path, kind, width):
    folder = BUILDERS[kind](tmp_path / "f32")
    if width == "bf16":
        folder = as_bf16(folder, tmp_path / "bf16")
    config = json.loads((folder / "config.json").read_text())
    ids = prompt(config["vocab_size"])
    check(folder, ids, transformers_logits(folder, ids))


@pytest.mark.parametrize("width", ["f32", "bf16"])
def test_qwen1_gives_the_original_codes_logits(tmp_path, width):
    folder = with_out_biases(build_tiny_qwen1(tmp_path / "q1", no_bias=False))
    if width == "bf16":
        folder = as_bf16(folder, tmp_path / "q1-bf16")
    ids = prompt(256 + 300)  # bytes and merges of the tiny vocabulary
    check(folder, ids, transformers_logits(folder, ids, remote=True))


def with_out_biases(folder):
    """no_bias false: Qwen-1 with biases on c_proj and the MLP (the fixture writes none)."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    gen = torch.Generator().manual_seed(1)
    for name in [n for n in state if n.endswith(("attn.c_proj.weight", "w1.weight",
                                                  "w2.weight", "mlp.c_proj.weight"))]:  # fmt: skip
        rows = state[name].shape[0]
        state[name.replace(".weight", ".bias")] = torch.randn(rows, generator=gen) * 0.1
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def test_qwen1_past_its_seq_length_is_refused_not_computed_wrong(tmp_path):
    """Qwen-1 scales rotary (dynamic NTK) and q (logn) past seq_length; the reference does not
    compute those, so it refuses there (a 512-token check never reaches a real seq_length)."""
    folder = build_tiny_qwen1(tmp_path / "q1", seq_length=16)
    ref = open_reference(folder)
    assert ref.logits(prompt(256, 1)[:16]).shape == (16, 151936)
    with pytest.raises(UsageError, match="at most 16 positions"):
        ref.logits(prompt(256, 1)[:17])


GGUF_TYPES = {"token_embd": T.Q8_0, "output": T.Q6_K, "attn_q": T.F16, "attn_k": T.Q5_0,
              "attn_v": T.Q8_0, "attn_output": T.Q4_K, "ffn_gate": T.Q4_0, "ffn_up": T.F16,
              "ffn_down": T.Q5_K}  # fmt: skip


def test_a_gguf_file_gives_the_float_model_of_its_values(wide_source, tmp_path):
    path = tmp_path / "m.gguf"
    held = write_gguf(wide_source, path, GGUF_TYPES)
    config = json.loads((wide_source / "config.json").read_text())
    ids = prompt(config["vocab_size"])
    check(path, ids, transformers_logits(wide_source, ids, held))


def test_a_tied_gguf_file_reads_its_head_from_the_embeddings(tmp_path):
    src = build_tiny_qwen3(tmp_path / "tied")  # tied: the file has no output.weight
    path = tmp_path / "tied.gguf"
    held = write_gguf(src, path, {"token_embd": T.Q8_0, "ffn_up": T.F16})
    held["lm_head.weight"] = held["model.embed_tokens.weight"]
    ids = prompt(json.loads((src / "config.json").read_text())["vocab_size"])
    check(path, ids, transformers_logits(src, ids, held))


def test_chunks_of_logits_are_the_whole_matrix(tiny_source):
    ref = open_reference(tiny_source)
    ids = prompt(ref.vocab) * 4  # 160 positions: chunks of 64, 64 and 32
    whole = ref.logits(ids)
    parts = list(ref.logit_chunks(ids, 64))
    assert [len(p) for p in parts] == [64, 64, 32]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_what_it_cannot_read_is_one_sentence(tiny_source, tiny_quantized, tmp_path):
    with pytest.raises(UsageError, match="not a float model"):
        open_reference(tmp_path / "nowhere")
    with pytest.raises(UsageError, match="is a quantized model"):
        open_reference(tiny_quantized.path)
    bins = shutil.copytree(tiny_source, tmp_path / "bins")
    (bins / "model.safetensors").rename(bins / "pytorch_model.bin")
    with pytest.raises(UsageError, match="no safetensors files"):
        open_reference(bins)
    short = build_tiny_qwen2(tmp_path / "short")
    config = json.loads((short / "config.json").read_text())
    (short / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))
    with pytest.raises(UsageError, match=r"model\.layers\.2\.input_layernorm\.weight is missing"):
        open_reference(short)
    with pytest.raises(UsageError, match="outside the reference's"):
        open_reference(tiny_source).logits([0, 10**6])


def test_the_reference_imports_neither_torch_nor_transformers(tiny_source, tmp_path):
    path = tmp_path / "m.gguf"
    write_gguf(tiny_source, path, {"ffn_up": T.Q8_0, "output": T.F16})
    code = (
        "import sys; from pathlib import Path\n"
        "from qwen_tui.eval.float_reference import open_reference\n"
        "for p in sys.argv[1:]: open_reference(Path(p)).logits([1, 2, 3])\n"
        "print(sorted(m for m in ('torch', 'transformers', 'bigdl') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tiny_source), str(path)],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert done.stdout.strip() == "[]"
