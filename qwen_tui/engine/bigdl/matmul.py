"""How each of bigdl-llm's low-bit layers multiplies: the matmul plan of one loaded model.

Three paths, chosen per layer when a model is loaded (``prepare``), never by timing:

- ``ours``: our kernels (``engine/kernels``) for every bigdl-llm format qwen-tui offers
  (sym_int4, asym_int4, sym_int5, asym_int5, sym_int8), in the variant this CPU runs best.
  The layer's bytes are regrouped once (``kernels.pack``); the regrouped weight is kept on the
  layer, so the plan belongs to the model, not to the process.
- ``bigdl``: bigdl-llm's own CPU kernel, called directly. (Its ``LowBitLinear.forward``
  silently switches to dequantize + ``F.linear`` for 512 rows and more on CPUs its name check
  calls "server, not Sapphire Rapids", so the same prompt gave other numbers on a Xeon; we
  never take that branch.)
- ``dequant``: the weight dequantized to float32, then BLAS; prompts only (decode uses the
  kernel), for comparisons.

``QWEN_TUI_MATMUL`` = ``auto`` (ours wherever it fits, else bigdl) | ``ours`` | ``bigdl`` |
``dequant`` (ours for one row, dequantize + BLAS from two).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
import torch.nn.functional as F

from .. import kernels
from ..plan import MODE_ENV as MODE_ENV
from ..plan import MODES as MODES
from ..plan import MatmulPlan, mode_from_env

PACKED = "qwen_tui_packed"  # the PackedWeight kept on a layer whose bytes were regrouped
PATH = "qwen_tui_path"  # "ours" | "bigdl" | "dequant" on every prepared layer

_installed = False


def fits_ours(layer: Any) -> bool:
    fmt = kernels.format_of(layer.qtype)
    return (
        kernels.available()
        and fmt is not None
        and layer.in_len % kernels.QK == 0
        and layer.weight.data.dtype == torch.uint8
        and layer.weight.data.numel()
        == layer.out_len * layer.in_len // kernels.QK * fmt.block_bytes
    )


def _format(layer: Any) -> kernels.Format:
    fmt = kernels.format_of(layer.qtype)
    if fmt is None:
        raise kernels.KernelError(f"no kernel of ours for bigdl-llm qtype {layer.qtype}")
    return fmt


def _arena(layers: list[Any]) -> tuple[list[torch.Tensor | None], bool]:
    """One buffer for the packed bytes of ``layers`` (each at a 64-byte boundary), advised onto
    huge pages (``memory.huge_buffer``): a slice of it for each layer, and whether the advice
    was taken. Pages are only taken as each layer is packed, while the bytes it came from are
    freed, so loading needs no more memory at its peak than with a buffer per layer."""
    from ..runtime import memory

    sizes = [kernels.packed_bytes(_format(x), x.out_len, x.in_len) for x in layers]
    starts = [0]
    for size in sizes:
        starts.append(starts[-1] + (size + 63) // 64 * 64)
    if not layers:
        return [], False
    whole, huge = memory.huge_buffer(starts[-1])
    return [whole[s : s + n] for s, n in zip(starts, sizes, strict=False)], huge


def pack(layer: Any, out: torch.Tensor | None = None) -> kernels.PackedWeight:
    """Regroup a layer's bytes for our kernels (once, into ``out`` if given); the original
    bytes are freed."""
    packed = layer.__dict__.get(PACKED)
    if packed is None:
        fmt = _format(layer)
        bias = None if layer.bias is None else layer.bias.detach()
        raw = layer.weight.data
        packed = kernels.pack(fmt, raw, layer.out_len, layer.in_len, bias, out)
        layer.weight.data = packed.data  # the same bytes, regrouped; bigdl's kernel can't read them
        layer.__dict__[PACKED] = packed
    return packed


def prepare(model: Any, mode: str | None = None) -> MatmulPlan:
    """Decide every low-bit layer's path (regrouping those that take ours); return the plan.
    ``install`` (the ``lowbit_linear`` patch) comes first."""
    from bigdl.llm.transformers.low_bit_linear import LowBitLinear

    mode = mode or mode_from_env()
    counts: Counter[str] = Counter()
    weight_bytes = 0
    lowbit = [m for m in model.modules() if isinstance(m, LowBitLinear)]
    # Packed bytes only our forward can read: none without it (the patch fell back).
    ours = [
        x
        for x in lowbit
        if mode != "bigdl" and _installed and fits_ours(x) and PACKED not in x.__dict__
    ]
    slices, huge = _arena(ours)
    into = {id(x): s for x, s in zip(ours, slices, strict=True)}
    for layer in lowbit:
        weight_bytes += layer.weight.data.numel() * layer.weight.data.element_size()
        if mode != "bigdl" and _installed and fits_ours(layer):
            pack(layer, into.pop(id(layer), None))
            path = "dequant" if mode == "dequant" else "ours"
        else:
            path = "bigdl"
        layer.__dict__[PATH] = path
        fmt = kernels.format_of(layer.qtype)
        counts[f"{fmt.name if fmt else layer.qtype}:{path}"] += 1
    from .lowbit.embedding import QuantizedEmbedding

    for table in model.modules():
        if isinstance(table, QuantizedEmbedding) and mode != "bigdl":
            table.prepare()
            counts[f"{table.fmt.name}:embedding"] += 1
    choice = kernels.chosen_isa()
    note = choice.note if _installed else "LowBitLinear.forward not patched: bigdl-llm's own"
    return MatmulPlan(mode, choice.name, dict(sorted(counts.items())), note, weight_bytes, huge)


# -- the paths ----------------------------------------------------------------------------------


def _threads() -> int:
    return torch.get_num_threads()


def _bigdl_kernel(layer: Any, x: torch.Tensor) -> torch.Tensor:
    from bigdl.llm.transformers.low_bit_linear import ggml_matmul_src1_x_src0_t

    rows = x.reshape(-1, x.shape[-1]).float().contiguous()
    out = ggml_matmul_src1_x_src0_t(layer.weight.data, rows, layer.weight_shape, layer.qtype)
    out = out.view(*x.shape[:-1], layer.out_len)
    if layer.bias is not None:
        out += layer.bias
    return out


def _dequant(layer: Any, x: torch.Tensor) -> torch.Tensor:
    packed: kernels.PackedWeight = layer.__dict__[PACKED]
    return F.linear(x.float(), kernels.dequantize(packed), packed.bias)


def _rows(x: torch.Tensor) -> int:
    return x.numel() // x.shape[-1] if x.dim() >= 1 and x.shape[-1] else 0


def _takes_ours(layer: Any, rows: int) -> bool:
    path = layer.__dict__.get(PATH)
    return path == "ours" or (path == "dequant" and rows < 2)


def forward(layer: Any, x: torch.Tensor) -> torch.Tensor:
    """One layer applied to x, on the layer's path."""
    path = layer.__dict__.get(PATH)
    if path is None:  # a model no engine prepared: bigdl-llm's own forward, untouched
        return layer.qwen_tui_bigdl_forward(x)
    rows = _rows(x)
    if path == "bigdl" or rows == 0:
        return _bigdl_kernel(layer, x) if rows else layer.qwen_tui_bigdl_forward(x)
    if _takes_ours(layer, rows):
        return kernels.matmul(x, [layer.__dict__[PACKED]], _threads())[0]
    return _dequant(layer, x)


def project(layers: list[Any], x: torch.Tensor) -> list[torch.Tensor]:
    """Each layer applied to the same input: one kernel call when all of them take ours."""
    rows = _rows(x)
    if rows and all(_takes_ours(layer, rows) for layer in layers):
        return kernels.matmul(x, [layer.__dict__[PACKED] for layer in layers], _threads())
    return [layer(x) for layer in layers]


def gated(layer: Any, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """``layer(silu(gate) * up)``, the gated MLP's last projection: on our path the product is
    formed while the kernel quantizes its input and never stored."""
    if gate.shape == up.shape and _takes_ours(layer, _rows(gate)):
        return kernels.matmul(gate, [layer.__dict__[PACKED]], _threads(), up=up)[0]
    return layer(F.silu(gate).mul_(up))


def install() -> None:
    """Route LowBitLinear.forward through ``forward`` (once per process; a layer no plan
    prepared keeps bigdl-llm's behaviour)."""
    global _installed
    if _installed:
        return
    from bigdl.llm.transformers import low_bit_linear as lbl

    lbl.LowBitLinear.qwen_tui_bigdl_forward = lbl.LowBitLinear.forward
    lbl.LowBitLinear.forward = forward
    _installed = True
