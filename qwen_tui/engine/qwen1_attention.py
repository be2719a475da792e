"""Qwen-1 attention for a decoded token, read from the KV cache in place.

bigdl-llm runs Qwen-1's remote-code ``_attn`` on the CPU: two batched matmuls
and a softmax over the whole cache for every new token. For one query row
without masks, ``q4matmul.attend`` computes the same thing reading the cache
once; everything else (prompts, masks, head masks) still goes to ``_attn``.
"""

from __future__ import annotations

import types
from typing import Any

from .attend import attend_one, cache_fits


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
    one_row = query.shape[2] == 1 and causal_mask is None and query.dtype == key.dtype
    unmasked = attention_mask is None and head_mask is None
    if one_row and unmasked and cache_fits(key, value, query.shape[0]):
        return attend_one(query, key, value).transpose(1, 2), None
    return self.qwen_tui_attn(query, key, value, causal_mask, attention_mask, head_mask)
