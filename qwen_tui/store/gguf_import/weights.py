"""A GGUF file's tensors as Hugging Face Qwen2 state-dict entries, dequantized to float32.

GGUF names follow llama.cpp (``blk.N.attn_q.weight``); shapes are stored innermost first,
so a ``[in, out]`` GGUF weight is the ``[out, in]`` matrix of a ``torch.nn.Linear``. Qwen2
GGUF files are written without the q/k row permutation llama-architecture files use (llama.cpp
runs Qwen2's rotary in the NeoX layout, as transformers does), so rows map one to one. A
Qwen3.5 file's names and the converter's steps to undo come from its family's table
(``qwen35.py``): ``tensor_map`` gives either.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np

from ...errors import UsageError
from .header import TensorInfo, tensor_bytes
from .read import GgufFile

# What gguf.quants dequantizes (every type llama.cpp writes for Qwen models).
FLOAT_TYPES = ("F32", "F16", "BF16", "F64")
QUANT_TYPES = (
    "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
    "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M", "IQ4_NL", "IQ4_XS",
)  # fmt: skip

GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
BLOCK_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "attn_q_norm.weight": "self_attn.q_norm.weight",
    "attn_k_norm.weight": "self_attn.k_norm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
BLOCK = re.compile(r"blk\.(\d+)\.(.+)")


def hf_name(name: str) -> str | None:
    """The Hugging Face name of a GGUF tensor, or None for one a Qwen model does not use
    (llama.cpp also stores precomputed rope tables and the like)."""
    if name in GLOBAL_NAMES:
        return GLOBAL_NAMES[name]
    found = BLOCK.fullmatch(name)
    if found and found.group(2) in BLOCK_NAMES:
        return f"model.layers.{found.group(1)}.{BLOCK_NAMES[found.group(2)]}"
    return None


def tensor_map(gf: GgufFile) -> dict[str, tuple[str, tuple[str, ...]]]:
    """{GGUF name: (Hugging Face name, the converter's steps to undo)} of every tensor the
    model runs, in file order."""
    if gf.arch == "qwen35":
        from .qwen35 import tensor_names

        return tensor_names(gf)
    return {t.name: (hf, ()) for t in gf.header.tensors if (hf := hf_name(t.name)) is not None}


def check_types(gf: GgufFile) -> None:
    """Refuse, before any work, a file with a tensor type we cannot dequantize."""
    used = tensor_map(gf)
    for tensor in gf.header.tensors:
        kind = tensor.type.name
        if tensor.name in used and kind not in FLOAT_TYPES + QUANT_TYPES:
            raise UsageError(
                f"{gf.path.name}: tensor {tensor.name} is stored as {kind}, which qwen-tui "
                "cannot read.",
                f"Use a GGUF with {', '.join(('F16', 'BF16', 'Q8_0', 'Q6_K', 'Q4_K_M'))} "
                "or another common type.",
            )


def dequantize(gf: GgufFile, tensor: TensorInfo) -> np.ndarray:
    """One tensor as float32, in its Hugging Face shape (read from the mapped file)."""
    raw = tensor_bytes(gf.header, tensor)
    out = dequantize_rows(tensor, raw.reshape(tensor.shape[0], -1))
    return np.ascontiguousarray(out.reshape(tensor.shape), dtype=np.float32)


def dequantize_rows(tensor: TensorInfo, raw: np.ndarray) -> np.ndarray:
    """Rows of a tensor, given as their bytes ``[rows, row bytes]``, as float32
    ``[rows, values per row]`` (a new array: the bytes are the mapped file)."""
    from gguf import quants

    kind = tensor.type.name
    if kind == "F32":
        out = np.array(raw.reshape(-1).view(np.float32))
    elif kind == "F16":
        out = raw.reshape(-1).view(np.float16).astype(np.float32)
    elif kind == "F64":
        out = raw.reshape(-1).view(np.float64).astype(np.float32)
    elif kind == "BF16":  # the top half of a float32
        out = (raw.reshape(-1).view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    else:  # the quantized types: rows of whole blocks
        out = quants.dequantize(np.ascontiguousarray(raw), tensor.type)
    return out.reshape(raw.shape[0], -1)


def _rows(tensor: TensorInfo) -> int:
    return tensor.n_elements // tensor.dims[0]


def tensors(gf: GgufFile) -> Iterator[tuple[str, np.ndarray]]:
    """(Hugging Face name, float32 array) for each tensor a Qwen2 or Qwen3 uses, in file
    order (a Qwen3.5's are read through ``sources/gguf.py``, which undoes the converter)."""
    check_types(gf)
    for tensor in gf.header.tensors:
        name = hf_name(tensor.name)
        if name is not None:
            yield name, dequantize(gf, tensor)


def has_output(gf: GgufFile) -> bool:
    """Whether the file has its own output matrix (else it is tied to the embeddings)."""
    return gf.header.tensor("output.weight") is not None


def tensor_shape(gf: GgufFile, name: str) -> tuple[int, ...] | None:
    tensor = gf.header.tensor(name)
    return None if tensor is None else tensor.shape
