"""Low-bit recipes: which of bigdl-llm's block formats each kind of layer is stored in.

A uniform recipe (``sym_int4`` ...) stores every linear layer in one format, as bigdl-llm's
``load_in_low_bit`` does. A mixed recipe keeps the layers quantization hurts most (k/v
projections, the output head, the MLP's down projection) at 8 bits and the rest at fewer,
as llama.cpp's Q4_K_M keeps ``attn_v``/``ffn_down``/``output`` at more bits. The embedding
table is quantized too (rows are dequantized as they are looked up); when the model ties it
to the output head, the two share the head's bytes.

Qwen3.5's Gated DeltaNet projections stay at 8 bits in ``mixed_int5``: ``in_proj_qkv`` feeds
the recurrent state, where an error stays for every later token (on the tiny fixture, 5 bits
there alone moves the logits' KL from the float model from 0.008 to 0.14, more than any
other projection), and ``in_proj_z`` and ``out_proj`` are each about a tenth of a layer's
weights, so 5 bits would save some 2 % of the model for a measured cost like the MLP's
(KL 0.035 and 0.028 against 0.020 for its gate).

One place for these facts: the catalog, the quantizer, the loader and the wizard read them here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# bigdl-llm format -> bytes per block of 64 values (formats.py has the layouts)
BLOCK_BYTES = {"sym_int4": 34, "asym_int4": 36, "sym_int5": 42, "asym_int5": 44, "sym_int8": 68}

# What a linear layer is, from the last part of its name (Qwen2 names, and Qwen-1's after
# bigdl-llm splits c_attn into q/k/v): the kinds a recipe can give their own format.
KINDS = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_o",
    "c_proj": None,  # Qwen-1: the attention output and the MLP output share this name
    "gate_proj": "mlp_gate",
    "up_proj": "mlp_up",
    "down_proj": "mlp_down",
    "w1": "mlp_up",  # Qwen-1: w1 is the up projection, w2 the gate, mlp.c_proj the down one
    "w2": "mlp_gate",
    "lm_head": "head",
    # Qwen3.5's Gated DeltaNet: q|k|v into the conv and the recurrence, the output gate z, the
    # output projection (families/qwen35.py names them so too)
    "in_proj_qkv": "attn_qkv",
    "in_proj_z": "attn_gate",
    "out_proj": "ssm_out",
}


def kind_of(module_name: str) -> str:
    """The kind of a linear layer, from its full name (``model.layers.3.mlp.up_proj``)."""
    parts = module_name.split(".")
    last = parts[-1]
    if last == "c_proj":
        return "mlp_down" if len(parts) > 1 and parts[-2] == "mlp" else "attn_o"
    return KINDS.get(last) or "other"


@dataclass(frozen=True)
class Recipe:
    name: str
    default: str  # format of every kind not listed
    by_kind: dict[str, str] = field(default_factory=dict)
    embedding: str = "sym_int5"
    summary: str = ""

    def format_for(self, module_name: str) -> str:
        return self.by_kind.get(kind_of(module_name), self.default)

    @property
    def uniform(self) -> bool:
        return not self.by_kind

    def bits_per_weight(self, kind: str) -> float:
        fmt = self.embedding if kind == "embedding" else self.by_kind.get(kind, self.default)
        return BLOCK_BYTES[fmt] * 8 / 64

    def to_dict(self) -> dict:
        return {"name": self.name, "default": self.default, "by_kind": dict(self.by_kind),
                "embedding": self.embedding}  # fmt: skip


MIXED = Recipe(
    "mixed_int5",
    default="sym_int8",
    by_kind={"mlp_gate": "sym_int5", "mlp_up": "sym_int5"},
    embedding="sym_int5",
    summary="MLP gate/up in 5 bits, everything else in 8: near-lossless (the default)",
)

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        MIXED,
        Recipe("sym_int4", "sym_int4", summary="4 bits: smallest, least accurate"),
        Recipe("asym_int4", "asym_int4", summary="4 bits with a minimum per block"),
        Recipe("sym_int5", "sym_int5", summary="5 bits everywhere"),
        Recipe("sym_int8", "sym_int8", embedding="sym_int8", summary="8 bits: largest"),
    )
}
DEFAULT_RECIPE = MIXED.name
