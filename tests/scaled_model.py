"""A Qwen2 chat model of a few hundred MB for measuring memory (tests/core/test_honest_numbers.py
and scripts/measure_ram.py): bfloat16 safetensors written with numpy (random small weights, no
torch), and the tiny tokenizer, its vocabulary padded out to the model's by unused ids."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from qwen_tui.testing.tiny import build_tokenizer

SHAPE = dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=6,
             num_attention_heads=16, num_key_value_heads=2, vocab_size=32768)  # fmt: skip


def config(**shape: int) -> dict:
    return {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", **shape,
        "max_position_embeddings": 4096, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16", "hidden_act": "silu",
        "bos_token_id": 0, "eos_token_id": 2,
    }  # fmt: skip


def tensors(c: dict) -> dict[str, tuple[int, ...]]:
    h, inter, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    kv = c["num_key_value_heads"] * h // c["num_attention_heads"]
    out: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (v, h)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out |= {
            p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (h, h), p + "self_attn.q_proj.bias": (h,),
            p + "self_attn.k_proj.weight": (kv, h), p + "self_attn.k_proj.bias": (kv,),
            p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.v_proj.bias": (kv,),
            p + "self_attn.o_proj.weight": (h, h), p + "mlp.gate_proj.weight": (inter, h),
            p + "mlp.up_proj.weight": (inter, h), p + "mlp.down_proj.weight": (h, inter),
        }  # fmt: skip
    return out | {"model.norm.weight": (h,), "lm_head.weight": (v, h)}


def _bf16(shape: tuple[int, ...], rng: np.random.Generator, norm: bool) -> np.ndarray:
    """Norms 1.0; anything else random bfloat16 of magnitude 2^-8 to 2^-5, either sign."""
    if norm:
        return np.full(shape, 0x3F80, np.uint16)
    sign = rng.integers(0, 2, shape, dtype=np.uint16) << 15
    exponent = rng.integers(0x77, 0x7A, shape, dtype=np.uint16) << 7
    return sign | exponent | rng.integers(0, 128, shape, dtype=np.uint16)


def build_scaled_qwen2(path: Path, seed: int = 0, **shape: int) -> Path:
    """Write the folder (config, one safetensors file, tokenizer); ``shape`` overrides SHAPE."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    c = config(**(SHAPE | shape))
    (path / "config.json").write_text(json.dumps(c, indent=2))
    build_tokenizer().save_pretrained(path)
    names = tensors(c)
    header, offset = {}, 0
    for name, shape_ in names.items():
        size = 2 * int(np.prod(shape_))
        header[name] = {"dtype": "BF16", "shape": list(shape_),
                        "data_offsets": [offset, offset + size]}  # fmt: skip
        offset += size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    rng = np.random.default_rng(seed)
    with open(path / "model.safetensors", "wb") as fh:
        fh.write(struct.pack("<Q", len(text)) + text)
        for name, shape_ in names.items():
            fh.write(_bf16(shape_, rng, name.endswith("norm.weight")).tobytes())
    return path
