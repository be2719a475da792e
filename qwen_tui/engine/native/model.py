"""A store folder as our C decoder's model, without torch: the weights mapped into one arena
(``arena.py``), every layer described to C once (``kernels.decoder_api.StepDecoder``), and a
step: the embedding rows (dequantized from the quantized table, or the head's bytes when the
model ties them), one decode call for every layer, then the final norm and the output head on
the rows asked for.

The same calls, in the same order, on the same bytes as the torch engine's
``engine/bigdl/decoder/model.py:Decoder``, which the tests hold it to.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..kernels import float_kernels
from ..kernels.decoder_api import LayerShape, LayerWeights, StepDecoder
from ..kernels.numpy_api import PackedArray, dequantize_rows, matmul, rms_norm
from ..runtime.thread_choice import ThreadChoice
from .arena import StoreWeights, load_weights
from .cache import NativeCache
from .layout import NativeUnsupported, StoreLayout, read_layout
from .rotary import RotaryTables

CHUNK = 512  # prompt rows per decode call: scratch stays bounded, results are the same

# a layer's tensors by role -> the LayerWeights field they fill
ROLES = {
    "attn_norm": "norm_in", "ffn_norm": "norm_post", "attn_q_norm": "q_norm",
    "attn_k_norm": "k_norm", "attn_q": "q", "attn_k": "k", "attn_v": "v", "attn_o": "o",
    "ffn_gate": "gate", "ffn_up": "up", "ffn_down": "down",
}  # fmt: skip


class LayerRunner(Protocol):
    """Every layer of a model in one C call a step (``StepDecoder``, ``HybridDecoder``)."""

    def scratch_floats(self, rows: int, /) -> int: ...

    def decode(
        self, h: np.ndarray, past: int, positions: np.ndarray,
        tables: tuple[np.ndarray, np.ndarray], states: Any, last_only: bool,
        scratch: np.ndarray, threads: int, /,
    ) -> None: ...  # fmt: skip


class NativeModel:
    """Every layer of the model in ``folder`` in our C decoder; ``NativeUnsupported`` (before
    any weight is read) where this engine does not run it."""

    def __init__(self, folder: Path, threads: int, layout: StoreLayout | None = None) -> None:
        if not float_kernels():
            raise NativeUnsupported("the float kernels need AVX2, which this CPU lacks")
        self.layout: StoreLayout = layout or read_layout(folder)
        self.threads = threads
        d, numbers = self.layout.dims, self.layout.numbers
        self.positions = numbers.positions
        self.weights: StoreWeights = load_weights(folder, self.layout)
        by_role = {t.role: t.name for t in self.layout.tensors if t.layer is None}
        self.head = self.weights.packed[by_role["output"]]
        self.embed = self.head if d.tied else self.weights.packed[by_role["token_embd"]]
        self.final_norm = self.norm(by_role["output_norm"])
        self.layers = d.layers
        self.eps = numbers.eps
        self.scratch = np.empty(0, np.float32)
        # decoded tokens: how many threads, by how fast each count decodes now; (count, start)
        self.choice = ThreadChoice(threads)
        self._decoding: tuple[int, float] | None = None
        self._build()

    def _build(self) -> None:
        """The C decoder of every layer, and the rotary tables."""
        d, numbers = self.layout.dims, self.layout.numbers
        self.shape = LayerShape(d.hidden, d.heads, d.kv_heads, d.head_dim, d.inter, numbers.eps)
        layers = [self._layer(i) for i in range(d.layers)]
        self.decoder: LayerRunner = StepDecoder(self.shape, layers)
        self.rotary = RotaryTables(d.head_dim, numbers.rope_base, numbers.positions)

    def norm(self, name: str) -> np.ndarray:
        """An RMSNorm's multiplier: its weight, plus one where the family centres it on zero
        (Qwen3.5's ``x * (1 + w)``), computed once here."""
        weight = self.weights.floats[name]
        offset = self.layout.dims.norm_offset
        return weight + np.float32(offset) if offset else weight

    def _layer(self, i: int) -> LayerWeights:
        parts: dict[str, np.ndarray | PackedArray] = {}
        for t in self.layout.tensors:
            if t.layer == i and t.role in ROLES:
                found = self.weights.floats if t.store == "f32" else self.weights.packed
                parts[ROLES[t.role]] = found[t.name]
        return LayerWeights(**parts)  # type: ignore[arg-type]

    @property
    def weight_bytes(self) -> int:
        """What a decoded token reads of the weights: every packed layer and the head (an
        untied embedding only gives the token's row)."""
        embed = 0 if self.embed is self.head else self.embed.data.nbytes
        return sum(w.data.nbytes for w in self.weights.packed.values()) - embed

    @property
    def kv_bytes_per_position(self) -> int:
        """What a decoded token reads of the KV cache per position before it (float16 keys
        and values of every layer)."""
        return int(self.layers * self.shape.kv_heads * self.shape.head_dim * 2 * 2)

    @property
    def state_bytes_per_token(self) -> int:
        """What a decoded token reads and writes of a recurrent state: none here (only the KV
        cache, which grows with the context)."""
        return 0

    def new_cache(self) -> NativeCache:
        return NativeCache(self.layers, self.shape.kv_heads, self.shape.head_dim)

    def hidden(self, ids: list[int], cache: NativeCache, last_only: bool = True) -> np.ndarray:
        """The final hidden states (normed) of ``ids`` fed after ``cache``: [1, hidden] for the
        last position, or [len(ids), hidden] with ``last_only=False``. Appends to the cache."""
        if cache.length + len(ids) > self.positions:
            raise ValueError(f"more than the {self.positions} positions of the model")
        cache.reserve(cache.length + len(ids))
        threads = self.threads_for(len(ids))
        # a long prompt in chunks (only the last chunk's rows are kept when last_only)
        chunks = range(0, len(ids), CHUNK)
        outs = [self._step(ids[i : i + CHUNK], cache, last_only, threads) for i in chunks]
        h = outs[-1] if last_only else np.concatenate(outs)
        return rms_norm(h, self.final_norm, self.eps, threads)

    def threads_for(self, rows: int) -> int:
        """The threads of a step of ``rows`` new positions: for a decoded token,
        ``ThreadChoice``'s count, timed until its logits are out; for a prompt, the count
        decode found fastest (all of them, unless another process holds a core)."""
        if rows != 1:
            self._decoding = None
            return self.choice.current
        threads = self.choice.pick()
        self._decoding = (threads, time.perf_counter())
        return threads

    def _step(self, ids: list[int], cache: Any, last_only: bool, threads: int) -> np.ndarray:
        """Feed ``ids`` after what ``cache`` (this model's kind of cache) holds."""
        rows = len(ids)
        h = dequantize_rows(self.embed, np.array(ids, dtype=np.int64))
        need = self.decoder.scratch_floats(rows)
        if self.scratch.size < need:
            self.scratch = np.empty(need, np.float32)
        positions = np.arange(cache.length, cache.length + rows, dtype=np.int64)
        tables = self.rotary.covering(cache.length + rows)
        self.decoder.decode(
            h, cache.length, positions, tables, self._states(cache), last_only, self.scratch,
            threads,
        )  # fmt: skip
        cache.length += rows
        return h[:1] if last_only else h

    def _states(self, cache: Any) -> Any:
        """What the C decoder carries from step to step: every layer's keys and values."""
        return cache.keys, cache.values

    def logits(self, hidden: np.ndarray) -> np.ndarray:
        """The output head on normed hidden rows: float32 [rows, vocab]."""
        decoding, self._decoding = self._decoding, None
        if decoding is None or hidden.shape[0] != 1:
            return matmul(hidden, self.head, self.threads)
        threads, started = decoding
        out = matmul(hidden, self.head, threads)
        self.choice.record(threads, time.perf_counter() - started)
        return out
