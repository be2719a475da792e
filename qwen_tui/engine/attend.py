"""Attention for one new token, read from bigdl-llm's KV cache where it lies.

``q4matmul.attend`` computes softmax(q·Kᵀ/√d)·V per head over the strided
cache buffers bigdl-llm keeps (room for more positions after the used ones),
reading each key and value once (float32, or float16 as the Qwen2 cache keeps
them); grouped-query heads share their key/value head. Used by both attention patches (``qwen2_attention``, ``qwen1_attention``)
for a decoded token with no mask.
"""

from __future__ import annotations

from typing import Any


def cache_fits(key: Any, value: Any, bsz: int) -> bool:
    import torch

    from .speed import _q4_module

    return (
        bsz == 1
        and key.dtype == value.dtype
        and key.dtype in (torch.float32, torch.float16)
        and key.stride() == value.stride()
        and key.stride(-1) == 1
        and key.stride(2) == key.shape[-1]
        and _q4_module() is not None
    )


def attend_one(query: Any, key: Any, value: Any) -> Any:
    """softmax(q·Kᵀ/√d)·V for one query position, read from the cache in place."""
    import torch

    from .speed import _q4_module

    _, heads, _, dim = query.shape
    query = query.contiguous()
    out = torch.empty(1, heads, 1, dim)
    _q4_module().attend(
        query.data_ptr(),
        key.data_ptr(),
        value.data_ptr(),
        out.data_ptr(),
        heads,
        key.shape[1],
        key.shape[2],
        dim,
        key.stride(1),
        key.stride(2),
        dim**-0.5,
        key.dtype == torch.float16,
        torch.get_num_threads(),
    )
    return out
