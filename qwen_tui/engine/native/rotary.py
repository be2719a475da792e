"""Rotary tables without torch, grown with the positions in use.

transformers' Qwen2RotaryEmbedding (and ``engine/bigdl/decoder/model.py:rotary_tables``, the
torch engine's copy) computes in float32: ``inv_freq = 1 / base ** (i / head_dim)``, the outer
product with the positions, then cos and sin (torch's vectorized Sleef functions, within 1 ulp
of the true value). Here the powers are taken in float64 and rounded to float32 before the
float32 reciprocal, which gives torch's ``inv_freq`` bit for bit for every head width and base
of the catalog but one value of head_dim 128 with base 1e6 (1 ulp; tests/core/test_native_model
names it); the products are the same float32 products, and cos and sin are taken in float64 of
them and rounded: within 1 ulp of torch's. (Bit for bit is out of reach without Sleef's own
algorithms, whose results depend on the vector width torch picks for the CPU.) Those last bits
are enough to flip some activations' int8 codes downstream, so logits differ from the torch
engine's by rounding and perplexities by a few tenths of a percent: Coder-0.5B's code text
measures +0.83 % against the float model here and +0.50 % on torch's tables; moving 5 % of
torch's entries by one ulp gives +0.40 to +0.91 %. Tables cover the positions asked for so far
(doubling as they grow, up to the model's limit) instead of all of them up front.
"""

from __future__ import annotations

import numpy as np

FIRST = 1024  # positions in the first tables


def inverse_frequencies(head_dim: int, base: float) -> np.ndarray:
    exponents = np.arange(0, head_dim, 2, dtype=np.int64).astype(np.float32) / np.float32(head_dim)
    powers = np.power(np.float64(np.float32(base)), exponents.astype(np.float64))
    return np.float32(1.0) / powers.astype(np.float32)


def rotary_tables(head_dim: int, base: float, positions: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin, float32 [positions, head_dim]."""
    freqs = np.outer(np.arange(positions, dtype=np.float32), inverse_frequencies(head_dim, base))
    angles = np.concatenate([freqs, freqs], axis=-1).astype(np.float64)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


class RotaryTables:
    """The tables of one model, long enough for the positions asked for so far."""

    def __init__(self, head_dim: int, base: float, limit: int) -> None:
        self.head_dim, self.base, self.limit = head_dim, base, limit
        self.cos = self.sin = np.empty((0, head_dim), np.float32)

    def covering(self, positions: int) -> tuple[np.ndarray, np.ndarray]:
        """(cos, sin) with rows for positions [0, ``positions``) at least."""
        if positions > self.cos.shape[0]:
            rows = min(self.limit, max(positions, FIRST, 2 * self.cos.shape[0]))
            self.cos, self.sin = rotary_tables(self.head_dim, self.base, rows)
        return self.cos, self.sin
