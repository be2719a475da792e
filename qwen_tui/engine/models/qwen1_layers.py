"""Qwen-1's layers (qwen1.py builds the model from them): RMSNorm, rotary embeddings with dynamic
NTK scaling, attention over a fused q/k/v projection, the SwiGLU MLP and the decoder block. The
class and attribute names are the ones bigdl-llm's Qwen-1 conversion reads."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from .qwen1 import QWenConfig

Past = tuple[torch.Tensor, torch.Tensor]  # keys and values, [batch, positions, heads, head_dim]


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


class RotaryEmbedding(nn.Module):
    """cos and sin tables [1, positions, 1, dim], rebuilt when longer ones or another NTK alpha
    are asked for; ``_ntk_alpha_cached_list`` is what the last prompt used (bigdl-llm reads it)."""

    def __init__(self, dim: int, base: float = 10000) -> None:
        super().__init__()
        self.dim = dim
        self.base = base
        self.inv_freq = self._inv_freq(1.0)
        self._tables: list[torch.Tensor] = []
        self._seq_len_cached = 0
        self._ntk_alpha_cached = 1.0
        self._ntk_alpha_cached_list = [1.0]

    def _inv_freq(self, ntk_alpha: float) -> torch.Tensor:
        base = self.base * ntk_alpha ** (self.dim / (self.dim - 2))
        return 1.0 / (base ** (torch.arange(0, self.dim, 2).float() / self.dim))

    def forward(self, max_seq_len: int, ntk_alpha: float = 1.0) -> list[torch.Tensor]:
        if max_seq_len > self._seq_len_cached or ntk_alpha != self._ntk_alpha_cached:
            self.inv_freq = self._inv_freq(ntk_alpha)
            self._seq_len_cached = max(2 * max_seq_len, 16)
            self._ntk_alpha_cached = ntk_alpha
            positions = torch.arange(self._seq_len_cached, dtype=self.inv_freq.dtype)
            freqs = torch.outer(positions, self.inv_freq)
            angles = torch.cat((freqs, freqs), dim=-1)[None, :, None, :]
            self._tables = [angles.cos(), angles.sin()]
        cos, sin = self._tables
        return [cos[:, :max_seq_len], sin[:, :max_seq_len]]


def apply_rotary_pos_emb(t: torch.Tensor, freqs: list[torch.Tensor]) -> torch.Tensor:
    """Rotate the first ``rotary dim`` values of each head of ``t`` [b, s, heads, d] by the
    cos/sin tables [1, s, 1, rotary dim]: halves (x1, x2) become (x1·cos − x2·sin, x2·cos +
    x1·sin)."""
    cos, sin = freqs
    rot = cos.shape[-1]
    x = t.float()
    x_rot, x_pass = x[..., :rot], x[..., rot:]
    first, second = x_rot.chunk(2, dim=-1)
    rotated = x_rot * cos + torch.cat((-second, first), dim=-1) * sin
    return torch.cat((rotated, x_pass), dim=-1).type_as(t)


class QWenAttention(nn.Module):
    logn_tensor: torch.Tensor

    def __init__(self, config: QWenConfig) -> None:
        super().__init__()
        self.seq_length = config.seq_length
        self.hidden_size = config.hidden_size
        self.split_size = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = self.hidden_size // self.num_heads
        self.projection_size = config.kv_channels * config.num_attention_heads
        self.hidden_size_per_attention_head = self.projection_size // self.num_heads
        self.scale_attn_weights = True
        self.use_flash_attn = False
        self.is_fp32 = True
        self.bf16 = False
        self.use_dynamic_ntk = config.use_dynamic_ntk
        self.use_logn_attn = config.use_logn_attn
        self.softmax_in_fp32 = config.softmax_in_fp32
        self.use_cache_quantization = False
        self.use_cache_kernel = False
        self.c_attn = nn.Linear(config.hidden_size, 3 * self.projection_size)
        self.c_proj = nn.Linear(config.hidden_size, self.projection_size, bias=not config.no_bias)
        self.attn_dropout = nn.Dropout(config.attn_dropout_prob)
        self.register_buffer("logn_tensor", _logn(self.seq_length), persistent=False)

    def _split_heads(self, tensor: torch.Tensor, num_heads: int, head_dim: int) -> torch.Tensor:
        return tensor.view(tensor.size()[:-1] + (num_heads, head_dim))

    def _merge_heads(self, tensor: torch.Tensor, num_heads: int, head_dim: int) -> torch.Tensor:
        return tensor.contiguous().view(tensor.size()[:-2] + (num_heads * head_dim,))

    def _attn(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        causal_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention over [batch, heads, positions, head_dim] as matmuls and a softmax, the
        output [batch, positions, heads, head_dim]: bigdl-llm's Qwen-1 forward calls it."""
        weights = torch.matmul(query, key.transpose(-1, -2)) / (value.size(-1) ** 0.5)
        if causal_mask is not None:
            weights = torch.where(causal_mask, weights, torch.finfo(weights.dtype).min)
        if attention_mask is not None:
            weights = weights + attention_mask
        weights = F.softmax(weights.float() if self.softmax_in_fp32 else weights, dim=-1)
        weights = self.attn_dropout(weights.type(query.dtype))
        if head_mask is not None:
            weights = weights * head_mask
        return torch.matmul(weights, value).transpose(1, 2), weights

    def forward(
        self,
        hidden_states: torch.Tensor,
        rotary_pos_emb_list: list[list[torch.Tensor]] | None = None,
        layer_past: Past | None = None,
        attention_mask: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        encoder_hidden_states: Any = None,
        encoder_attention_mask: Any = None,
        output_attentions: bool = False,
        use_cache: bool = False,
    ) -> tuple[torch.Tensor, Past | None]:
        if output_attentions:
            raise ValueError("Qwen-1 attention does not return attention weights here")
        q, k, v = (
            self._split_heads(part, self.num_heads, self.head_dim)
            for part in self.c_attn(hidden_states).split(self.split_size, dim=2)
        )
        if rotary_pos_emb_list is not None:
            q, k = _rotate_each_sequence(q, k, rotary_pos_emb_list)
        if layer_past is not None:
            k = torch.cat((layer_past[0], k), dim=1)
            v = torch.cat((layer_past[1], v), dim=1)
        present = (k, v) if use_cache else None
        new, total = q.size(1), k.size(1)
        if total > self.seq_length and self.use_logn_attn and not self.training:
            q = q * self.logn_tensor[:, total - new : total].type_as(q).expand_as(q)
        # each new position sees the cache and itself and the new positions before it
        mask = torch.ones(new, total, dtype=torch.bool).tril(total - new)
        if attention_mask is not None:
            mask = attention_mask.masked_fill(~mask, torch.finfo(q.dtype).min)
        if head_mask is not None:
            raise ValueError("Qwen-1 attention takes no head mask here")
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask
        ).transpose(1, 2)
        return self.c_proj(self._merge_heads(out, self.num_heads, self.head_dim)), present


def _logn(seq_length: int) -> torch.Tensor:
    """log_{seq_length}(position) past seq_length, 1 up to it, for positions 1..32767
    [1, 32767, 1, 1]: Qwen-1's logn attention scaling of q beyond its training length."""
    positions = torch.arange(1, 32768, dtype=torch.float64)
    scale = torch.where(positions > seq_length, positions.log() / math.log(seq_length), 1.0)
    return scale.float()[None, :, None, None]


def _rotate_each_sequence(
    q: torch.Tensor, k: torch.Tensor, tables: list[list[torch.Tensor]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary on the newest positions; one NTK table for the batch, or one per sequence."""
    new = q.shape[1]
    sliced = [[t[:, -new:] for t in table] for table in tables]
    if len(sliced) == 1:
        return apply_rotary_pos_emb(q, sliced[0]), apply_rotary_pos_emb(k, sliced[0])
    qs = [apply_rotary_pos_emb(q[i : i + 1], table) for i, table in enumerate(sliced)]
    ks = [apply_rotary_pos_emb(k[i : i + 1], table) for i, table in enumerate(sliced)]
    return torch.cat(qs), torch.cat(ks)


class QWenMLP(nn.Module):
    def __init__(self, config: QWenConfig) -> None:
        super().__init__()
        width, bias = config.intermediate_size // 2, not config.no_bias
        self.w1 = nn.Linear(config.hidden_size, width, bias=bias)
        self.w2 = nn.Linear(config.hidden_size, width, bias=bias)
        self.c_proj = nn.Linear(width, config.hidden_size, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.w1(x) * F.silu(self.w2(x)))


class QWenBlock(nn.Module):
    def __init__(self, config: QWenConfig) -> None:
        super().__init__()
        self.ln_1 = RMSNorm(config.hidden_size, eps=config.layer_norm_epsilon)
        self.attn = QWenAttention(config)
        self.ln_2 = RMSNorm(config.hidden_size, eps=config.layer_norm_epsilon)
        self.mlp = QWenMLP(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        rotary_pos_emb_list: list[list[torch.Tensor]] | None = None,
        layer_past: Past | None = None,
        attention_mask: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        encoder_hidden_states: Any = None,
        encoder_attention_mask: Any = None,
        use_cache: bool = False,
        output_attentions: bool = False,
    ) -> tuple[Any, ...]:
        attn_out, present = self.attn(
            self.ln_1(hidden_states),
            rotary_pos_emb_list,
            layer_past=layer_past,
            attention_mask=attention_mask,
            head_mask=head_mask,
            use_cache=use_cache,
            output_attentions=output_attentions,
        )
        hidden_states = hidden_states + attn_out
        hidden_states = hidden_states + self.mlp(self.ln_2(hidden_states))
        return (hidden_states, present) if use_cache else (hidden_states,)
