"""What a GGUF file's metadata says about its model, checked against its tensors before any
work: each number of the config for its kind and range, the layers against the tensors held,
the embedding's width against ``embedding_length``, the vocabulary against the embedding's
and the output head's rows, the special token ids against the vocabulary, and the tensor types
and tokenizer against what qwen-tui reads; a Qwen3.5's hybrid layers against what its
metadata says each one is (``qwen35.py``)."""

from __future__ import annotations

import re

import numpy as np

from ...errors import UsageError
from . import tokenizer, weights
from .read import GgufFile

# positions: 16 times the longest Qwen context (Qwen2.5-1M's 1,010,000); a file that claims more
# is broken or hostile (transformers would size its rotary tables by it)
MAX_CONTEXT = 1 << 24
MAX_LAYERS = 1 << 12
MAX_WIDTH = 1 << 20  # hidden size, feed-forward size, heads
_LAYER = re.compile(r"blk\.(\d{1,6})\..+")


def check_model(gf: GgufFile) -> None:
    """Raise UsageError (one sentence naming the key or tensor) for a model qwen-tui cannot
    import from ``gf``; return quietly otherwise."""
    weights.check_types(gf)
    gf.require("context_length", below=MAX_CONTEXT)
    if gf.arch_field("rope.scaling.original_context_length") is not None:
        gf.require("rope.scaling.original_context_length", below=MAX_CONTEXT)
    width = gf.require("embedding_length", below=MAX_WIDTH)
    gf.require("feed_forward_length", below=MAX_WIDTH)
    heads = gf.require("attention.head_count", below=MAX_WIDTH)
    kv_heads = gf.whole(f"{gf.arch}.attention.head_count_kv", 1, MAX_WIDTH) or heads
    if heads % kv_heads:
        raise gf.refuse(
            f"its {gf.arch}.attention.head_count ({heads}) is not a multiple of its "
            f"head_count_kv ({kv_heads})"
        )
    if gf.arch in ("qwen3", "qwen35"):  # an explicit head width
        gf.require("attention.key_length", below=MAX_WIDTH)
    elif width % heads:
        raise gf.refuse(
            f"its {gf.arch}.embedding_length ({width}) is not a multiple of its "
            f"attention.head_count ({heads})"
        )
    gf.require_number("attention.layer_norm_rms_epsilon")
    gf.number(f"{gf.arch}.rope.freq_base")
    from . import qwen35  # which reads this module's limits

    if gf.arch == "qwen35":
        qwen35.check_not_draft(gf)
    _check_layers(gf)
    _check_vocabulary(gf, width)
    if gf.arch == "qwen35":  # its hybrid layers against its metadata
        from .convert import hf_config

        qwen35.check(gf, hf_config(gf))
    tokenizer.check(gf)


def _check_layers(gf: GgufFile) -> None:
    layers = gf.require("block_count", below=MAX_LAYERS)
    held = {int(m.group(1)) for t in gf.header.tensors if (m := _LAYER.fullmatch(t.name))}
    if len(held) != layers:
        raise gf.refuse(
            f"its {gf.arch}.block_count is {layers:,} but it holds tensors for {len(held):,} layers"
        )
    if held != set(range(layers)):
        raise gf.refuse(f"its layers' tensors are not numbered 0 to {layers - 1}")


def _check_vocabulary(gf: GgufFile, width: int) -> None:
    embed = gf.header.tensor("token_embd.weight")
    if embed is None:
        raise UsageError(f"{gf.path.name} has no token_embd.weight tensor.", "Use a complete file.")
    tokens = len(gf.strings("tokenizer.ggml.tokens"))
    output = gf.header.tensor("output.weight")
    for matrix in (embed, output):
        if matrix is None:
            continue  # no output head: tied to the embedding
        if len(matrix.dims) != 2 or matrix.dims[0] != width:
            raise gf.refuse(
                f"its {matrix.name} has rows of {matrix.dims[0]:,} values but its "
                f"{gf.arch}.embedding_length is {width:,}"
            )
        if matrix.dims[1] != tokens:
            raise gf.refuse(
                f"its vocabulary (tokenizer.ggml.tokens) has {tokens:,} tokens but its "
                f"{matrix.name} has {matrix.dims[1]:,} rows"
            )
    types = gf.field("tokenizer.ggml.token_type")
    if types is not None and (not isinstance(types, np.ndarray) or len(types) != tokens):
        raise gf.refuse("its tokenizer.ggml.token_type does not give one type per token")
    for name in ("bos", "eos", "eot", "padding"):
        gf.whole(f"tokenizer.ggml.{name}_token_id", 0, tokens)
