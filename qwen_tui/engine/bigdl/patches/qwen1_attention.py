"""Qwen-1 attention on the CPU: our kernels and a float16 KV cache.

bigdl-llm 2.5 splits Qwen-1's ``c_attn`` into q/k/v projections and on the CPU
runs them as three calls, rotates with about a dozen torch operations, keeps
a float32 cache and calls the remote code's ``_attn``: two batched matmuls and
a softmax over the whole cache (for a prompt, the whole score matrix before
the causal mask throws half of it away). This is that forward
(``qwen_attention_forward_original``, bigdl-llm 2.5.0, Apache-2.0) for the
plain case, the way ``qwen2_attention`` does Qwen2's:

- q/k/v in one kernel call (``matmul.project``);
- rotary by ``rotary.apply`` (our kernel, the same products and sums);
- keys and values cached in float16 (``layer_kv.CACHE_DTYPE``): half the
  memory, and half the bytes a decoded token reads;
- attention by ``layer_kv.attend_rows``, causal, over the cache where it lies.

A position's result is the same in a prompt or decoded, so a kept cache
changes nothing. Everything else (masks, head masks, attention weights asked
for, more than one sequence, partial rotary, logn scaling past
``seq_length``) goes to bigdl-llm's forward, kept as ``qwen_tui_forward``.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F

from ... import kernels
from .. import matmul
from . import forwards, rotary
from .layer_kv import attend_rows, cache_fits, cache_with_room, new_cache


def install(model: Any) -> int:
    """Give every plain Qwen-1 attention layer our CPU forward; return how many."""

    def ours(module: Any) -> Any:
        if type(module).__name__ != "QWenAttention" or not kernels.float_kernels():
            return None
        if getattr(module, "use_cache_quantization", False) or not module.scale_attn_weights:
            return None
        if getattr(module, "use_flash_attn", False) or module.head_dim % 16:
            return None
        if not all(hasattr(module, name) for name in ("q_proj", "k_proj", "v_proj")):
            return None  # c_attn not split by bigdl-llm: its forward knows that layout
        return functools.partial(_forward, module)

    return forwards.replace(model, ours)


def _forward(
    self: Any,
    hidden_states: Any,
    rotary_pos_emb_list: Any = None,
    layer_past: Any = None,
    attention_mask: Any = None,
    head_mask: Any = None,
    encoder_hidden_states: Any = None,
    encoder_attention_mask: Any = None,
    output_attentions: bool = False,
    use_cache: bool = False,
    qwen_tui_last_only: bool = False,
) -> tuple[Any, ...]:
    bsz, q_len, _ = hidden_states.size()
    past_len = 0 if layer_past is None else layer_past[0].size(1)
    kv_seq_len = past_len + q_len
    plain = (
        bsz == 1
        and hidden_states.device.type == "cpu"
        and not hidden_states.requires_grad
        and attention_mask is None
        and head_mask is None
        and encoder_hidden_states is None
        and not output_attentions
        and rotary_pos_emb_list is not None
        and len(rotary_pos_emb_list) == 1
        and rotary_pos_emb_list[0][0].shape[-1] == self.head_dim
        and not (self.use_logn_attn and kv_seq_len > self.seq_length)
    )
    if not plain:
        return self.qwen_tui_forward(
            hidden_states,
            rotary_pos_emb_list,
            layer_past,
            attention_mask,
            head_mask,
            encoder_hidden_states,
            encoder_attention_mask,
            output_attentions,
            use_cache,
        )

    heads, head_dim = self.num_heads, self.head_dim
    query, key, value = matmul.project([self.q_proj, self.k_proj, self.v_proj], hidden_states)
    query = query.view(1, q_len, heads, head_dim).transpose(1, 2)
    key = key.view(1, q_len, heads, head_dim).transpose(1, 2)
    value = value.view(1, q_len, heads, head_dim).transpose(1, 2)
    # Qwen-1's tables are [1, positions, 1, dim]; this step's rows are the last q_len
    cos, sin = (t[0, :, 0] for t in rotary_pos_emb_list[0])
    positions = torch.arange(past_len, kv_seq_len).view(1, q_len)
    query, key = rotary.apply(query, key, cos, sin, positions)

    if layer_past is None:
        key, value = new_cache(key, value, kv_seq_len + 256)
    else:
        from bigdl.llm.transformers.models.utils import append_kv_cache

        cache_k, cache_v = layer_past[0].transpose(1, 2), layer_past[1].transpose(1, 2)
        if cache_k.stride(1) < kv_seq_len * cache_k.size(3):  # no room for this step
            room = kv_seq_len + 256
            cache_k, cache_v = cache_with_room(cache_k, cache_v, room, cache_k.dtype)
        key, value = append_kv_cache(cache_k, cache_v, key, value)

    if qwen_tui_last_only:  # the model's last layer: only the sampled position goes on
        query = query[:, :, -1:]
    fits = cache_fits(key, value, bsz)
    out = attend_rows(query, key, value) if fits else _sdpa(query, key, value)
    present = (key.transpose(1, 2), value.transpose(1, 2)) if use_cache else None
    return self.c_proj(out), present


def _sdpa(query: Any, key: Any, value: Any) -> Any:
    """Causal attention of the last query rows for a cache our kernel cannot read in place."""
    _, heads, rows, dim = query.shape
    length = key.shape[2]
    seen = torch.ones(rows, length, dtype=torch.bool).tril(length - rows)
    out = F.scaled_dot_product_attention(
        query, key.to(query.dtype), value.to(query.dtype), attn_mask=seen
    )
    return out.transpose(1, 2).reshape(1, rows, heads * dim)
