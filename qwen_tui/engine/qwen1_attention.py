"""Qwen-1 attention read from the KV cache in place.

bigdl-llm runs Qwen-1's remote-code ``_attn`` on the CPU: two batched matmuls
and a softmax over the whole cache (and, for a prompt, the whole score matrix
before the causal mask throws half of it away). For a decoded token, or a
prompt with bigdl-llm's plain causal mask, ``attend.attend_rows`` computes the
same thing reading the cache once; other masks and head masks still go to
``_attn``.
"""

from __future__ import annotations

import types
from typing import Any

from .attend import attend_one, attend_rows, cache_fits, is_causal


def install(model: Any) -> int:
    """Wrap ``_attn`` of every Qwen-1 attention layer; return how many were wrapped."""
    wrapped = 0
    for module in model.modules():
        if type(module).__name__ != "QWenAttention" or hasattr(module, "qwen_tui_attn"):
            continue
        if getattr(module, "use_cache_quantization", False) or not module.scale_attn_weights:
            continue
        module.qwen_tui_attn = module._attn
        module._attn = types.MethodType(_attn, module)
        wrapped += 1
    return wrapped


def _attn(
    self: Any,
    query: Any,
    key: Any,
    value: Any,
    causal_mask: Any = None,
    attention_mask: Any = None,
    head_mask: Any = None,
) -> tuple[Any, Any]:
    _, heads, rows, dim = query.shape
    plain = query.dtype == key.dtype and attention_mask is None and head_mask is None
    if plain and cache_fits(key, value, query.shape[0]):
        if rows == 1 and causal_mask is None:  # a decoded token
            return attend_one(query, key, value).transpose(1, 2), None
        if causal_mask is not None and is_causal(causal_mask, rows, key.shape[2]):
            return attend_rows(query, key, value).view(1, rows, heads, dim), None
    return self.qwen_tui_attn(query, key, value, causal_mask, attention_mask, head_mask)
