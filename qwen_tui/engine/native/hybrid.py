"""A Qwen3.5 store folder as our C decoder's model: Gated DeltaNet layers and gated full
attention, each run by its kind in one C call a step (``kernels.hybrid_api.HybridDecoder``).

What differs from the dense families' ``NativeModel`` (whose loading, embedding, chunking and
head it keeps): the layers' description (zero-centred norms as ``1 + w``, ``A = -exp(A_log)``,
the conv's taps turned to [kernel, channels], in_proj_a/b in float32), rotary tables as wide
as the turned part of a head, and the cache (``hybrid_cache.py``): keys and values of the full
layers, conv windows and delta-rule states of the linear ones, and snapshots of those states
taken while a prompt is fed, before each turn's first token (``turn_token``: the engine sets
it to <|im_start|>) and before the prompt's last token, so that the next turn, a regenerated
reply or an edited message go back to one instead of to the start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...families import LINEAR
from ..kernels.hybrid_api import FullLayer, HybridDecoder, HybridShape, Layer, LinearLayer
from . import model as dense
from .hybrid_cache import SNAPSHOTS, HybridCache, HybridDims
from .layout import read_layout
from .model import NativeModel
from .rotary import RotaryTables


class HybridModel(NativeModel):
    """Every layer of the Qwen3.5 in ``folder`` in our C decoder."""

    turn_token: int | None = None  # the token that opens a turn; snapshots are kept before it

    def _build(self) -> None:
        d, numbers = self.layout.dims, self.layout.numbers
        self.hybrid_shape = HybridShape(
            d.hidden, d.inter, d.heads, d.kv_heads, d.head_dim, d.rope_dim, d.linear_k_heads,
            d.linear_v_heads, d.linear_k_dim, d.linear_v_dim, d.conv_kernel, numbers.eps,
        )  # fmt: skip
        layers = [self._hybrid_layer(i) for i in range(d.layers)]
        self.decoder = HybridDecoder(self.hybrid_shape, layers)
        self.rotary = RotaryTables(d.rope_dim, numbers.rope_base, numbers.positions)
        self.cache_dims = HybridDims(
            tuple(d.kind(i) == LINEAR for i in range(d.layers)), d.kv_heads, d.head_dim,
            d.conv_kernel, d.linear_conv_dim, d.linear_v_heads, d.linear_k_dim, d.linear_v_dim,
        )  # fmt: skip

    def _hybrid_layer(self, i: int) -> Layer:
        name = {t.role: t.name for t in self.layout.tensors if t.layer == i}
        floats, packed = self.weights.floats, self.weights.packed
        norm_in, norm_post = self.norm(name["attn_norm"]), self.norm(name["ffn_norm"])
        gate, up, down = (packed[name[r]] for r in ("ffn_gate", "ffn_up", "ffn_down"))
        if self.layout.dims.kind(i) != LINEAR:
            return FullLayer(
                norm_in, norm_post, self.norm(name["attn_q_norm"]), self.norm(name["attn_k_norm"]),
                packed[name["attn_q"]], packed[name["attn_k"]], packed[name["attn_v"]],
                packed[name["attn_o"]], gate, up, down,
            )  # fmt: skip
        conv = floats[name["ssm_conv1d"]]  # [channels, 1, kernel]
        return LinearLayer(
            norm_in, norm_post, floats[name["ssm_alpha"]], floats[name["ssm_beta"]],
            np.ascontiguousarray(conv.reshape(conv.shape[0], -1).T),  # [kernel, channels]
            -np.exp(floats[name["ssm_a"]]), floats[name["ssm_dt"]], floats[name["ssm_norm"]],
            packed[name["attn_qkv"]], packed[name["attn_gate"]], packed[name["ssm_out"]],
            gate, up, down,
        )  # fmt: skip

    @property
    def kv_bytes_per_position(self) -> int:
        full = sum(not linear for linear in self.cache_dims.kinds)
        return int(full * self.layout.dims.kv_heads * self.layout.dims.head_dim * 2 * 2)

    @property
    def state_bytes_per_token(self) -> int:
        """What a decoded token reads and writes of the recurrent state: each Gated DeltaNet
        layer's float32 state per value head and its conv window, read once and written once."""
        d = self.cache_dims
        per_layer = d.v_heads * d.k_dim * d.v_dim + max(d.kernel - 1, 0) * d.conv_dim
        return int(2 * sum(d.kinds) * per_layer * 4)

    def new_cache(self) -> HybridCache:  # type: ignore[override]
        return HybridCache(self.cache_dims)

    def _states(self, cache: Any) -> Any:
        return cache.states()

    def hidden(self, ids: list[int], cache: HybridCache, last_only: bool = True) -> np.ndarray:  # type: ignore[override]
        """As ``NativeModel.hidden``, keeping snapshots of the recurrent states at the marks
        (``marks``) the prompt passes."""
        start, end = cache.length, cache.length + len(ids)
        if end > self.positions:
            raise ValueError(f"more than the {self.positions} positions of the model")
        cache.reserve(end)
        marks = self.marks(ids, start)
        cuts = sorted({*range(start, end, dense.CHUNK), *marks, end})
        threads = self.threads_for(len(ids))
        outs = []
        for first, last in zip(cuts, cuts[1:], strict=False):
            if first in marks:
                cache.snapshot()
            outs.append(self._step(ids[first - start : last - start], cache, last_only, threads))
        h = outs[-1] if last_only else np.concatenate(outs)
        return dense.rms_norm(h, self.final_norm, self.eps, threads)

    def marks(self, ids: list[int], start: int) -> set[int]:
        """Where a prompt of ``ids`` fed from ``start`` keeps snapshots: before each turn it
        opens and before its last token, the last ``SNAPSHOTS`` of them (none for one token:
        a decoded token)."""
        if len(ids) < 2:
            return set()
        turns = [start + i for i, t in enumerate(ids) if t == self.turn_token]
        wanted = sorted({p for p in (*turns, start + len(ids) - 1) if p > 0})
        return set(wanted[-SNAPSHOTS:])


def open_model(folder: Path, threads: int) -> NativeModel:
    """The model of a store folder on our C decoder: a ``HybridModel`` for a family whose
    layers are of two kinds (Qwen3.5), else a ``NativeModel``."""
    layout = read_layout(folder)
    hybrid = bool(layout.dims.layer_types)
    return (HybridModel if hybrid else NativeModel)(folder, threads, layout)
