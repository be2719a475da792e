"""A GGUF file -> a float32 Hugging Face folder (what ``quantize_folder`` takes), or a model
in memory (Qwen2 and Qwen3: transformers 4.37 builds no Qwen3.5). A Qwen3.5's tensors are
written as its checkpoint holds them, the converter's steps undone (``families/qwen35_gguf``)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import Cancelled, UsageError
from ...families import family_for
from ...families.qwen35_gguf import from_gguf
from . import qwen35, weights
from .checks import MAX_CONTEXT, MAX_LAYERS, MAX_WIDTH
from .read import GgufFile, open_gguf
from .tokenizer import special_token, write_tokenizer

SHARD_BYTES = 1 << 30
ARCH_CLASSES = {"qwen2": ("Qwen2ForCausalLM", "qwen2"), "qwen3": ("Qwen3ForCausalLM", "qwen3")}


def is_gguf(path: Path) -> bool:
    """A file that starts with GGUF's magic bytes."""
    path = Path(path).expanduser()
    try:
        with open(path, "rb") as fh:
            return path.is_file() and fh.read(4) == b"GGUF"
    except OSError:
        return False


def _token_id(gf: GgufFile, key: str) -> int | None:
    return gf.whole(f"tokenizer.ggml.{key}_token_id", 0, len(gf.strings("tokenizer.ggml.tokens")))


def hf_config(gf: GgufFile) -> dict:
    """config.json for the file's model, from its metadata."""
    embed = weights.tensor_shape(gf, "token_embd.weight")
    if embed is None:
        raise UsageError(f"{gf.path.name} has no token_embd.weight tensor.", "Use a complete file.")
    context = gf.require("context_length", below=MAX_CONTEXT)
    if gf.text(f"{gf.arch}.rope.scaling.type") not in (None, "none"):
        # transformers 4.37's Qwen2 has no YaRN: stay inside the window the model was trained on
        original = f"{gf.arch}.rope.scaling.original_context_length"
        context = gf.whole(original, 1, MAX_CONTEXT) or context
    layers = gf.require("block_count", below=MAX_LAYERS)
    heads = gf.require("attention.head_count", below=MAX_WIDTH)
    config: dict[str, Any] = {
        "hidden_size": gf.require("embedding_length", below=MAX_WIDTH),
        "intermediate_size": gf.require("feed_forward_length", below=MAX_WIDTH),
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": gf.whole(f"{gf.arch}.attention.head_count_kv", 1, MAX_WIDTH)
        or heads,
        "max_position_embeddings": context,
        "rms_norm_eps": float(f"{gf.require_number('attention.layer_norm_rms_epsilon'):.6g}"),
        "rope_theta": gf.number(f"{gf.arch}.rope.freq_base") or 10000.0,
        "vocab_size": int(embed[0]),
        "tie_word_embeddings": not weights.has_output(gf),
        "hidden_act": "silu",
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "use_cache": True,
        "use_sliding_window": False,
        "sliding_window": context,
        "max_window_layers": layers,
        "bos_token_id": _token_id(gf, "bos"),
        "eos_token_id": _token_id(gf, "eos"),
        "torch_dtype": "float32",
    }
    if gf.arch == "qwen35":  # hybrid layers, as transformers 5 configures a text-only Qwen3.5
        return qwen35.hf_config(gf, config)
    architecture, model_type = ARCH_CLASSES[gf.arch]
    config = {"architectures": [architecture], "model_type": model_type, **config,
              "transformers_version": "4.37.2"}  # fmt: skip
    if gf.arch == "qwen3":  # an explicit head width (128), no q/k/v bias
        config["head_dim"] = gf.require("attention.key_length", below=MAX_WIDTH)
        config["attention_bias"] = False
    return config


def estimate_gguf_needs(path: Path, low_bit: str, *, measure: bool = True) -> tuple[int, int]:
    """(disk, RAM) to quantize a GGUF file: read a tensor at a time, nothing unpacked to disk."""
    from ..source import estimate_needs

    return estimate_needs(hf_config(open_gguf(path)), path, low_bit, measure=measure)


def generation_config(gf: GgufFile) -> dict:
    """Stop tokens, and sampling defaults where the file records them (general.sampling.*)."""
    stops = [i for i in (_token_id(gf, "eos"), _token_id(gf, "eot")) if i is not None]
    im_end = special_token(gf, "eos")
    data: dict[str, Any] = {
        "eos_token_id": sorted(set(stops)),
        "bos_token_id": _token_id(gf, "bos"),
    }
    if im_end is None:
        data.pop("eos_token_id")
    for ours, theirs in (("temperature", "temp"), ("top_p", "top_p"), ("top_k", "top_k")):
        key = f"general.sampling.{theirs}"
        value: float | int | None = gf.whole(key) if ours == "top_k" else gf.number(key)
        if value is not None:
            data[ours] = value
            data["do_sample"] = True
    return data


def _shards(gf: GgufFile) -> list[list[str]]:
    """GGUF tensor names grouped into shards of about SHARD_BYTES of float32."""
    groups: list[list[str]] = [[]]
    size = 0
    used = weights.tensor_map(gf)
    for tensor in gf.header.tensors:
        if tensor.name not in used:
            continue
        nbytes = tensor.n_elements * 4
        if groups[-1] and size + nbytes > SHARD_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(tensor.name)
        size += nbytes
    return groups


def convert_gguf(
    path: Path,
    dest: Path,
    *,
    on_tensor: Any = None,
    cancel: threading.Event | None = None,
) -> dict:
    """Write ``dest`` as a float32 Hugging Face folder; return its config.

    ``on_tensor(done, total)`` reports progress. Memory stays near one shard."""
    import torch
    from safetensors.torch import save_file

    gf = open_gguf(path)  # checked: types, metadata against the tensors, tokenizer
    config = hf_config(gf)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    write_tokenizer(gf, dest, config["max_position_embeddings"])
    (dest / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (dest / "generation_config.json").write_text(
        json.dumps(generation_config(gf), indent=2), encoding="utf-8"
    )
    by_name = {t.name: t for t in gf.header.tensors}
    used = weights.tensor_map(gf)
    family = family_for(config["model_type"])
    assert family is not None
    dims = family.dims(config)
    groups = _shards(gf)
    total = sum(len(g) for g in groups)
    done = 0
    index: dict[str, str] = {}
    for number, group in enumerate(groups, 1):
        shard = f"model-{number:05d}-of-{len(groups):05d}.safetensors"
        tensors = {}
        for name in group:
            if cancel is not None and cancel.is_set():
                raise Cancelled("Import cancelled; nothing was kept.", "Start it again any time.")
            hf, steps = used[name]
            values = from_gguf(weights.dequantize(gf, by_name[name]), steps, dims)
            tensors[hf] = torch.from_numpy(np.ascontiguousarray(values, np.float32))
            index[hf] = shard
            done += 1
            if on_tensor:
                on_tensor(done, total)
        save_file(tensors, str(dest / shard), metadata={"format": "pt"})
        del tensors
    (dest / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": index}, indent=2), encoding="utf-8"
    )
    return config


def load_float_model(path: Path) -> tuple[Any, Any]:
    """(float32 transformers model, tokenizer) straight from a GGUF file, in memory."""
    import tempfile

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from ...engine.models import register

    register()
    gf = open_gguf(path)
    if gf.arch == "qwen35":
        raise UsageError(
            f"{gf.path.name} holds a Qwen3.5, which the transformers qwen-tui runs on (4.37) "
            "cannot build.",
            "Use eval's float reference (eval --reference FILE.gguf), which computes it.",
        )
    config_data = hf_config(gf)
    with tempfile.TemporaryDirectory(prefix="qwen-tui-gguf-") as tmp:
        write_tokenizer(gf, Path(tmp), config_data["max_position_embeddings"])
        (Path(tmp) / "config.json").write_text(json.dumps(config_data), encoding="utf-8")
        tokenizer = AutoTokenizer.from_pretrained(tmp, local_files_only=True)
        config = AutoConfig.from_pretrained(tmp, local_files_only=True)
    from transformers.modeling_utils import no_init_weights

    with no_init_weights():
        model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32)
    state = {name: torch.from_numpy(array) for name, array in weights.tensors(gf)}
    model.load_state_dict(state, strict=not config.tie_word_embeddings)
    if config.tie_word_embeddings:
        model.tie_weights()
    model.eval()
    return model, tokenizer
