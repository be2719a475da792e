"""Our AVX2 int4 kernel against bigdl-llm's own dequantizer and kernel, on real bigdl weights."""

import platform
from pathlib import Path

import pytest
import torch

from qwen_tui.engine import speed

SYM_INT4 = speed.SYM_INT4


def cpu_has_avx2() -> bool:
    cpuinfo = Path("/proc/cpuinfo")
    if platform.machine() not in ("x86_64", "AMD64") or not cpuinfo.exists():
        return False
    flags = cpuinfo.read_text()
    return all(f" {flag}" in flags for flag in ("avx2", "fma", "f16c"))


needs_kernel = pytest.mark.skipif(
    speed._q4_module() is None, reason="q4 kernel not built for this CPU"
)


def low_bit_layer(out_features: int, in_features: int, bias: bool = False, seed: int = 0):
    from bigdl.llm.transformers import low_bit_linear as lbl

    torch.manual_seed(seed)
    layer = lbl.LowBitLinear(in_features, out_features, qtype=SYM_INT4, bias=bias)
    weight = torch.randn(out_features, in_features) * 0.02
    layer.weight = lbl.FP4Params(
        data=weight, requires_grad=False, quantized=False, _shape=None, qtype=SYM_INT4
    ).to("cpu")
    if bias:
        layer.bias = torch.nn.Parameter(torch.randn(out_features), requires_grad=False)
    return layer.eval()


def dequantized(layer):
    from bigdl.llm.transformers import low_bit_linear as lbl

    return lbl.ggml_convert_fp32(
        layer.weight.data, layer.weight_shape, layer.weight_length, layer.qtype
    )


def relative_error(a, b):
    return ((a - b).norm() / b.norm()).item()


def test_the_kernel_is_built_on_avx2_machines():
    """setup.sh builds it; a silently failed build would make every reply slow."""
    if cpu_has_avx2():
        assert speed._q4_module() is not None


@needs_kernel
@pytest.mark.parametrize("shape", [(2048, 2048), (5504, 2048), (131, 320), (7, 64)])
@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 63, 64, 65, 130])
def test_q4_matches_the_dequantized_weight(shape, rows):
    layer = low_bit_layer(*shape)
    x = torch.randn(1, rows, shape[1])
    with torch.inference_mode():
        ours = speed._q4_linear(layer, x)
        exact = x @ dequantized(layer).T
        bigdl = speed._bigdl_linear(layer, x)
    assert ours.shape == (1, rows, shape[0])
    # int8 activations in blocks of 64, like bigdl-llm's own kernel: same error, not larger
    assert relative_error(ours, exact) < 0.01
    assert relative_error(ours, exact) < 1.1 * relative_error(bigdl, exact) + 1e-4


@needs_kernel
def test_q4_rows_do_not_depend_on_batching():
    """A row's result is the same alone or in any batch: KV reuse keeps greedy output identical."""
    layer = low_bit_layer(130, 256)
    x = torch.randn(1, 70, 256)
    with torch.inference_mode():
        batch = speed._q4_linear(layer, x)
        for i in (0, 3, 4, 64, 69):
            alone = speed._q4_linear(layer, x[:, i : i + 1])
            assert torch.equal(alone[0, 0], batch[0, i])
        assert torch.equal(speed._q4_linear(layer, x[:, 60:]), batch[:, 60:])


@needs_kernel
def test_q4_adds_the_bias_and_takes_other_dtypes():
    layer = low_bit_layer(64, 128, bias=True)
    x = torch.randn(2, 3, 128)
    with torch.inference_mode():
        ours = speed._q4_linear(layer, x.to(torch.bfloat16))
        exact = x @ dequantized(layer).T + layer.bias
    assert ours.shape == (2, 3, 64) and ours.dtype == torch.float32
    assert relative_error(ours, exact) < 0.02


def test_only_sym_int4_with_whole_blocks_uses_q4():
    layer = low_bit_layer(64, 128)
    assert speed.q4_fits(layer) == (speed._q4_module() is not None)
    layer.qtype = 3  # asym_int4: another byte layout
    assert not speed.q4_fits(layer)


def test_forced_modes_give_their_plans(monkeypatch):
    layer = low_bit_layer(64, 128)
    q4 = "q4" if speed.q4_fits(layer) else "bigdl"
    assert speed.plan_for(layer, "bigdl") == speed.Plan("bigdl")
    assert speed.plan_for(layer, "q4") == speed.Plan(q4)
    assert speed.plan_for(layer, "dequant") == speed.Plan(q4, dequant_from=2)
    assert speed.plan_for(layer, "auto").kernel in ("bigdl", "q4")
