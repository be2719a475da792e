"""What a model family is, declared once: its dimensions from config.json, and its tensors.

Each family (``families/qwen1.py``, ``qwen2.py``, ``qwen3.py``, ``qwen35.py``) is one
``FamilySpec``: how its config.json reads as ``ModelDims``, and a table of ``TensorSpec`` saying,
for every tensor, its name in the source folder, in a GGUF file and in the store, its shape, and
whether it is quantized (by which kind of the recipe) or kept in float32. ``plan`` turns a
family, its dimensions and a recipe into the list of tensors the store holds, in order: the
streaming quantizer writes it, the estimates count it, and the checks compare a source against it.

A hybrid model (Qwen3.5) has layers of two kinds (``ModelDims.layer_types``); a layer tensor
that only one kind has says so (``TensorSpec.kind``). Tensors a checkpoint holds that the model
does not run (a vision tower, multi-token-prediction layers) are the family's ``skipped``
prefixes, each with what it is: never planned, never missing, never extra, and named in the
manifest (``store/stream.py``) so that ``models`` can say what was left out.

No torch and no numpy here: a plan is names, shapes and byte counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..recipes import BLOCK_BYTES, Recipe

QK = 64  # values per quantized block, for every format
FULL, LINEAR = "full_attention", "linear_attention"  # transformers' layer_types values
# what a checkpoint holds beside the language model, as ``models`` names it
VISION_TOWER, MTP_LAYERS = "the vision tower", "the multi-token-prediction (MTP) layers"


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
    # -- Qwen3.5's hybrid layers (the defaults are every other family's) ---------------------
    layer_types: tuple[str, ...] = ()  # FULL or LINEAR per layer; () is every layer FULL
    rotary_dim: int = 0  # dims of each head that rotary turns (the first ones); 0: head_dim
    attn_gate: bool = False  # q_proj gives, per head, the query then a sigmoid output gate
    norm_offset: float = 0.0  # an RMSNorm multiplies by (offset + w): 1.0 for zero-centred
    linear_k_heads: int = 0  # Gated DeltaNet: key heads (q and k), each serving
    linear_v_heads: int = 0  # linear_v_heads / linear_k_heads value heads
    linear_k_dim: int = 0
    linear_v_dim: int = 0
    conv_kernel: int = 0  # the causal depthwise conv1d over q|k|v
    lm_prefix: str = "model."  # the language model's tensors' prefix in the source

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def q_proj_dim(self) -> int:
        """Rows of q_proj: the queries, and as many gate values with an output gate."""
        return self.q_dim * (2 if self.attn_gate else 1)

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def rope_dim(self) -> int:
        return self.rotary_dim or self.head_dim

    @property
    def linear_key_dim(self) -> int:
        return self.linear_k_heads * self.linear_k_dim

    @property
    def linear_value_dim(self) -> int:
        return self.linear_v_heads * self.linear_v_dim

    @property
    def linear_conv_dim(self) -> int:
        """Channels of in_proj_qkv and of the conv: q, k (key heads), then v (value heads)."""
        return 2 * self.linear_key_dim + self.linear_value_dim

    def kind(self, layer: int) -> str:
        """Layer ``layer``'s kind: FULL (softmax attention) or LINEAR (Gated DeltaNet)."""
        return self.layer_types[layer] if self.layer_types else FULL


When = Callable[[ModelDims], bool]


def always(dims: ModelDims) -> bool:
    return True


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of a layer (``{i}`` in the names) or of the whole model."""

    role: str  # "attn_q", "attn_q.bias", "attn_norm", ... (what the tensor does)
    store: str  # its name in the store (bigdl-llm's module names, Qwen-1's c_attn split)
    source: str  # its name in a Hugging Face folder
    # ModelDims fields (or sizes): ("q_dim", "hidden") for a weight, ("hidden",), a conv's
    # ("linear_conv_dim", 1, "conv_kernel")
    shape: tuple[str | int, ...]
    quant: str | None  # the recipe kind that picks its format; None: kept in float32
    gguf: str | None = None  # its name in a GGUF file
    rows: Callable[[ModelDims], tuple[int, int]] | None = None  # a slice of the source's rows
    when: When = always  # whether the model has it (biases, q/k norms)
    kind: str | None = None  # the layer kind that has it (FULL, LINEAR); None: every layer
    # how llama.cpp's converter changed the values on the way to GGUF, in order (the family's
    # module says what each step is, e.g. qwen35_gguf.py); () is as they are
    gguf_steps: tuple[str, ...] = ()

    @property
    def per_layer(self) -> bool:
        return "{i}" in self.store

    def shape_in(self, dims: ModelDims) -> tuple[int, ...]:
        return tuple(f if isinstance(f, int) else int(getattr(dims, f)) for f in self.shape)

    def source_in(self, dims: ModelDims, i: int | None) -> str:
        """Its name in the source: layer ``i``'s, under the source's language-model prefix."""
        return self.source.format(i=i, lm=dims.lm_prefix)


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
    # source tensors the model does not run, by name prefix: what they are (VISION_TOWER ...)
    skipped: tuple[tuple[str, str], ...] = ()
    # whether qwen-tui's decoders run it; False while a family is being added (the float
    # reference computes it, quantizing refuses it)
    decoded: bool = True
    # whether bigdl-llm's engine (torch) runs it too; False: only our own engine does
    bigdl: bool = True
    title: str = ""  # its name in a sentence ("Qwen3.5"); the name where empty

    def __post_init__(self) -> None:
        if not self.title:
            object.__setattr__(self, "title", self.name)

    def plan(self, dims: ModelDims, recipe: Recipe) -> list[Planned]:
        """Every tensor the store holds for this model and recipe, layers first."""
        out = []
        for i in range(dims.layers):
            out += [self._planned(t, dims, recipe, i) for t in self.layer_tensors_of(dims, i)]
        out += [self._planned(t, dims, recipe, None) for t in self.model_tensors if t.when(dims)]
        return out

    def layer_tensors_of(self, dims: ModelDims, i: int) -> list[TensorSpec]:
        """The tensors layer ``i`` of this model has (its kind's, and those its config asks)."""
        kind = dims.kind(i)
        return [t for t in self.layer_tensors if t.kind in (None, kind) and t.when(dims)]

    def skips(self, name: str) -> bool:
        """Whether a source tensor is one the model does not run (planned neither way)."""
        return self.skipped_part(name) is not None

    def skipped_part(self, name: str, layers: int | None = None) -> str | None:
        """What a source tensor the model does not run is part of (``skipped``), or None.
        In a GGUF file (``layers``: the model's), a block past the model's layers is one of
        llama.cpp's multi-token-prediction layers (``nextn``), for a family that has them."""
        for prefix, what in self.skipped:
            if name.startswith(prefix):
                return what
        block = name.removeprefix("blk.").partition(".")[0]
        if layers is not None and name.startswith("blk.") and block.isdigit():
            if int(block) >= layers and MTP_LAYERS in dict(self.skipped).values():
                return MTP_LAYERS
        return None

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
            source=t.source_in(dims, i),
            rows=t.rows(dims) if t.rows else None,
            gguf=named(t.gguf) if t.gguf else None,
        )
