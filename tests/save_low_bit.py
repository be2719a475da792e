"""Folders bigdl-llm's own save_low_bit writes (the original recipe), built from the tiny
models at test time, and what the tests compare a converted store with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from qwen1_fixture import build_tiny_qwen1, copy_sidecars

from qwen_tui.engine.kernels.formats import FORMATS, dequantize_array
from qwen_tui.store.sources.safetensors import read_header
from qwen_tui.testing.tiny import build_tiny_qwen2
from qwen_tui.testing.tiny_qwen3 import build_tiny_qwen3

BUILDERS = {
    "qwen1": build_tiny_qwen1,
    "qwen2": build_tiny_qwen2,
    "qwen2-tied": lambda path: build_tiny_qwen2(path, tie_word_embeddings=True),
    "qwen3": build_tiny_qwen3,  # tied, as Qwen3-0.6B
}


def save_low_bit(source: Path, out: Path, low_bit: str, shard: str | None = None, **kwargs) -> Path:
    """The original recipe: bigdl-llm's from_pretrained(load_in_low_bit=...), save_low_bit
    (in shards of ``shard``, "100KB", if given), and the tokenizer saved beside it (Qwen-1: its
    tokenizer files and code, as the repo has them). ``kwargs`` go to from_pretrained
    (torch_dtype, modules_to_not_convert ...)."""
    from bigdl.llm.transformers import AutoModelForCausalLM
    from transformers import AutoTokenizer

    from qwen_tui.engine.models import register

    register()
    kwargs.setdefault("torch_dtype", torch.float32)
    qwen1 = (source / "qwen.tiktoken").is_file()
    model = AutoModelForCausalLM.from_pretrained(
        str(source), load_in_low_bit=low_bit, trust_remote_code=qwen1, **kwargs
    )
    model.save_low_bit(str(out), **({"max_shard_size": shard} if shard else {}))
    if qwen1:
        copy_sidecars(source, out)
    else:
        AutoTokenizer.from_pretrained(str(source)).save_pretrained(str(out))
    return out


def folder_state(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file of a folder with its size and modification time: unchanged means unchanged."""
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def stored_embedding(store: Path) -> np.ndarray:
    """The embedding table a converted store holds, dequantized (what the native engine looks
    rows up in)."""
    import json

    layout = json.loads((store / "qwen-tui-lowbit.json").read_text())
    fmt = FORMATS[layout["embedding"]["format"]]
    weights = store / "model.safetensors"
    header = read_header(weights)
    name = next(n for n in header if n.endswith(("embed_tokens.weight", "wte.weight")))
    start, info = header[name]
    raw = np.fromfile(weights, np.uint8, count=info.nbytes, offset=start)
    config = json.loads((store / "config.json").read_text())
    rows = int(config["vocab_size"])
    return dequantize_array(raw, fmt, rows, info.nbytes // rows // fmt.block_bytes * 64)
