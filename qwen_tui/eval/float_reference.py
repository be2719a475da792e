"""The float model a quantized one is measured against, computed in numpy float32 straight
from its source (a Hugging Face folder's safetensors files or a GGUF file), never built.

The family's table (``families``) names every tensor; each weight is read through the source a
chunk of rows at a time (mapped, or dequantized from a GGUF), widened to float32, multiplied
and dropped, so memory holds one chunk of one weight, the activations of the positions scored,
and the logits of 64 of them: not the float model (4 bytes a weight) nor [positions, vocab]
logits. The arithmetic is ``float_layers.py``'s, checked against transformers' float model
(tests/core/test_float_reference.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..families import BY_NAME, LINEAR, FamilySpec, ModelDims, TensorSpec
from ..sizes import CHECK_ROWS as ROWS  # positions whose logits are computed at a time
from ..sizes import CHUNK_VALUES  # weight values read and multiplied at a time
from ..store.sources.base import TensorData, TensorSource
from ..store.stream import as_float32
from .float_decoder import KeysValues, LayerCache
from .float_deltanet import DeltaNetWeights, LinearState, deltanet_mix, sigmoid
from .float_layers import causal_attention, rms_norm, rotary_tables, rotate, silu


class FloatReference:
    """The float model of ``family`` and ``dims`` whose weights ``source`` holds."""

    def __init__(self, source: TensorSource, family: FamilySpec, dims: ModelDims) -> None:
        self.source, self.family, self.dims = source, family, dims
        self.where = source.where
        self._layer = {t.role: t for t in family.layer_tensors if t.when(dims)}
        model = {t.role: t for t in family.model_tensors if t.when(dims)}
        self._head = model["output"]
        # a tied model has no table of its own: the head's source is the embedding table
        self._table = model.get("token_embd", self._head)
        self._final_norm = model["output_norm"]

    @property
    def vocab(self) -> int:
        return self._head.shape_in(self.dims)[0]

    def hidden(self, ids: Sequence[int]) -> np.ndarray:
        """The final hidden states [len(ids), hidden] (after the last norm) of ``ids``."""
        d = self.dims
        if len(ids) > d.positions:
            raise UsageError(
                f"The float reference computes at most {d.positions} positions of this model "
                f"(its training length), not {len(ids)}.",
                f"Score at most {d.positions} tokens.",
            )
        return self.forward(ids, None, 0, chunked=True)

    def forward(
        self, ids: Sequence[int], cache: list[LayerCache] | None, start: int, chunked: bool
    ) -> np.ndarray:
        """Final hidden states of ``ids`` at positions ``start`` on, after what ``cache``
        holds (which then holds them too; None: nothing before them, nothing kept). ``chunked``
        picks the delta rule's form for Qwen3.5's linear layers (float_decoder.py)."""
        d = self.dims
        h = self._embed(ids)
        cos, sin = rotary_tables(d.rope_dim, d.rope_base, start + len(ids))
        cos, sin = cos[start:], sin[start:]
        for i in range(d.layers):
            h = self._block(h, i, cos, sin, cache, chunked)
        return rms_norm(h, self._norm(self._final_norm, None), d.eps)

    def head_rows(self, hidden: np.ndarray) -> np.ndarray:
        """Logits [rows, vocab] of final hidden states, the head read a chunk of rows at a time."""
        return self._linear(hidden, self._head, None)

    def logit_chunks(self, ids: Sequence[int], rows: int = ROWS) -> Iterator[np.ndarray]:
        """The logits of every position of ``ids``, ``rows`` positions at a time."""
        hidden = self.hidden(ids)
        for start in range(0, len(ids), rows):
            yield self.head_rows(hidden[start : start + rows])

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        """All of them at once, [len(ids), vocab] (tests; scoring uses ``logit_chunks``)."""
        return np.concatenate(list(self.logit_chunks(ids)))

    def close(self) -> None:
        self.source.close()

    # -- one decoder layer -------------------------------------------------------------------

    def _block(
        self,
        h: np.ndarray,
        i: int,
        cos: np.ndarray,
        sin: np.ndarray,
        cache: list[LayerCache] | None,
        chunked: bool,
    ) -> np.ndarray:
        d = self.dims
        x = rms_norm(h, self._norm(self._layer["attn_norm"], i), d.eps)
        held = cache[i] if cache is not None else None
        if d.kind(i) == LINEAR:
            assert held is None or isinstance(held, LinearState)
            mixed, state = self._deltanet(x, i, held, chunked)
            if cache is not None:
                cache[i] = state
        else:
            assert held is None or isinstance(held, KeysValues)
            mixed = self._attention(x, i, cos, sin, held)
        h = h + mixed
        x = rms_norm(h, self._norm(self._layer["ffn_norm"], i), d.eps)
        gated = silu(self._project(x, "ffn_gate", i)) * self._project(x, "ffn_up", i)
        return h + self._project(gated, "ffn_down", i)

    def _attention(
        self, x: np.ndarray, i: int, cos: np.ndarray, sin: np.ndarray, held: KeysValues | None
    ) -> np.ndarray:
        d, n = self.dims, x.shape[0]
        q = self._project(x, "attn_q", i).reshape(n, d.heads, -1)
        gate = None
        if d.attn_gate:  # Qwen3.5: each head's queries, then as many output gates
            q, gate = q[..., : d.head_dim], q[..., d.head_dim :].reshape(n, d.q_dim)
        k = self._project(x, "attn_k", i).reshape(n, d.kv_heads, d.head_dim)
        v = self._project(x, "attn_v", i).reshape(n, d.kv_heads, d.head_dim)
        if d.qk_norm:  # Qwen3: each head of q and k normed before rotary
            q = rms_norm(q, self._norm(self._layer["attn_q_norm"], i), d.eps)
            k = rms_norm(k, self._norm(self._layer["attn_k_norm"], i), d.eps)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        if held is not None:
            held.extend(k, v)
            k, v = held.keys, held.values
        attended = causal_attention(q, k, v)
        if gate is not None:
            attended = attended * sigmoid(gate)
        return self._project(attended, "attn_o", i)

    def _deltanet(
        self, x: np.ndarray, i: int, held: LinearState | None, chunked: bool
    ) -> tuple[np.ndarray, LinearState]:
        """Qwen3.5's Gated DeltaNet layer on ``x``, from ``held`` (or the start)."""
        d = self.dims
        conv = self._vector(self._layer["ssm_conv1d"], i).reshape(d.linear_conv_dim, -1)
        weights = DeltaNetWeights(
            conv=conv,
            a_log=self._vector(self._layer["ssm_a"], i),
            dt_bias=self._vector(self._layer["ssm_dt"], i),
            norm=self._vector(self._layer["ssm_norm"], i),
            k_heads=d.linear_k_heads,
            k_dim=d.linear_k_dim,
            v_dim=d.linear_v_dim,
            eps=d.eps,
        )
        carried = held or LinearState.empty(
            d.linear_conv_dim, d.conv_kernel, d.linear_v_heads, d.linear_k_dim, d.linear_v_dim
        )
        mixed, state = deltanet_mix(
            self._project(x, "attn_qkv", i),
            self._project(x, "attn_gate", i),
            self._project(x, "ssm_alpha", i),
            self._project(x, "ssm_beta", i),
            weights,
            carried,
            chunked,
        )
        return self._project(mixed, "ssm_out", i), state

    def _project(self, x: np.ndarray, role: str, i: int) -> np.ndarray:
        """``x @ W.T`` (+ the bias, where the model has one) of layer ``i``'s weight ``role``."""
        out = self._linear(x, self._layer[role], i)
        bias = self._layer.get(f"{role}.bias")
        if bias is not None:
            out += self._vector(bias, i)
        return out

    # -- reading weights ---------------------------------------------------------------------

    def _linear(self, x: np.ndarray, spec: TensorSpec, i: int | None) -> np.ndarray:
        """``x @ W.T`` with ``W`` read CHUNK_VALUES at a time: each chunk of W's rows gives
        those columns of the result."""
        name = spec.source_in(self.dims, i)
        first, last = spec.rows(self.dims) if spec.rows else (0, spec.shape_in(self.dims)[0])
        out = np.empty((x.shape[0], last - first), np.float32)
        step = max(1, CHUNK_VALUES // x.shape[1])
        for start in range(first, last, step):
            end = min(start + step, last)
            with self.source.read(name, (start, end)) as data:
                weight = _floats(data)
            out[:, start - first : end - first] = x @ weight.T
        return out

    def _norm(self, spec: TensorSpec, i: int | None) -> np.ndarray:
        """An RMSNorm's multiplier: its weight, plus one where the family centres it on zero."""
        weight = self._vector(spec, i)
        return weight + np.float32(self.dims.norm_offset) if self.dims.norm_offset else weight

    def _vector(self, spec: TensorSpec, i: int | None) -> np.ndarray:
        rows = spec.rows(self.dims) if spec.rows else None
        with self.source.read(spec.source_in(self.dims, i), rows) as data:
            return _floats(data).reshape(-1)

    def _embed(self, ids: Sequence[int]) -> np.ndarray:
        """The table's rows of ``ids`` (each distinct id read once), float32."""
        wanted = np.asarray(ids, dtype=np.int64)
        vocab = self._table.shape_in(self.dims)[0]
        outside = wanted[(wanted < 0) | (wanted >= vocab)]
        if outside.size:
            raise UsageError(
                f"Token id {int(outside[0])} is outside the reference's {vocab} embeddings.",
                "Pass the float model this one was quantized from.",
            )
        distinct, where = np.unique(wanted, return_inverse=True)
        name = self._table.source_in(self.dims, None)
        rows = np.empty((len(distinct), self.dims.hidden), np.float32)
        for j, row in enumerate(distinct.tolist()):
            with self.source.read(name, (row, row + 1)) as data:
                rows[j] = _floats(data).reshape(-1)
        return rows[where.reshape(-1)]


def _floats(data: TensorData) -> np.ndarray:
    """The values as a float32 array of their own (the source's mapping closes after the read)."""
    if data.kind == "f32":
        return np.array(data.array, dtype=np.float32)
    return as_float32(data)


def open_reference(path: Path) -> FloatReference:
    """The float reference of a Hugging Face folder (safetensors) or a GGUF file; one sentence
    if it is neither, is quantized already, or is not a model qwen-tui can compute."""
    from ..recipes import DEFAULT_RECIPE, RECIPES
    from ..store.gguf_import import is_gguf
    from ..store.source import family_of, has_safetensors, read_source_config
    from ..store.stream import LAYOUT, check_plan

    path = Path(path).expanduser()
    source: TensorSource
    if path.is_file() and is_gguf(path):
        from ..store.gguf_import.convert import hf_config
        from ..store.gguf_import.read import open_gguf
        from ..store.sources.gguf import GgufSource

        gf = open_gguf(path)
        config = hf_config(gf)
        source = GgufSource(path, gf)
    else:
        if not (path / "config.json").is_file():
            raise UsageError(
                f"{path} is not a float model (no config.json, not a GGUF file).",
                "Pass the folder or .gguf file the model was quantized from.",
            )
        config = read_source_config(path)
        if config.get("bigdl_transformers_low_bit") or (path / LAYOUT).is_file():
            raise UsageError(f"{path} is a quantized model.", "Pass the float model it came from.")
        if not has_safetensors(path):
            raise UsageError(
                f"{path} has no safetensors files, which the float reference reads.",
                "Pass the model's safetensors release (or quantize with --no-quality).",
            )
        from ..store.sources.safetensors import SafetensorsSource

        source = SafetensorsSource(path)
    family = BY_NAME[family_of(config, path)]
    dims = family.dims(config)
    check_plan(source, family.plan(dims, RECIPES[DEFAULT_RECIPE]), str(path))
    return FloatReference(source, family, dims)
