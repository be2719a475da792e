"""Every variant of our low-bit matmul kernels this CPU runs, the portable C one included,
against an independent numpy statement of the arithmetic (tests/kernel_reference.py): the
activation blocks and the results bit for bit."""

import numpy as np
import pytest
import torch
from kernel_reference import matmul, parse_blocks, quantize_blocks
from lowbit import FORMAT_NAMES, ISAS, low_bit_layer, needs_kernels, packed

from qwen_tui.engine import kernels
from qwen_tui.engine.kernels.formats import FORMATS

COLS, OUT = 320, 40


@needs_kernels
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("rows", [1, 3, 9, 33, 100])
def test_activations_quantize_as_numpy_does(isa, rows):
    torch.manual_seed(rows)
    x = torch.randn(rows, COLS) * torch.logspace(-3, 2, rows)[:, None]
    x[0, :64] = 0.0  # an all-zero block: scale 0, codes 0
    q, d, sums = parse_blocks(kernels.quantize_activations(x, isa=isa).numpy(), rows, COLS)
    want_q, want_d, want_sums = quantize_blocks(x.numpy())
    assert np.array_equal(q, want_q) and np.array_equal(d, want_d)
    assert np.array_equal(sums, want_sums)


@needs_kernels
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@pytest.mark.parametrize("rows", [1, 2, 3, 5, 8, 9, 31, 32, 100])
def test_every_variant_computes_what_numpy_does(isa, fmt, rows):
    layer = low_bit_layer(fmt, OUT, COLS, bias=True, seed=rows)  # seeds torch too
    x = torch.randn(rows, COLS)
    expected = matmul(
        *quantize_blocks(x.numpy()), layer.weight.data, FORMATS[fmt], OUT, layer.bias.numpy()
    )
    ours = kernels.matmul(x, [packed(layer)], 2, isa=isa)[0].numpy()
    assert np.array_equal(ours, expected), np.abs(ours - expected).max()


@needs_kernels
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_a_gated_input_is_silu_times_up_then_the_same_matmul(isa, fmt):
    """silu(g)·u is formed in the kernel (a polynomial e^x, so within a code of numpy's float64
    silu), then multiplied exactly as numpy does with those blocks."""
    layer = low_bit_layer(fmt, OUT, COLS, bias=True, seed=7)  # seeds torch too
    g, u = torch.randn(9, COLS), torch.randn(9, COLS)
    q, d, sums = parse_blocks(kernels.quantize_activations(g, u, isa=isa).numpy(), 9, COLS)
    g64, u64 = g.double().numpy(), u.double().numpy()
    want_q, want_d, _ = quantize_blocks((g64 / (1 + np.exp(-g64)) * u64).astype(np.float32))
    assert np.abs(q.astype(int) - want_q).max() <= 1 and np.allclose(d, want_d, rtol=1e-5)
    expected = matmul(q, d, sums, layer.weight.data, FORMATS[fmt], OUT, layer.bias.numpy())
    ours = kernels.matmul(g, [packed(layer)], 2, up=u, isa=isa)[0].numpy()
    assert np.array_equal(ours, expected)


def arbitrary_weight(fmt: str, seed: int) -> torch.Tensor:
    """OUT x COLS weight bytes in bigdl-llm's blocks with every code random (any 5-bit pattern,
    int8 -128 included, which no quantizer writes) and small positive scales."""
    f = FORMATS[fmt]
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (OUT * COLS // 64, f.block_bytes), dtype=np.uint8)
    if f.bits == 8:
        blocks[:, 4::7] = 0x80  # int8 -128 in every block
        blocks[:, :4] = rng.uniform(1e-3, 2e-3, (len(blocks), 1)).astype(np.float32).view(np.uint8)
    else:
        scales = rng.uniform(1e-3, 2e-3, (len(blocks), 2 if f.asym else 1)).astype(np.float16)
        blocks[:, : scales.itemsize * scales.shape[1]] = scales.view(np.uint8)
    return torch.from_numpy(blocks.reshape(-1))


@needs_kernels
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@pytest.mark.parametrize("rows", [1, 3, 9])
def test_any_stored_codes_multiply_exactly(isa, fmt, rows):
    """Codes no quantizer writes are still the format's values: every variant multiplies them
    as numpy does (one row takes the 8-bit tiles' shortcut through the activations' signs,
    more rows the prompts' tiles)."""
    raw = arbitrary_weight(fmt, seed=rows)
    x = torch.randn(rows, COLS)
    bias = torch.randn(OUT)
    expected = matmul(*quantize_blocks(x.numpy()), raw, FORMATS[fmt], OUT, bias.numpy())
    weight = kernels.pack(FORMATS[fmt], raw, OUT, COLS, bias)
    ours = kernels.matmul(x, [weight], 2, isa=isa)[0].numpy()
    assert np.array_equal(ours, expected), np.abs(ours - expected).max()
