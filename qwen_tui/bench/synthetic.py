"""Random-weight models with the real dimensions of catalog models.

Real weights cannot be downloaded everywhere; speed and memory depend only on
the dimensions, so `bench --synthetic NAME` builds (once, cached) a Qwen2- (or, for
the Qwen3 entries, Qwen3-) architecture model of the same size and quantizes it
through the real store.
Qwen1.5-1.8B-Chat has the same dimensions as Qwen-1_8B-Chat.
"""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..catalog import find_entry
from ..errors import UsageError
from ..store import local

# hidden, intermediate, layers, heads, kv heads, vocab, tied embeddings
DIMENSIONS = {
    "qwen-1_8b-chat": (2048, 5504, 24, 16, 16, 151936, False),
    "qwen1.5-1.8b-chat": (2048, 5504, 24, 16, 16, 151936, False),
    "qwen2-1.5b-instruct": (1536, 8960, 28, 12, 2, 151936, True),
    "qwen2.5-0.5b-instruct": (896, 4864, 24, 14, 2, 151936, True),
    "qwen2.5-1.5b-instruct": (1536, 8960, 28, 12, 2, 151936, True),
    # Qwen3: head_dim 128 whatever the hidden size, q/k norms
    "qwen3-0.6b": (1024, 3072, 28, 16, 8, 151936, True),
    "qwen3-1.7b": (2048, 6144, 28, 16, 8, 151936, True),
    "qwen3-4b": (2560, 9728, 36, 32, 8, 151936, True),
}


def synthetic_model(name: str, low_bit: str = "sym_int4") -> local.LocalModel:
    entry = find_entry(name)
    if entry is None or entry.key not in DIMENSIONS:
        raise UsageError(
            f"No synthetic recipe for '{name}'.", f"Use one of {', '.join(DIMENSIONS)}."
        )
    root = paths.synthetic_dir()
    folder_name = local.folder_name(f"synthetic-{entry.key}", low_bit)
    for model in local.list_local(root):
        if model.folder_name == folder_name:
            return model
    source = root / "src" / entry.key
    if not (source / "config.json").exists():
        _build(source, *DIMENSIONS[entry.key], qwen3=entry.family == "qwen3")
    from ..store.quantize import quantize_folder

    model = quantize_folder(source, f"synthetic-{entry.key}", low_bit, root=root)
    from ..store.removal import remove_tree

    remove_tree(source, root)  # the fp32 source is large; the int4 copy is kept
    return model


def _build(
    path: Path,
    hidden: int,
    intermediate: int,
    layers: int,
    heads: int,
    kv_heads: int,
    vocab: int,
    tied: bool,
    qwen3: bool = False,
) -> None:
    import torch
    from transformers import GenerationConfig, Qwen2ForCausalLM

    from ..engine.models.qwen3 import Qwen3ForCausalLM
    from ..testing.tiny import build_tokenizer, tiny_qwen2_config
    from ..testing.tiny_qwen3 import qwen3_tokenizer, tiny_qwen3_config

    path.mkdir(parents=True, exist_ok=True)
    tokenizer = qwen3_tokenizer() if qwen3 else build_tokenizer()
    make_config = tiny_qwen3_config if qwen3 else tiny_qwen2_config
    extra = {"head_dim": 128} if qwen3 else {}
    config = make_config(
        vocab,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_window_layers=layers,
        max_position_embeddings=32768,
        tie_word_embeddings=tied,
        **extra,
    )
    torch.manual_seed(0)
    with torch.device("meta"):
        model = (Qwen3ForCausalLM if qwen3 else Qwen2ForCausalLM)(config)
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02) if p.dim() > 1 else p.fill_(1.0)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    GenerationConfig(
        do_sample=True,
        temperature=0.7,
        top_p=0.8,
        top_k=20,
        repetition_penalty=1.05,
        max_new_tokens=512,
    ).save_pretrained(path)
