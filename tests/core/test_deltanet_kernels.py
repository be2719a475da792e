"""The Gated DeltaNet's C kernels (csrc/deltanet.c through kernels/deltanet_api.py) against
eval/float_deltanet.py, the float reference that matches transformers 5: the conv with its
window, the gated delta rule, the L2 norms and gates, the gated RMSNorm, on random inputs of
several head shapes, a prompt then single tokens, the window and state carried across calls;
and the checks that stand before a pointer reaches C."""

from __future__ import annotations

import numpy as np
import pytest

from qwen_tui.engine import kernels
from qwen_tui.engine.kernels import KernelError
from qwen_tui.engine.kernels import deltanet_api as ours
from qwen_tui.eval import float_deltanet as ref

pytestmark = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the float kernels need AVX2, which this CPU lacks"
)
# (key heads, value heads, k_dim, v_dim, conv kernel): one key head per value head, two and
# three value heads per key head, v_dim with and without a 32-wide tail, Qwen3.5's 128
SHAPES = [(1, 1, 8, 8, 4), (2, 4, 16, 16, 4), (1, 3, 24, 40, 3), (2, 2, 128, 128, 4)]
FEEDS = (9, 1, 1, 70, 1)  # a prompt, tokens, a prompt of two of transformers' chunks, a token


def close(got, want, tol=1e-5):
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, np.abs(want).max()))


def random_weights(rng, k_heads, v_heads, k_dim, v_dim, kernel) -> ref.DeltaNetWeights:
    conv_dim = 2 * k_heads * k_dim + v_heads * v_dim
    return ref.DeltaNetWeights(
        conv=(rng.standard_normal((conv_dim, kernel)) * 0.3).astype(np.float32),
        a_log=rng.uniform(-2.3, 0.0, v_heads).astype(np.float32),
        dt_bias=(rng.standard_normal(v_heads) * 0.5).astype(np.float32),
        norm=(1 + rng.standard_normal(v_dim) * 0.2).astype(np.float32),
        k_heads=k_heads, k_dim=k_dim, v_dim=v_dim, eps=1e-6,
    )  # fmt: skip


def inputs(rng, n, w: ref.DeltaNetWeights, v_heads: int) -> tuple[np.ndarray, ...]:
    conv_dim = w.conv.shape[0]
    return tuple(
        rng.standard_normal(shape).astype(np.float32)
        for shape in ((n, conv_dim), (n, v_heads * w.v_dim), (n, v_heads), (n, v_heads))
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_the_layer_between_its_projections_is_the_references(shape):
    """deltanet_mix on C, fed a prompt then tokens, carries the window and state exactly as
    the reference does (token by token, and transformers' chunked form for prompts)."""
    k_heads, v_heads, k_dim, v_dim, kernel = shape
    rng = np.random.default_rng(sum(shape))
    w = random_weights(rng, *shape)
    conv_dim = w.conv.shape[0]
    carried = ref.LinearState.empty(conv_dim, kernel, v_heads, k_dim, v_dim)
    window, state = carried.window.copy(), carried.state.copy()
    taps = np.ascontiguousarray(w.conv.T)
    A = -np.exp(w.a_log)  # noqa: N806
    dims = ours.DeltaNetShape(k_heads, k_dim, v_dim, w.eps)
    for n in FEEDS:
        qkv, z, a, b = inputs(rng, n, w, v_heads)
        want, after = ref.deltanet_mix(qkv, z, a, b, w, carried, chunked=False)
        chunked, _ = ref.deltanet_mix(qkv, z, a, b, w, carried, chunked=True)
        got = ours.deltanet_mix(qkv, z, a, b, taps, A, w.dt_bias, w.norm, dims, window, state, 2)
        close(got, want)
        close(got, chunked, 1e-4)  # the chunked form rounds differently
        assert np.array_equal(window, after.window)  # the window is the inputs themselves
        close(state, after.state)
        carried = after
    assert np.abs(state).max() > 0.1


@pytest.mark.parametrize("shape", SHAPES)
def test_the_conv_with_its_window(shape):
    """Products then sums in the reference's order: the conv's output is the reference's bit
    for bit before the SiLU, and within the SiLU's rounding after it."""
    k_heads, v_heads, k_dim, v_dim, kernel = shape
    rng = np.random.default_rng(7)
    conv_dim = 2 * k_heads * k_dim + v_heads * v_dim
    weight = rng.standard_normal((conv_dim, kernel)).astype(np.float32)
    taps = np.ascontiguousarray(weight.T)
    window = np.zeros((kernel - 1, conv_dim), np.float32)
    theirs = window.copy()
    for n in (1, 5, 1, 2):
        x = rng.standard_normal((n, conv_dim)).astype(np.float32)
        want = ref.causal_conv(x, weight, theirs)
        theirs = np.concatenate([theirs, x])[-(kernel - 1) :]
        got = ours.deltanet_conv(x, window, taps, 1)
        close(got, ref.silu(want), 1e-6)
        assert np.array_equal(window, theirs)


@pytest.mark.parametrize("shape", SHAPES)
def test_the_delta_rule_alone_and_the_state_it_carries(shape):
    """q, k per key head (each serving v_heads / k_heads consecutive value heads), the state
    carried over calls of a prompt then single tokens; 2 threads split the heads."""
    k_heads, v_heads, k_dim, v_dim, _ = shape
    rng = np.random.default_rng(11)
    serves = v_heads // k_heads
    state = rng.standard_normal((v_heads, k_dim, v_dim)).astype(np.float32)
    theirs = state.copy()
    for n in FEEDS:
        q = ref.l2_norm(rng.standard_normal((n, k_heads, k_dim)).astype(np.float32))
        q = q / np.float32(np.sqrt(k_dim))
        k = ref.l2_norm(rng.standard_normal((n, k_heads, k_dim)).astype(np.float32))
        v = rng.standard_normal((n, v_heads, v_dim)).astype(np.float32)
        g = -rng.uniform(0.01, 1.0, (n, v_heads)).astype(np.float32)
        beta = rng.uniform(0.0, 1.0, (n, v_heads)).astype(np.float32)
        want, theirs = ref.delta_rule(
            np.repeat(q, serves, axis=1), np.repeat(k, serves, axis=1), v, g, beta, theirs
        )
        mixed = np.concatenate([q.reshape(n, -1), k.reshape(n, -1), v.reshape(n, -1)], axis=1)
        got = ours.deltanet_rule(mixed, g, beta, state, k_heads, threads=2)
        close(got, want.reshape(n, -1))
        close(state, theirs)


def test_the_gates_and_the_gated_norm():
    rng = np.random.default_rng(5)
    n, k_heads, k_dim, v_heads = 6, 2, 16, 4
    mixed = rng.standard_normal((n, 2 * k_heads * k_dim + v_heads * 8)).astype(np.float32)
    a, b = (rng.standard_normal((n, v_heads)).astype(np.float32) * 8 for _ in range(2))
    a_log = rng.uniform(-2, 0, v_heads).astype(np.float32)
    dt_bias = rng.standard_normal(v_heads).astype(np.float32)
    original = mixed.copy()
    g, beta = ours.deltanet_gates(mixed, a, b, -np.exp(a_log), dt_bias, k_heads, k_dim, 1)
    close(beta, ref.sigmoid(b), 1e-6)
    close(g, -np.exp(a_log) * ref.softplus(a + dt_bias), 1e-6)  # a + dt > 20 too: softplus = x
    key = k_heads * k_dim
    q = original[:, :key].reshape(n, k_heads, k_dim)
    k = original[:, key : 2 * key].reshape(n, k_heads, k_dim)
    close(mixed[:, :key], (ref.l2_norm(q) / np.float32(np.sqrt(k_dim))).reshape(n, -1), 1e-6)
    close(mixed[:, key : 2 * key], ref.l2_norm(k).reshape(n, -1), 1e-6)
    assert np.array_equal(mixed[:, 2 * key :], original[:, 2 * key :])  # v as it was
    x, z = (rng.standard_normal((n * v_heads, 8)).astype(np.float32) for _ in range(2))
    weight = rng.standard_normal(8).astype(np.float32)
    close(ours.gated_rms_norm(x, z, weight, 1e-6, 1), ref.gated_rms_norm(x, z, weight, 1e-6))
    w = rng.standard_normal((v_heads, 64)).astype(np.float32)
    x = rng.standard_normal((n, 64)).astype(np.float32)
    close(ours.float_matmul(x, w, 2), x @ w.T)


def test_every_pointer_is_checked_first():
    rng = np.random.default_rng(0)
    taps = rng.standard_normal((4, 16)).astype(np.float32)
    window = np.zeros((3, 16), np.float32)
    x = rng.standard_normal((2, 16)).astype(np.float32)
    with pytest.raises(KernelError, match="qkv must be float32"):
        ours.deltanet_conv(x.astype(np.float64), window, taps, 1)
    with pytest.raises(KernelError, match="window must have the shape"):
        ours.deltanet_conv(x, window[:2], taps, 1)
    with pytest.raises(KernelError, match="window must be writable"):
        window.flags.writeable = False
        ours.deltanet_conv(x, window, taps, 1)
    with pytest.raises(KernelError, match="must be C-contiguous"):
        ours.deltanet_conv(np.zeros((16, 2), np.float32).T, np.zeros((3, 16), np.float32), taps, 1)
    state = np.zeros((2, 8, 8), np.float32)
    mixed = np.zeros((1, 2 * 8 + 2 * 8), np.float32)
    g = beta = np.zeros((1, 2), np.float32)
    with pytest.raises(KernelError, match="mixed must be 32 wide"):
        ours.deltanet_rule(mixed[:, :24].copy(), g, beta, state, 1, 1)
    with pytest.raises(KernelError, match="multiple of key heads"):
        ours.deltanet_rule(mixed, g, beta, np.zeros((3, 8, 8), np.float32), 2, 1)
    with pytest.raises(KernelError, match="beta must have the shape"):
        ours.deltanet_rule(mixed, g, np.zeros((2, 2), np.float32), state, 1, 1)
