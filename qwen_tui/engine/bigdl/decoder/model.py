"""A loaded Qwen model as our C decoder's description, and one step of it.

The weights stay where the loader put them (bigdl-llm's ``LowBitLinear`` layers, regrouped by
``matmul.prepare``); the C side gets their pointers once. A step is: the embedding rows
(dequantized from the quantized table), one ``kernels.decode`` call for every layer, then the
final norm and the output head on the rows asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ... import kernels
from .. import matmul
from .cache import DecoderCache

CHUNK = 512  # prompt rows per decode call: scratch stays bounded, results are the same


class DecoderUnsupported(Exception):
    """The model (or this CPU) is not one our decoder runs; bigdl-llm's forwards are used."""


@dataclass(frozen=True)
class Family:
    """Where a family keeps each part (attribute paths from the model and from a layer)."""

    body: str
    layers: str
    embed: str
    final_norm: str
    norm_in: str
    norm_post: str
    q: str
    k: str
    v: str
    o: str
    gate: str
    up: str
    down: str
    q_norm: str | None = None
    k_norm: str | None = None


QWEN2 = Family(
    "model", "layers", "embed_tokens", "norm", "input_layernorm", "post_attention_layernorm",
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
)  # fmt: skip
QWEN1 = Family(
    "transformer", "h", "wte", "ln_f", "ln_1", "ln_2",
    "attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.c_proj",
    "mlp.w2", "mlp.w1", "mlp.c_proj",
)  # fmt: skip
QWEN3 = Family(**{**QWEN2.__dict__, "q_norm": "self_attn.q_norm", "k_norm": "self_attn.k_norm"})
FAMILIES = {"qwen2": QWEN2, "qwen": QWEN1, "qwen3": QWEN3}


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _float32(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float32).contiguous()


@dataclass(frozen=True)
class Shape:
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    inter: int
    eps: float
    rope_base: float
    positions: int


def _shape(config: Any, family: Family) -> Shape:
    if family is QWEN1:
        if float(getattr(config, "rotary_pct", 1.0)) != 1.0:
            raise DecoderUnsupported("partial rotary")
        heads = config.num_attention_heads
        return Shape(
            config.hidden_size, heads, heads, config.kv_channels, config.intermediate_size // 2,
            float(config.layer_norm_epsilon), float(config.rotary_emb_base),
            int(config.seq_length),
        )  # fmt: skip
    heads = config.num_attention_heads
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    return Shape(
        config.hidden_size, heads, getattr(config, "num_key_value_heads", None) or heads,
        head_dim, config.intermediate_size, float(config.rms_norm_eps),
        float(getattr(config, "rope_theta", 10000.0)), int(config.max_position_embeddings),
    )  # fmt: skip


def rotary_tables(head_dim: int, base: float, positions: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [positions, head_dim] as transformers' Qwen2RotaryEmbedding computes them."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    t = torch.arange(positions, dtype=torch.int64).type_as(inv_freq)
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().contiguous(), emb.sin().contiguous()


class Decoder:
    """Every layer of ``model`` in our C decoder; raises DecoderUnsupported where it can't."""

    def __init__(self, model: Any, family_name: str, threads: int) -> None:
        family = FAMILIES.get(family_name)
        if family is None:
            raise DecoderUnsupported(f"no decoder for the {family_name!r} family")
        if not kernels.float_kernels():
            raise DecoderUnsupported("the float kernels need AVX2")
        self.threads = threads
        self.model = model
        self.shape = shape = _shape(model.config, family)
        body = _get(model, family.body)
        layers = _get(body, family.layers)
        self.embed = _get(body, family.embed)
        self.final_norm = _float32(_get(body, family.final_norm).weight)
        self.head = self._packed(model.get_output_embeddings())
        self._keep: list[torch.Tensor] = []  # tensors whose pointers the C side holds
        described = [self._layer(layer, family, shape) for layer in layers]
        self.layers = len(described)
        self.native = kernels.library().make_decoder(described)
        self.cos, self.sin = rotary_tables(shape.head_dim, shape.rope_base, shape.positions)
        self.scratch = torch.empty(0)

    def _packed(self, layer: Any) -> kernels.PackedWeight:
        packed = layer.__dict__.get(matmul.PACKED)
        if packed is None or layer.__dict__.get(matmul.PATH) != "ours":
            raise DecoderUnsupported(f"a layer is not on our kernels ({type(layer).__name__})")
        return packed

    def _norm(self, module: Any) -> torch.Tensor:
        weight = _float32(module.weight)
        self._keep.append(weight)
        return weight

    def _layer(self, layer: Any, family: Family, s: Shape) -> tuple:
        names = (family.q, family.k, family.v, family.o, family.gate, family.up, family.down)
        weights = tuple(self._packed(_get(layer, name)).spec for name in names)
        q_norm = k_norm = 0
        if family.q_norm and family.k_norm:
            q_norm = self._norm(_get(layer, family.q_norm)).data_ptr()
            k_norm = self._norm(_get(layer, family.k_norm)).data_ptr()
        dims = (
            s.hidden, s.heads * s.head_dim, s.kv_heads * s.head_dim, s.heads, s.kv_heads,
            s.head_dim, s.inter,
        )  # fmt: skip
        floats = (
            s.eps,
            self._norm(_get(layer, family.norm_in)).data_ptr(),
            self._norm(_get(layer, family.norm_post)).data_ptr(),
            q_norm,
            k_norm,
        )
        return dims, floats, weights

    def new_cache(self) -> DecoderCache:
        return DecoderCache(self.layers, self.shape.kv_heads, self.shape.head_dim)

    def hidden(self, ids: list[int], cache: DecoderCache, last_only: bool = True) -> torch.Tensor:
        """The final hidden states (normed) of ``ids`` fed after ``cache``: [1, hidden] for the
        last position, or [len(ids), hidden] with ``last_only=False``. Appends to the cache."""
        if cache.length + len(ids) > self.shape.positions:
            raise ValueError(f"more than the {self.shape.positions} positions of the model")
        cache.reserve(cache.length + len(ids))
        # a long prompt in chunks (only the last chunk's rows are kept when last_only)
        outs = [self._step(ids[i : i + CHUNK], cache, last_only) for i in range(0, len(ids), CHUNK)]
        h = outs[-1] if last_only else torch.cat(outs)
        return kernels.rms_norm(h, self.final_norm, self.shape.eps, self.threads)

    def _step(self, ids: list[int], cache: DecoderCache, last_only: bool) -> torch.Tensor:
        rows = len(ids)
        h = self.embed(torch.tensor(ids, dtype=torch.long)).to(torch.float32).contiguous()
        need = kernels.library().decode_scratch(self.native, rows)
        if self.scratch.numel() < need:
            self.scratch = torch.empty(need)
        positions = torch.arange(cache.length, cache.length + rows, dtype=torch.int64)
        keys, values = cache.pointers()
        kernels.library().decode(
            kernels.chosen_isa().index, self.native, h.data_ptr(), rows, cache.length,
            positions.data_ptr(), self.cos.data_ptr(), self.sin.data_ptr(), keys, values,
            cache.capacity, last_only, self.scratch.data_ptr(), self.threads,
        )  # fmt: skip
        cache.length += rows
        return h[:1] if last_only else h

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return kernels.matmul(hidden, [self.head], self.threads)[0]
