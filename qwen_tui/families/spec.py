"""What a model family is, declared once: its dimensions from config.json, and its tensors.

Each family (``families/qwen1.py``, ``qwen2.py``, ``qwen3.py``) is one ``FamilySpec``: how its
config.json reads as ``ModelDims``, and a table of ``TensorSpec`` saying, for every tensor, its
name in the source folder, in a GGUF file and in the store, its shape, and whether it is
quantized (by which kind of the recipe) or kept in float32. ``plan`` turns a family, its
dimensions and a recipe into the list of tensors the store holds, in order: the streaming
quantizer writes it, the estimates count it, and the checks compare a source against it.

No torch and no numpy here: a plan is names, shapes and byte counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..recipes import BLOCK_BYTES, Recipe

QK = 64  # values per quantized block, for every format


@dataclass(frozen=True)
class ModelDims:
    """A model's shape, whatever its family calls the fields in config.json."""

    family: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    inter: int  # width of the MLP's gate and up outputs
    vocab: int
    tied: bool  # the output head is the embedding table
    qkv_bias: bool
    qk_norm: bool  # an RMSNorm over each head of q and k (Qwen3)
    out_bias: bool = False  # biases on the attention output and the MLP (Qwen-1 no_bias false)
    eps: float = 1e-6  # the RMSNorms' epsilon
    rope_base: float = 10000.0  # the rotary embedding's base (theta)
    # positions the model is computed for as it is: Qwen-1's seq_length (past it, its dynamic
    # NTK and logn scaling start), or max_position_embeddings
    positions: int = 32768

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim


When = Callable[[ModelDims], bool]


def always(dims: ModelDims) -> bool:
    return True


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of a layer (``{i}`` in the names) or of the whole model."""

    role: str  # "attn_q", "attn_q.bias", "attn_norm", ... (what the tensor does)
    store: str  # its name in the store (bigdl-llm's module names, Qwen-1's c_attn split)
    source: str  # its name in a Hugging Face folder
    shape: tuple[str, ...]  # ModelDims fields: ("q_dim", "hidden") for a weight, ("hidden",)
    quant: str | None  # the recipe kind that picks its format; None: kept in float32
    gguf: str | None = None  # its name in a GGUF file
    rows: Callable[[ModelDims], tuple[int, int]] | None = None  # a slice of the source's rows
    when: When = always  # whether the model has it (biases, q/k norms)

    @property
    def per_layer(self) -> bool:
        return "{i}" in self.store

    def shape_in(self, dims: ModelDims) -> tuple[int, ...]:
        return tuple(int(getattr(dims, field)) for field in self.shape)


@dataclass(frozen=True)
class Planned:
    """One tensor of a store: what it is, where it comes from, how it is kept."""

    name: str  # in the store
    role: str
    layer: int | None
    shape: tuple[int, ...]  # [rows, cols] as the model multiplies it, or [n]
    store: str  # a format name (``sym_int8`` ...) or "f32"
    source: str  # in the source folder
    rows: tuple[int, int] | None  # the slice of the source tensor's rows it takes
    gguf: str | None

    @property
    def nbytes(self) -> int:
        """Bytes in the store: bigdl-llm's blocks, or float32."""
        if self.store == "f32":
            return 4 * _count(self.shape)
        rows, cols = self.shape
        return rows * cols // QK * BLOCK_BYTES[self.store]


def _count(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


@dataclass(frozen=True)
class FamilySpec:
    name: str  # manifest's family: "qwen", "qwen2", "qwen3"
    model_types: tuple[str, ...]  # config.json's model_type
    dims: Callable[[dict], ModelDims]  # config.json -> dimensions (KeyError/ValueError if not)
    layer_tensors: tuple[TensorSpec, ...]
    model_tensors: tuple[TensorSpec, ...]  # embedding, final norm, head
    refuse: Callable[[dict], str | None] = lambda config: None  # why it cannot run, or None

    def plan(self, dims: ModelDims, recipe: Recipe) -> list[Planned]:
        """Every tensor the store holds for this model and recipe, layers first."""
        out = []
        for i in range(dims.layers):
            out += [self._planned(t, dims, recipe, i) for t in self.layer_tensors if t.when(dims)]
        out += [self._planned(t, dims, recipe, None) for t in self.model_tensors if t.when(dims)]
        return out

    @staticmethod
    def _planned(t: TensorSpec, dims: ModelDims, recipe: Recipe, i: int | None) -> Planned:
        def named(template: str) -> str:
            return template.format(i=i) if i is not None else template

        if t.quant is None:
            store = "f32"
        elif t.quant == "embedding":
            store = recipe.embedding
        else:
            store = recipe.by_kind.get(t.quant, recipe.default)
        return Planned(
            name=named(t.store),
            role=t.role,
            layer=i,
            shape=t.shape_in(dims),
            store=store,
            source=named(t.source),
            rows=t.rows(dims) if t.rows else None,
            gguf=named(t.gguf) if t.gguf else None,
        )
