"""Low-bit layers for the kernel and matmul tests, and the weights as bigdl-llm sees them."""

import pytest
import torch

from qwen_tui.engine import kernels
from qwen_tui.engine.kernels.formats import FORMATS

FORMAT_NAMES = tuple(FORMATS)  # sym_int4, asym_int4, sym_int5, asym_int5, sym_int8


def low_bit_layer(fmt: str, out_features: int, in_features: int, bias=False, seed=0, scale=0.02):
    """A bigdl-llm LowBitLinear quantized by bigdl-llm itself from random weights."""
    from bigdl.llm.transformers import low_bit_linear as lbl

    qtype = FORMATS[fmt].qtype
    torch.manual_seed(seed)
    layer = lbl.LowBitLinear(in_features, out_features, qtype=qtype, bias=bias)
    weight = torch.randn(out_features, in_features) * scale
    layer.weight = lbl.FP4Params(
        data=weight, requires_grad=False, quantized=False, _shape=None, qtype=qtype
    ).to("cpu")
    if bias:
        layer.bias = torch.nn.Parameter(torch.randn(out_features), requires_grad=False)
    return layer.eval()


def bigdl_weights(layer) -> torch.Tensor:
    """The weight as bigdl-llm's own CPU kernel multiplies it: its product with each unit
    vector (a unit vector's int8 blocks are exact), i.e. bigdl-llm's own dequantization."""
    from bigdl.llm.transformers.low_bit_linear import ggml_matmul_src1_x_src0_t

    eye = torch.eye(layer.in_len)
    return ggml_matmul_src1_x_src0_t(layer.weight.data, eye, layer.weight_shape, layer.qtype).T


def relative_error(a, b):
    return ((a - b).norm() / b.norm()).item()


needs_kernels = pytest.mark.skipif(not kernels.available(), reason="kernels not built")
ALL_ISAS = ("ref", "avx2", "avxvnni", "avx512vl", "avx512")


def isa_param(isa):
    """A variant as a test parameter, skipped (saying why) where this CPU cannot run it."""
    reason = f"this CPU has no {isa} (it runs {', '.join(kernels.supported_isas()) or 'none'})"
    return pytest.param(
        isa, marks=pytest.mark.skipif(isa not in kernels.supported_isas(), reason=reason)
    )


ISAS = [isa_param(isa) for isa in ALL_ISAS]


def packed(layer):
    """A LowBitLinear's weight in our kernels' layout."""
    fmt = kernels.format_of(layer.qtype)
    return kernels.pack(fmt, layer.weight.data, layer.out_len, layer.in_len, layer.bias)
