"""Quantize a float transformers model in place by a recipe.

The same steps as bigdl-llm's ``ggml_convert_low_bit`` (its ``_optimize_pre`` first, which
for Qwen-1 splits ``c_attn`` into q/k/v), except that each linear layer gets its recipe's
format and the embedding table is quantized too. The bytes are bigdl-llm's own: our quantizer
(``kernels.weights``) writes exactly what its ``ggml_convert_qtype`` writes, which the tests
check, and reads a float16 or bfloat16 weight in its own width; bigdl-llm's quantizer runs only
where our kernels were not built. The layers are bigdl-llm's ``LowBitLinear``: its kernel and
ours read them alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ....recipes import Recipe
from ... import kernels
from ...kernels import weights
from ...kernels.formats import FORMATS, QK
from .embedding import QuantizedEmbedding


def quantized_bytes(weight: torch.Tensor, fmt_name: str) -> torch.Tensor:
    """A float [rows, cols] weight -> bigdl-llm's bytes of it in ``fmt_name`` (uint8)."""
    w = weight.detach()
    if not kernels.available():
        from bigdl.llm.transformers.low_bit_linear import ggml_convert_qtype

        return ggml_convert_qtype(w.float().contiguous(), FORMATS[fmt_name].qtype)
    cols = w.shape[-1]
    if w.dtype == torch.bfloat16:  # numpy has no bfloat16: its bits, as uint16
        src, dtype = w.contiguous().view(torch.int16).numpy().view(np.uint16), "bf16"
    elif w.dtype == torch.float16:
        src, dtype = w.contiguous().numpy(), "f16"
    else:
        src, dtype = w.float().contiguous().numpy(), "f32"
    out = weights.quantize_weight(
        fmt_name, src.reshape(-1), w.numel() // cols, cols, packed=False,
        threads=torch.get_num_threads(), src_dtype=dtype,
    )  # fmt: skip
    return torch.from_numpy(out)


def low_bit_linear(
    in_features: int,
    out_features: int,
    fmt_name: str,
    data: torch.Tensor,
    bias: torch.Tensor | None,
) -> Any:
    """bigdl-llm's LowBitLinear around bytes already in ``fmt_name``."""
    from accelerate import init_empty_weights
    from bigdl.llm.transformers.low_bit_linear import FP4Params, LowBitLinear

    qtype = FORMATS[fmt_name].qtype
    with init_empty_weights():
        layer = LowBitLinear(in_features, out_features, qtype, bias is not None)
    layer._parameters["weight"] = FP4Params(
        data=data,
        requires_grad=False,
        quantized=True,
        _shape=(out_features, in_features),
        qtype=qtype,
    )
    if bias is not None:
        layer._parameters["bias"] = torch.nn.Parameter(bias, requires_grad=False)
    return layer.eval().requires_grad_(False)


def _set(model: Any, name: str, module: Any) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def linears(model: Any) -> list[tuple[str, torch.nn.Linear]]:
    """The float linear layers a recipe quantizes (bigdl-llm's kernels need whole blocks)."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if type(m) is torch.nn.Linear and m.in_features % QK == 0
    ]


def quantize_model(
    model: Any, recipe: Recipe, on_layer: Callable[[int, int], None] | None = None
) -> dict:
    """Quantize ``model`` in place; return its layout (module -> format, the embedding)."""
    from bigdl.llm.transformers.convert import _optimize_pre

    model = _optimize_pre(model)
    head = model.get_output_embeddings()
    table = model.get_input_embeddings()
    tied = head is not None and table is not None and head.weight is table.weight
    todo = linears(model)
    modules: dict[str, str] = {}
    for done, (name, layer) in enumerate(todo, 1):
        fmt = recipe.format_for(name)
        bias = None if layer.bias is None else layer.bias.detach().float().clone()
        data = quantized_bytes(layer.weight, fmt)
        _set(model, name, low_bit_linear(layer.in_features, layer.out_features, fmt, data, bias))
        modules[name] = fmt
        if on_layer:
            on_layer(done, len(todo))
    embedding: dict[str, Any] = {"format": recipe.embedding, "shared_with": None}
    if table is not None and type(table) is torch.nn.Embedding:
        new_head = model.get_output_embeddings()
        if tied and new_head is not head:  # the head was quantized: share its bytes
            fmt = modules[_name_of(model, new_head)]
            new = QuantizedEmbedding(
                table.num_embeddings, table.embedding_dim, FORMATS[fmt], shared=new_head
            )
            embedding = {"format": fmt, "shared_with": _name_of(model, new_head)}
        else:
            new = QuantizedEmbedding.quantize(table.weight, recipe.embedding)
        model.set_input_embeddings(new)
    model.config.tie_word_embeddings = False  # never tie a float table to the head again
    return {"recipe": recipe.to_dict(), "modules": modules, "embedding": embedding}


def _name_of(model: Any, module: Any) -> str:
    return next(name for name, m in model.named_modules() if m is module)
