"""Qwen3 (dense): Qwen2's layers without q/k/v biases, with an RMSNorm over each head of q and
k before rotary, and an explicit head width (heads x head_dim need not be the hidden size)."""

from __future__ import annotations

from .qwen2 import ATTENTION, MLP, MODEL, dims_of, has_bias, vector
from .spec import FamilySpec, ModelDims


def _dims(config: dict) -> ModelDims:
    return dims_of(config, "qwen3")


def _refuse(config: dict) -> str | None:
    if config.get("use_sliding_window"):
        return "it uses sliding-window attention"
    if config.get("rope_scaling"):
        return "it scales its rotary embedding (rope_scaling)"
    return None


def has_qk_norm(d: ModelDims) -> bool:
    return d.qk_norm


QK_NORMS = (
    vector("attn_q_norm", "self_attn.q_norm.weight", "attn_q_norm.weight", ("head_dim",),
           has_qk_norm),
    vector("attn_k_norm", "self_attn.k_norm.weight", "attn_k_norm.weight", ("head_dim",),
           has_qk_norm),
)  # fmt: skip

# attention_bias (off in every released Qwen3) puts a bias on o_proj too, not only on q/k/v
O_BIAS = vector("attn_o.bias", "self_attn.o_proj.bias", "attn_output.bias", ("hidden",), has_bias)

QWEN3 = FamilySpec(
    name="qwen3",
    model_types=("qwen3",),
    dims=_dims,
    layer_tensors=ATTENTION + (O_BIAS,) + QK_NORMS + MLP,
    model_tensors=MODEL,
    refuse=_refuse,
)
