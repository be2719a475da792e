"""Our low-bit matmul kernels, every format and every instruction-set variant this CPU runs,
against bigdl-llm's bytes and its own kernel, and at the limits of their integer sums
(test_kernels_reference.py checks each against numpy)."""

import platform
from pathlib import Path

import pytest
import torch
from lowbit import (
    FORMAT_NAMES,
    ISAS,
    bigdl_weights,
    low_bit_layer,
    needs_kernels,
    packed,
    relative_error,
)

from qwen_tui.engine import kernels
from qwen_tui.engine.kernels.formats import FORMATS, dequantize


def cpu_flags() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.read_text() if cpuinfo.exists() else ""


def test_the_kernels_are_built_and_use_this_cpus_best_variant():
    """setup.sh builds them; a silently failed build would make every reply slow."""
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("x86 variants only on x86")
    flags = cpu_flags()
    assert kernels.available()
    if " avx2" in flags:
        assert "avx2" in kernels.supported_isas()
    if " avx512_vnni" in flags and " avx512bw" in flags and " avx512vl" in flags:
        assert kernels.chosen_isa().name == "avx512"
    if " avx_vnni" in flags:
        assert "avxvnni" in kernels.supported_isas()


@needs_kernels
@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@pytest.mark.parametrize("shape", [(16, 64), (40, 192), (136, 320)])
def test_formats_decode_as_bigdl_llms_kernel_reads_them(fmt, shape):
    """formats.dequantize (the reference) and the regrouped layout hold the values bigdl-llm's
    own kernel multiplies (bigdl-llm's ggml_convert_fp32 is right only for sym_int4)."""
    layer = low_bit_layer(fmt, *shape)
    theirs = bigdl_weights(layer)
    reference = dequantize(layer.weight.data, FORMATS[fmt], *shape)
    assert torch.allclose(reference, theirs, rtol=1e-6, atol=1e-7)
    assert torch.equal(kernels.dequantize(packed(layer)), reference)


@needs_kernels
@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@pytest.mark.parametrize("rows", [1, 7, 130])
def test_error_is_bigdl_llms_own(fmt, rows):
    """int8 activations in blocks of 64, as bigdl-llm's kernel does: the same error, not more."""
    from bigdl.llm.transformers.low_bit_linear import ggml_matmul_src1_x_src0_t

    layer = low_bit_layer(fmt, 264, 512)
    x = torch.randn(rows, 512)
    exact = x @ bigdl_weights(layer).T
    bigdl = ggml_matmul_src1_x_src0_t(layer.weight.data, x, layer.weight_shape, layer.qtype)
    ours = kernels.matmul(x, [packed(layer)], 2)[0]
    assert relative_error(ours, exact) < 0.01
    assert relative_error(ours, exact) < 1.02 * relative_error(bigdl, exact) + 1e-6


@needs_kernels
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_rows_do_not_depend_on_batching(isa, fmt):
    """A row's result is the same alone or in any batch: KV reuse keeps greedy output identical."""
    weight = packed(low_bit_layer(fmt, 136, 256))
    x = torch.randn(210, 256)  # more than one chunk of rows, and rows left over from tiles

    def mm(rows):
        return kernels.matmul(rows, [weight], 2, isa=isa)[0]

    batch = mm(x)
    for i in (0, 3, 4, 64, 97, 209):
        assert torch.equal(mm(x[i : i + 1])[0], batch[i])
    assert torch.equal(mm(x[60:]), batch[60:])
    assert torch.equal(mm(x[95:]), batch[95:])


def extreme_layer(fmt: str, first: float, rest: float):
    """Every block of 64: `first`, then 63 x `rest` (the quantizer's extreme codes)."""
    from bigdl.llm.transformers import low_bit_linear as lbl

    layer = low_bit_layer(fmt, 16, 256)
    weights = torch.full((16, 256), rest)
    weights[:, ::64] = first
    layer.weight = lbl.FP4Params(
        data=weights, requires_grad=False, quantized=False, _shape=None, qtype=layer.qtype
    ).to("cpu")
    return layer


@needs_kernels
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("weights", [(-1.0, -1.0), (1.0, -0.875), (1.0, 1.0)])
def test_exact_at_the_largest_block_sums(isa, fmt, sign, weights):
    """Codes all at one end and activations all +-127: the partial sums reach their limits
    (int16 lanes of the AVX2 variant, 0x80 flips of the 8-bit ones)."""
    layer = extreme_layer(fmt, *weights)
    x = torch.full((13, 256), sign)  # tiles, and single rows
    exact = x @ bigdl_weights(layer).T
    ours = kernels.matmul(x, [packed(layer)], 2, isa=isa)[0]
    assert torch.allclose(ours, exact, rtol=1e-3, atol=1e-4)


@needs_kernels
@pytest.mark.parametrize("isa", ISAS)
def test_several_weights_of_mixed_formats_in_one_call(isa):
    """q/k/v (or gate/up) share one quantized input and one call; each result is its own,
    the rows of a weight need not fill the last group of 16."""
    layers = [low_bit_layer(f, n, 256, bias=True, seed=n) for f, n in
              (("sym_int4", 64), ("sym_int8", 24), ("asym_int5", 8))]  # fmt: skip
    weights = [packed(layer) for layer in layers]
    for rows in (1, 9):
        x = torch.randn(1, rows, 256)
        together = kernels.matmul(x, weights, 2, isa=isa)
        for w, out in zip(weights, together, strict=True):
            assert out.shape == (1, rows, w.rows)
            assert torch.equal(out, kernels.matmul(x, [w], 2, isa=isa)[0])


@needs_kernels
def test_gated_input_is_silu_times_up_formed_in_the_kernel():
    """down(silu(gate) * up) with the product formed as the kernel quantizes: as torch's
    product would give, SiLU's tails included."""
    import torch.nn.functional as F

    layer = low_bit_layer("sym_int4", 64, 256, bias=True)
    weight = packed(layer)
    torch.manual_seed(1)
    gate = torch.randn(20, 256) * 4
    gate[:, :8] = torch.tensor([-100.0, -88.0, -30.0, -1e-3, 0.0, 1e-3, 30.0, 100.0])
    up = torch.randn(20, 256)
    ours = kernels.matmul(gate, [weight], 2, up=up)[0]
    product = F.silu(gate) * up
    exact = product @ bigdl_weights(layer).T + layer.bias
    unfused = kernels.matmul(product, [weight], 2)[0]
    # the int8 blocks of the two products differ at most where a rounding flips
    assert relative_error(ours, unfused) < 1e-4
    assert relative_error(ours, exact) < 1.01 * relative_error(unfused, exact)


@needs_kernels
def test_bad_tensors_raise_instead_of_reaching_c():
    weight = packed(low_bit_layer("sym_int4", 16, 128))
    with pytest.raises(kernels.KernelError, match="128 columns"):
        kernels.matmul(torch.randn(2, 64), [weight], 1)
    with pytest.raises(kernels.KernelError, match="bytes"):
        kernels.pack(FORMATS["sym_int4"], torch.zeros(10, dtype=torch.uint8), 16, 128)
    with pytest.raises(kernels.KernelError, match="uint8"):
        kernels.pack(FORMATS["sym_int4"], torch.zeros(10), 16, 128)
    with pytest.raises(kernels.KernelError, match="must match"):
        kernels.matmul(torch.randn(2, 128), [weight], 1, up=torch.randn(3, 128))
    with pytest.raises(kernels.KernelError, match="not supported"):
        kernels.matmul(torch.randn(2, 128), [weight], 1, isa="sse9")
    with pytest.raises(kernels.KernelError, match="1 to 4"):
        kernels.matmul(torch.randn(2, 128), [weight] * 5, 1)


def test_a_forced_variant_the_cpu_lacks_falls_back_and_says_so(monkeypatch):
    monkeypatch.setenv(kernels.ISA_ENV, "nonsense")
    kernels.chosen_isa.cache_clear()
    try:
        choice = kernels.chosen_isa()
        if kernels.available():
            assert not choice.forced and "nonsense" in choice.note
            assert choice.name in kernels.supported_isas()
        monkeypatch.setenv(kernels.ISA_ENV, "ref")
        kernels.chosen_isa.cache_clear()
        if kernels.available():
            assert kernels.chosen_isa() == kernels.IsaChoice("ref", True)
    finally:
        monkeypatch.undo()
        kernels.chosen_isa.cache_clear()


@needs_kernels
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_the_bandwidth_reader_reads_every_word(threads):
    """``bench``'s bandwidth probe really reads the buffer: the XOR of all its words, however
    the threads split it (a skipped word would change the result)."""
    import functools
    import operator

    words = torch.randint(-(2**62), 2**62, (8 * 1001,), dtype=torch.int64)
    expected = functools.reduce(operator.xor, words.tolist()) & (2**64 - 1)
    assert kernels.read_all(words, threads) == expected
    words[4321] ^= 1 << 40
    assert kernels.read_all(words, threads) == expected ^ (1 << 40)
    with pytest.raises(kernels.KernelError):
        kernels.read_all(words[:12], threads)  # not a multiple of 8 words
    assert kernels.read_bandwidth(threads, megabytes=8, rounds=1) > 0
