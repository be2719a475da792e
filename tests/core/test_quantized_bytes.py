"""lowbit/build.py's quantized_bytes, which quantizes every layer and embedding of ``quantize``:
bigdl-llm's own bytes (``ggml_convert_qtype`` on the float32 values) from float32, float16 and
bfloat16 weights, by our quantizer; by bigdl-llm's where our kernels were not built."""

import pytest
import torch

from qwen_tui.engine import kernels
from qwen_tui.engine.bigdl.lowbit.build import quantized_bytes
from qwen_tui.engine.kernels import weights
from qwen_tui.engine.kernels.formats import FORMATS


def bigdl_bytes(weight: torch.Tensor, fmt: str) -> torch.Tensor:
    from bigdl.llm.transformers.low_bit_linear import ggml_convert_qtype

    return ggml_convert_qtype(weight.detach().float().contiguous(), FORMATS[fmt].qtype)


def a_weight(dtype: torch.dtype, transposed: bool = False) -> torch.nn.Parameter:
    g = torch.Generator().manual_seed(7)
    w = torch.randn(192, 40, generator=g) if transposed else torch.randn(40, 192, generator=g)
    w = (w * 0.02).to(dtype)
    return torch.nn.Parameter(w.t() if transposed else w)  # requires grad, as a model's do


@pytest.mark.skipif(not kernels.available(), reason="kernels not built")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("fmt", FORMATS)
def test_our_quantizer_writes_bigdl_llms_bytes_from_any_width(fmt, dtype):
    for transposed in (False, True):  # a strided view is read by value, not by storage
        weight = a_weight(dtype, transposed)
        ours = quantized_bytes(weight, fmt)
        assert ours.dtype == torch.uint8
        assert torch.equal(ours, bigdl_bytes(weight, fmt)), (fmt, dtype, transposed)


def test_without_our_kernels_bigdl_llms_quantizer_writes_them(monkeypatch):
    def not_built(*args, **kwargs):
        raise AssertionError("our quantizer ran although the kernels are not built")

    monkeypatch.setattr(kernels, "available", lambda: False)
    monkeypatch.setattr(weights, "quantize_weight", not_built)
    weight = a_weight(torch.bfloat16)
    assert torch.equal(quantized_bytes(weight, "sym_int5"), bigdl_bytes(weight, "sym_int5"))
