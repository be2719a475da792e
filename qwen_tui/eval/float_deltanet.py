"""Qwen3.5's Gated DeltaNet in numpy float32, as transformers 5's ``models/qwen3_5`` computes it
(``Qwen3_5GatedDeltaNet``): the part of a linear-attention layer between its projections, for a
whole prompt or one token at a time on a carried state. The C decoder's step mirrors
``deltanet_mix`` with one row; its prompt path may use ``delta_rule_chunked``'s blocking.

For ``n`` tokens of a layer, with ``qkv = x @ in_proj_qkv.T`` [n, conv_dim], ``z``, ``a``, ``b``
the other projections of the normed input ``x``:

1. ``qkv`` through the causal depthwise conv1d (kernel K, no bias; the K-1 inputs before these
   are the state's ``window``, zeros at the start), then SiLU;
2. split into q [n, Hk, dk], k [n, Hk, dk], v [n, Hv, dv]; each key head serves Hv/Hk
   consecutive value heads (value head h reads key head h // (Hv/Hk));
3. q and k L2-normalized (``x / sqrt(sum(x^2) + 1e-6)``), q scaled by 1/sqrt(dk);
4. ``beta = sigmoid(b)``, decay ``g = -exp(A_log) * softplus(a + dt_bias)`` (log space, <= 0);
5. per value head the gated delta rule on S [dk, dv] (zeros at the start): ``S *= exp(g)``;
   ``S += k (beta (v - S^T k))^T``; the output ``S^T q`` (after the update);
6. each head's output RMS-normed (``rms_norm_eps``), times the norm's weight (plain ``w``, not
   ``1 + w``), times SiLU(z) of that head; then ``out_proj``.

Everything is float32, as transformers computes it (its recurrent and chunked kernels cast to
float32 whatever the model's dtype).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .float_layers import silu

L2_EPS = 1e-6  # transformers' l2norm (and FLA's); llama.cpp's ggml_l2_norm uses rms_norm_eps
CHUNK = 64  # transformers' chunk size for prompts


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.float32(1.0) / (np.float32(1.0) + np.exp(-x))


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)), and x itself above 20 (torch's threshold)."""
    with np.errstate(over="ignore"):
        return np.where(x > 20, x, np.log1p(np.exp(x))).astype(np.float32)


def l2_norm(x: np.ndarray) -> np.ndarray:
    """``x / sqrt(sum(x^2) + 1e-6)`` over the last axis."""
    total = np.sum(np.square(x), axis=-1, keepdims=True, dtype=np.float32)
    return x * (np.float32(1.0) / np.sqrt(total + np.float32(L2_EPS)))


def gated_rms_norm(x: np.ndarray, gate: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    """Qwen3_5RMSNormGated: ``(x / sqrt(mean(x^2) + eps)) * w * silu(gate)`` over the last axis
    (one head's values), in that order."""
    variance = np.mean(np.square(x), axis=-1, keepdims=True, dtype=np.float32)
    normed = x * (np.float32(1.0) / np.sqrt(variance + np.float32(eps)))
    return (weight * normed) * silu(gate)


@dataclass
class LinearState:
    """What a linear-attention layer carries from token to token: the conv's last K-1 inputs
    [K-1, conv_dim] (oldest first) and the delta rule's state [Hv, dk, dv]."""

    window: np.ndarray
    state: np.ndarray

    @classmethod
    def empty(cls, conv_dim: int, kernel: int, heads: int, dk: int, dv: int) -> LinearState:
        return cls(
            np.zeros((kernel - 1, conv_dim), np.float32), np.zeros((heads, dk, dv), np.float32)
        )


def causal_conv(x: np.ndarray, weight: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Depthwise causal conv1d of ``x`` [n, C] by ``weight`` [C, K] (oldest tap first), the
    ``window`` [K-1, C] of inputs before ``x`` in front; before the SiLU."""
    kernel = weight.shape[1]
    padded = np.concatenate([window, x], axis=0)
    out = np.zeros_like(x)
    for j in range(kernel):
        out += padded[j : j + x.shape[0]] * weight[:, j]
    return out


def delta_rule(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, g: np.ndarray, beta: np.ndarray, state: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The gated delta rule one token at a time (transformers' recurrent form): q, k [n, H, dk]
    (normed, q scaled, one per value head), v [n, H, dv], g, beta [n, H], state [H, dk, dv].
    Returns the outputs [n, H, dv] and the new state."""
    s = state.copy()
    out = np.empty_like(v)
    for t in range(q.shape[0]):
        s *= np.exp(g[t])[:, None, None]
        remembered = np.einsum("hkv,hk->hv", s, k[t])
        delta = (v[t] - remembered) * beta[t][:, None]
        s += k[t][:, :, None] * delta[:, None, :]
        out[t] = np.einsum("hkv,hk->hv", s, q[t])
    return out, s


def delta_rule_chunked(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    g: np.ndarray,
    beta: np.ndarray,
    state: np.ndarray,
    chunk: int = CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """The same, ``chunk`` tokens at a time (transformers' chunked form, the WY/UT transform):
    within a chunk the updates are solved as one unit lower-triangular system."""
    out = np.empty_like(v)
    s = state.copy()
    for start in range(0, q.shape[0], chunk):
        end = min(start + chunk, q.shape[0])
        for h in range(q.shape[1]):
            out[start:end, h], s[h] = _chunk(
                q[start:end, h], k[start:end, h], v[start:end, h], g[start:end, h],
                beta[start:end, h], s[h],
            )  # fmt: skip
    return out, s


def _chunk(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, g: np.ndarray, beta: np.ndarray, s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One head, one chunk of c tokens: q, k [c, dk], v [c, dv], g, beta [c], s [dk, dv]."""
    c = q.shape[0]
    cum = np.cumsum(g, dtype=np.float32)  # log of the decay from the chunk's start
    lower = np.tril(np.ones((c, c), dtype=bool))
    pairwise = np.where(lower, np.exp(np.where(lower, cum[:, None] - cum[None, :], 0)), 0)
    pairwise = pairwise.astype(np.float32)
    k_beta, v_beta = k * beta[:, None], v * beta[:, None]
    system = np.tril((k_beta @ k.T) * pairwise, -1)  # below the unit diagonal
    new_values = _unit_lower_solve(system, v_beta)
    k_cumdecay = _unit_lower_solve(system, k_beta * np.exp(cum)[:, None])
    v_new = new_values - k_cumdecay @ s
    attended = (q @ k.T) * pairwise
    out = (q * np.exp(cum)[:, None]) @ s + attended @ v_new
    k_decayed = k * np.exp(cum[-1] - cum)[:, None]
    return out, s * np.exp(cum[-1]) + k_decayed.T @ v_new


def _unit_lower_solve(strict: np.ndarray, b: np.ndarray) -> np.ndarray:
    """X with ``(I + strict) X = b``, ``strict`` strictly lower-triangular (by substitution)."""
    x = np.empty_like(b)
    for i in range(b.shape[0]):
        x[i] = b[i] - strict[i, :i] @ x[:i]
    return x


@dataclass(frozen=True)
class DeltaNetWeights:
    """A linear-attention layer's small float weights, as the checkpoint holds them."""

    conv: np.ndarray  # [conv_dim, K]
    a_log: np.ndarray  # [Hv]
    dt_bias: np.ndarray  # [Hv]
    norm: np.ndarray  # [dv]
    k_heads: int
    k_dim: int
    v_dim: int
    eps: float


def deltanet_mix(
    qkv: np.ndarray,
    z: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    w: DeltaNetWeights,
    carried: LinearState,
    chunked: bool = True,
) -> tuple[np.ndarray, LinearState]:
    """Steps 1-6 above for n tokens: the projections' outputs ``qkv`` [n, conv_dim], ``z``
    [n, Hv*dv], ``a``, ``b`` [n, Hv] in, what ``out_proj`` takes [n, Hv*dv] out, and the state
    after them (``carried`` is left as it was). ``chunked`` picks the delta rule's form."""
    n, heads = a.shape
    key_dim = w.k_heads * w.k_dim
    mixed = silu(causal_conv(qkv, w.conv, carried.window))
    window = np.concatenate([carried.window, qkv], axis=0)[-carried.window.shape[0] :]
    q = mixed[:, :key_dim].reshape(n, w.k_heads, w.k_dim)
    k = mixed[:, key_dim : 2 * key_dim].reshape(n, w.k_heads, w.k_dim)
    v = mixed[:, 2 * key_dim :].reshape(n, heads, w.v_dim)
    serves = heads // w.k_heads  # value heads per key head, consecutive
    q = np.repeat(l2_norm(q), serves, axis=1) * np.float32(1.0 / np.sqrt(w.k_dim))
    k = np.repeat(l2_norm(k), serves, axis=1)
    beta = sigmoid(b)
    g = -np.exp(w.a_log) * softplus(a + w.dt_bias)
    rule = delta_rule_chunked if chunked else delta_rule
    core, state = rule(q, k, v, g, beta, carried.state)
    gated = gated_rms_norm(core, z.reshape(n, heads, w.v_dim), w.norm, w.eps)
    return gated.reshape(n, heads * w.v_dim).astype(np.float32), LinearState(window, state)
