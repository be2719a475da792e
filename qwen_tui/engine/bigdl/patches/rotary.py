"""Qwen2's rotary position embedding in one kernel call per projection.

transformers' ``apply_rotary_pos_emb`` takes about sixteen torch operations per
layer (index, unsqueeze, four products, two ``rotate_half`` concatenations...).
``kernels.rotary`` computes the same products and sums in one pass and writes
the head-major layout the attention kernel reads. Other layouts or dtypes go
to transformers' function.
"""

from __future__ import annotations

from typing import Any

import torch

from ... import kernels


def apply(query: Any, key: Any, cos: Any, sin: Any, position_ids: Any) -> tuple[Any, Any]:
    """(query, key) rotated, as [1, heads, rows, dim] contiguous tensors."""
    if _fits(query, cos) and _fits(key, cos) and _tables_fit(cos, sin, position_ids, query):
        positions = position_ids.reshape(-1).contiguous()
        return _rotate(query, cos, sin, positions), _rotate(key, cos, sin, positions)
    from transformers.models.qwen2.modeling_qwen2 import apply_rotary_pos_emb

    return apply_rotary_pos_emb(query, key, cos, sin, position_ids)


def _fits(x: Any, cos: Any) -> bool:
    """A projection's float32 output viewed as [1, heads, rows, dim]."""
    bsz, _, _, dim = x.shape
    return (
        bsz == 1
        and x.dtype == cos.dtype
        and x.stride(-1) == 1
        and x.stride(1) == dim
        and dim % 16 == 0
        and cos.shape[-1] == dim
    )


def _tables_fit(cos: Any, sin: Any, position_ids: Any, query: Any) -> bool:
    return (
        kernels.float_kernels()
        and cos.dtype == sin.dtype == torch.float32
        and cos.is_contiguous()
        and sin.is_contiguous()
        and cos.shape == sin.shape
        and position_ids is not None
        and position_ids.dtype == torch.int64
        and position_ids.numel() == query.shape[2]
        and 0 <= int(position_ids.min())
        and int(position_ids.max()) < cos.shape[0]
    )


def _rotate(x: Any, cos: Any, sin: Any, positions: Any) -> Any:
    return kernels.rotary(x, cos, sin, positions, torch.get_num_threads())
