"""Random-weight models with the real dimensions of catalog models, and of models too large
to download here.

Speed and memory depend only on the dimensions, so `bench --synthetic NAME` builds (once,
cached) a store of that shape straight in low-bit: random weights are made a chunk of rows at a
time as the streaming quantizer asks for them (``store/sources/random.py``), so a Qwen3-8B is
built without its float model ever existing. Qwen-1_8B-Chat is measured by Qwen1.5-1.8B's
dimensions (the same sizes, on the Qwen2 architecture).
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import paths
from ..engine.runtime.cpus import default_threads
from ..errors import UsageError
from ..families import BY_NAME, family_for  # noqa: F401  (test_bench reads BY_NAME here)
from ..manifest import Manifest
from ..recipes import RECIPES
from ..store import local
from ..store.sources.random import RandomSource
from ..store.stream import plan_for, stream_folder

# family, hidden, intermediate, layers, heads, kv heads, vocab, tied embeddings
DIMENSIONS = {
    "qwen-1_8b-chat": ("qwen2", 2048, 5504, 24, 16, 16, 151936, False),
    "qwen1.5-1.8b-chat": ("qwen2", 2048, 5504, 24, 16, 16, 151936, False),
    "qwen2-1.5b-instruct": ("qwen2", 1536, 8960, 28, 12, 2, 151936, True),
    "qwen2.5-0.5b-instruct": ("qwen2", 896, 4864, 24, 14, 2, 151936, True),
    "qwen2.5-1.5b-instruct": ("qwen2", 1536, 8960, 28, 12, 2, 151936, True),
    # Qwen3: head_dim 128 whatever the hidden size, q/k norms
    "qwen3-0.6b": ("qwen3", 1024, 3072, 28, 16, 8, 151936, True),
    "qwen3-1.7b": ("qwen3", 2048, 6144, 28, 16, 8, 151936, True),
    "qwen3-4b": ("qwen3", 2560, 9728, 36, 32, 8, 151936, True),
    "qwen3-8b": ("qwen3", 4096, 12288, 36, 32, 8, 151936, False),
}
# Qwen3.5 (hybrid: every 4th layer full attention, the rest Gated DeltaNet): hidden,
# intermediate, layers, heads, kv heads, head_dim, DeltaNet key heads, value heads, key and
# value head widths, vocab, tied (the text_config of each Qwen/Qwen3.5-* the catalog pins)
HYBRID = {
    "qwen3.5-0.8b": (1024, 3584, 24, 8, 2, 256, 16, 16, 128, 128, 248320, True),
    "qwen3.5-2b": (2048, 6144, 24, 8, 2, 256, 16, 16, 128, 128, 248320, True),
    "qwen3.5-4b": (2560, 9216, 32, 16, 4, 256, 16, 32, 128, 128, 248320, True),
    "qwen3.5-9b": (4096, 12288, 32, 16, 4, 256, 16, 32, 128, 128, 248320, False),
}


def synthetic_config(key: str) -> dict:
    if key in HYBRID:
        return _hybrid_config(key)
    family, hidden, inter, layers, heads, kv_heads, vocab, tied = DIMENSIONS[key]
    config = {
        "architectures": ["Qwen3ForCausalLM" if family == "qwen3" else "Qwen2ForCausalLM"],
        "model_type": family, "hidden_size": hidden, "intermediate_size": inter,
        "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "vocab_size": vocab, "tie_word_embeddings": tied,
        "max_position_embeddings": 32768, "max_window_layers": layers, "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0, "hidden_act": "silu", "use_sliding_window": False,
        "torch_dtype": "float32",
    }  # fmt: skip
    if family == "qwen3":
        config["head_dim"] = 128
    return config


def _hybrid_config(key: str) -> dict:
    """A text-only Qwen3.5's config.json, as transformers 5 writes it."""
    (
        hidden,
        inter,
        layers,
        heads,
        kv_heads,
        head_dim,
        k_heads,
        v_heads,
        k_dim,
        v_dim,
        vocab,
        tied,
    ) = HYBRID[key]
    return {
        "architectures": ["Qwen3_5ForCausalLM"], "model_type": "qwen3_5_text",
        "hidden_size": hidden, "intermediate_size": inter, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv_heads, "head_dim": head_dim,
        "linear_num_key_heads": k_heads, "linear_num_value_heads": v_heads,
        "linear_key_head_dim": k_dim, "linear_value_head_dim": v_dim,
        "linear_conv_kernel_dim": 4, "full_attention_interval": 4, "vocab_size": vocab,
        "tie_word_embeddings": tied, "max_position_embeddings": 262144, "rms_norm_eps": 1e-6,
        "hidden_act": "silu", "attention_bias": False, "dtype": "float32",
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000000.0,
                            "partial_rotary_factor": 0.25},
    }  # fmt: skip


def synthetic_model(name: str, low_bit: str = "sym_int4") -> local.LocalModel:
    key = name.strip().lower()
    if key not in DIMENSIONS and key not in HYBRID:
        raise UsageError(
            f"No synthetic recipe for '{name}'.", f"Use one of {', '.join([*DIMENSIONS, *HYBRID])}."
        )
    root = paths.synthetic_dir()
    folder_name = local.folder_name(f"synthetic-{key}", low_bit)
    for model in local.list_local(root):
        if model.folder_name == folder_name:
            return model
    config = synthetic_config(key)
    family = family_for(str(config["model_type"]))
    assert family is not None  # every synthetic config names a family of ours
    recipe = RECIPES[low_bit]
    _, plan = plan_for(family, config, recipe)

    def fill(tmp: Path, on_tensor) -> dict:  # type: ignore[no-untyped-def]
        _write_tokenizer(tmp, family.name)
        (tmp / "generation_config.json").write_text(
            json.dumps({"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20,
                        "repetition_penalty": 1.05, "max_new_tokens": 512}),
            encoding="utf-8",
        )  # fmt: skip
        return stream_folder(
            RandomSource(plan), config, family, recipe, tmp, threads=default_threads(),
            on_tensor=on_tensor,
        )  # fmt: skip

    from ..store.seal import store

    stored = Manifest(
        name=f"synthetic-{key}", low_bit=low_bit, family=family.name,
        source=f"random weights of {key}'s dimensions", commit=None, remote_code=False,
        files=(),
    )  # fmt: skip
    target = root / folder_name
    root.mkdir(parents=True, exist_ok=True)
    return store(stored, target, fill, None, lambda _: None, None)


def _write_tokenizer(folder: Path, family: str) -> None:
    """A small byte-level tokenizer with the ChatML tokens (Qwen3's, with its template, for
    Qwen3 and Qwen3.5)."""
    from ..testing.tiny import build_tokenizer
    from ..testing.tiny_qwen3 import qwen3_tokenizer

    with_think = family in ("qwen3", "qwen35")
    (qwen3_tokenizer() if with_think else build_tokenizer()).save_pretrained(folder)
