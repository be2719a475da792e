"""Qwen2 attention on the CPU without bigdl-llm's discarded score matrix.

bigdl-llm 2.5's CPU attention for Qwen2 (``qwen2_sdpa_attention_forward``)
computes Q·Kᵀ, scales it and adds the mask, checks its shape, then discards it
and calls ``scaled_dot_product_attention``, which computes the scores again.
For a 1,024-token prompt that is three 67 MB scratch matrices per layer; while
decoding with 500 tokens of context it costs about 0.4 ms per layer per token.
This is that function for the CPU only (bigdl's fused decoding path needs an
Intel GPU) without the discarded part, adapted from bigdl-llm 2.5.0
(Apache-2.0); with a float32 cache its outputs match bigdl-llm's to 1e-5 (tested).

Keys and values are cached in float16 (``layer_kv.CACHE_DTYPE``).

The q, k and v projections of the same input go to the q4 kernel in one call
(``matmul.project``). Attention itself, for a prompt or a decoded token, is
``layer_kv.attend_rows`` (our kernel, causal, reading the float16 cache where it
lies; grouped-query heads share their key/value head instead of ``repeat_kv``
copying the cache): a position's result is the same in a prompt or decoded,
so a kept cache changes nothing. SDPA remains for masks other than causal.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F

from .. import matmul
from . import rotary
from .layer_kv import attend_rows, cache_fits, cache_with_room, is_causal, new_cache

QWEN2_ATTENTION = ("Qwen2Attention", "Qwen2SdpaAttention")


def install(model: Any) -> int:
    """Replace bigdl-llm's Qwen2 attention function (once per process); return how many of
    the model's layers run through it."""
    from bigdl.llm.transformers.models import qwen2 as bigdl_qwen2

    layers = sum(type(m).__name__ in QWEN2_ATTENTION for m in model.modules())
    original = bigdl_qwen2.qwen2_sdpa_attention_forward
    if not layers or getattr(original, "qwen_tui", False):
        return layers

    def forward(self: Any, hidden_states: Any, attention_mask: Any = None, **kwargs: Any) -> Any:
        if hidden_states.device.type != "cpu" or hidden_states.requires_grad:
            return original(self, hidden_states, attention_mask=attention_mask, **kwargs)
        return _cpu_forward(self, hidden_states, attention_mask, **kwargs)

    forward.qwen_tui = True  # type: ignore[attr-defined]
    forward.__wrapped__ = original  # type: ignore[attr-defined]
    bigdl_qwen2.qwen2_sdpa_attention_forward = forward
    return layers


def _cpu_forward(
    self: Any,
    hidden_states: Any,
    attention_mask: Any = None,
    position_ids: Any = None,
    past_key_value: Any = None,
    output_attentions: bool = False,
    use_cache: bool = False,
    qwen_tui_last_only: bool = False,
    **kwargs: Any,
) -> tuple[Any, None, Any]:
    from bigdl.llm.transformers.models.llama import repeat_kv
    from bigdl.llm.transformers.models.utils import (
        append_kv_cache,
        is_enough_kv_cache_room_4_36,
    )

    bsz, q_len, _ = hidden_states.size()
    heads, kv_heads, head_dim = self.num_heads, self.num_key_value_heads, self.head_dim
    query, key, value = matmul.project([self.q_proj, self.k_proj, self.v_proj], hidden_states)
    query = query.view(bsz, q_len, heads, head_dim).transpose(1, 2)
    key = key.view(bsz, q_len, kv_heads, head_dim).transpose(1, 2)
    value = value.view(bsz, q_len, kv_heads, head_dim).transpose(1, 2)

    kv_seq_len = q_len
    if past_key_value is not None:
        kv_seq_len += past_key_value.get_usable_length(kv_seq_len, self.layer_idx)
    cos, sin = self.rotary_emb(value, seq_len=kv_seq_len)
    query, key = rotary.apply(query, key, cos, sin, position_ids)

    if past_key_value is not None:
        if self.layer_idx == 0:
            past_key_value.seen_tokens += q_len
        if len(past_key_value.key_cache) <= self.layer_idx:
            # with room for the reply, so the first decoded token does not copy the cache
            key, value = new_cache(key, value, kv_seq_len + 256)
            past_key_value.key_cache.append(key)
            past_key_value.value_cache.append(value)
        else:
            cache_k = past_key_value.key_cache[self.layer_idx]
            cache_v = past_key_value.value_cache[self.layer_idx]
            if not is_enough_kv_cache_room_4_36(past_key_value, self.layer_idx, q_len):
                # room for this step and the next 256 positions, like bigdl-llm
                room = kv_seq_len + 256
                cache_k, cache_v = cache_with_room(cache_k, cache_v, room, cache_k.dtype)
            key, value = append_kv_cache(cache_k, cache_v, key, value)
            past_key_value.key_cache[self.layer_idx] = key
            past_key_value.value_cache[self.layer_idx] = value

    causal = is_causal(attention_mask, q_len, key.shape[2])
    if qwen_tui_last_only and q_len > 1:
        # the model's last layer: only the sampled position goes on (last_layer.py)
        query, q_len = query[:, :, -1:], 1
        attention_mask = None if attention_mask is None else attention_mask[..., -1:, :]
    if cache_fits(key, value, bsz) and causal:
        return self.o_proj(attend_rows(query, key, value)), None, past_key_value

    # every attention reads the cached (rounded) values, so a prompt gives the same
    # result whether its first part comes from a kept cache or is computed again
    key = repeat_kv(key.to(query.dtype), self.num_key_value_groups)
    value = repeat_kv(value.to(query.dtype), self.num_key_value_groups)
    out = F.scaled_dot_product_attention(
        query,
        key,
        value,
        attn_mask=attention_mask,
        dropout_p=0.0,
        is_causal=self.is_causal and attention_mask is None and q_len > 1,
    )
    out = out.transpose(1, 2).contiguous().view(bsz, q_len, self.hidden_size)
    return self.o_proj(out), None, past_key_value
