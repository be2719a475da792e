"""The float model's arithmetic in numpy float32, as transformers' Qwen2 (and our Qwen-1 and
Qwen3 code, written from the originals) computes it: RMSNorm, rotary embeddings, causal
grouped-query attention with a softmax, and the gated MLP's activation. ``float_reference.py``
runs a whole model from these, one weight at a time; Qwen3.5's linear attention is
``float_deltanet.py``."""

from __future__ import annotations

import numpy as np


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    """``weight * x / sqrt(mean(x^2) + eps)`` over the last axis (Qwen2RMSNorm)."""
    variance = np.mean(np.square(x), axis=-1, keepdims=True, dtype=np.float32)
    return weight * (x * (np.float32(1.0) / np.sqrt(variance + np.float32(eps))))


def rotary_tables(head_dim: int, base: float, positions: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin ``[positions, head_dim]`` as Qwen2RotaryEmbedding builds them: float32
    inverse frequencies, float32 angles ``t * inv_freq`` for both halves of a head."""
    exponents = np.arange(0, head_dim, 2, dtype=np.int64).astype(np.float32) / np.float32(head_dim)
    inv_freq = np.float32(1.0) / np.power(np.float32(base), exponents, dtype=np.float32)
    angles = np.outer(np.arange(positions, dtype=np.float32), inv_freq).astype(np.float32)
    both = np.concatenate([angles, angles], axis=-1)
    return np.cos(both).astype(np.float32), np.sin(both).astype(np.float32)


def rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Heads ``x`` [positions, heads, head_dim] rotated: ``x * cos + rotate_half(x) * sin``,
    where rotate_half turns halves (x1, x2) into (-x2, x1). Tables narrower than a head turn
    only its first dims (Qwen3.5's partial rotary) and pass the rest through."""
    width = cos.shape[-1]
    if width < x.shape[-1]:
        return np.concatenate([rotate(x[..., :width], cos, sin), x[..., width:]], axis=-1)
    half = x.shape[-1] // 2
    turned = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos[:, None, :] + turned * sin[:, None, :]


def causal_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """softmax(q k^T / sqrt(head_dim), each position seeing itself and those before) v, for
    q [n, heads, d] and k, v [past + n, kv_heads, d] (the last n are q's positions; each kv head
    serving heads / kv_heads query heads in turn); the result is [n, heads * d]."""
    n, heads, d = q.shape
    past = k.shape[0] - n
    group = heads // k.shape[1]
    scale = np.float32(1.0 / np.sqrt(d))
    future = np.triu(np.ones((n, past + n), dtype=bool), k=past + 1)
    out = np.empty((n, heads, d), np.float32)
    for h in range(heads):
        scores = (q[:, h, :] @ k[:, h // group, :].T) * scale
        scores[future] = -np.inf
        scores -= scores.max(axis=-1, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=-1, keepdims=True)
        out[:, h, :] = weights @ v[:, h // group, :]
    return out.reshape(n, heads * d)


def silu(x: np.ndarray) -> np.ndarray:
    """x * sigmoid(x) (a very negative x gives -0: exp overflows to infinity on purpose)."""
    with np.errstate(over="ignore"):
        return x / (np.float32(1.0) + np.exp(-x))
