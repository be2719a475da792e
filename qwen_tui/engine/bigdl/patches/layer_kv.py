"""Causal attention read from bigdl-llm's KV cache where it lies.

``kernels.attend`` (``attention.c``) computes softmax(q·Kᵀ/√d)·V for the new
positions of a step over the strided cache buffers bigdl-llm keeps (room for
more positions after the used ones), float32 or float16; grouped-query heads
share their key/value head. A position gets exactly the same result whether it
is one of a prompt's rows or a decoded token, so reusing a kept cache changes
nothing. ``qwen2_attention`` and ``qwen1_attention`` use it for every step
with a plain causal mask.

Both keep keys and values in float16 (``CACHE_DTYPE``, as llama.cpp does by
default): half the memory, and a decoded token reads half the bytes, which at
1,000 tokens of context is most of its attention time.
"""

from __future__ import annotations

from typing import Any

import torch

from ... import kernels

CACHE_DTYPE = "float16"  # of cached keys and values (a torch dtype's name)


def cache_fits(key: Any, value: Any, bsz: int) -> bool:
    return (
        bsz == 1
        and key.dtype == value.dtype
        and key.dtype in (torch.float32, torch.float16)
        and key.stride() == value.stride()
        and key.stride(-1) == 1
        and key.stride(2) == key.shape[-1]
        and key.shape[-1] % 16 == 0
        and kernels.float_kernels()
    )


def new_cache(key: Any, value: Any, room: int) -> tuple[Any, Any]:
    """A layer's first cache: key/value in ``CACHE_DTYPE`` with ``room`` positions."""
    return cache_with_room(key, value, room, getattr(torch, CACHE_DTYPE))


def cache_with_room(key: Any, value: Any, room: int, dtype: Any) -> tuple[Any, Any]:
    """Copies of key/value ([1, heads, length, dim]) in ``dtype`` buffers with ``room``
    positions, bigdl-llm's cache layout: later steps append in place."""
    from bigdl.llm.transformers.models.utils import init_kv_cache

    bsz, heads, length, head_dim = key.shape
    new_k, new_v = init_kv_cache(bsz, heads, head_dim, length, room, dtype=dtype, device=key.device)
    new_k[:] = key
    new_v[:] = value
    return new_k, new_v


def attend_rows(query: Any, key: Any, value: Any) -> Any:
    """Attention of the last ``rows`` cached positions (causal): [1, rows, heads * dim]."""
    return kernels.attend(query, key, value, torch.get_num_threads())


def attend_one(query: Any, key: Any, value: Any) -> Any:
    """The same for one query position, shaped [1, heads, 1, dim] like the query."""
    _, heads, _, dim = query.shape
    return attend_rows(query, key, value).view(1, heads, 1, dim)


def is_causal(mask: Any, rows: int, length: int) -> bool:
    """True if a 4-D mask (additive, or boolean where True means seen) lets row i see
    exactly keys 0 .. length - rows + i; no mask counts as causal."""
    if mask is None:
        return True
    if mask.dim() != 4 or mask.shape[:2] != (1, 1) or mask.shape[-2:] != (rows, length):
        return False
    seen = getattr(mask, "qwen_tui_causal", None)  # one mask may serve every layer of a step
    if seen is None:
        allowed = mask[0, 0] if mask.dtype == torch.bool else mask[0, 0] == 0
        seen = bool(
            torch.equal(allowed, torch.ones(rows, length, dtype=torch.bool).tril(length - rows))
        )
        mask.qwen_tui_causal = seen
    return seen
