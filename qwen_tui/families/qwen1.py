"""Qwen-1 (``model_type`` "qwen": Qwen-1_8B-Chat, Qwen-7B-Chat ...): q, k and v in one
``c_attn`` projection with a bias (stored split into three, as bigdl-llm's conversion splits
it), a gated MLP whose ``intermediate_size`` counts both branches (``w2`` is the gate, ``w1`` the
up projection), and an untied head. Our model code is ``engine/models/qwen1.py``."""

from __future__ import annotations

from .spec import FamilySpec, ModelDims, TensorSpec


def unsupported(config: dict) -> str | None:
    """Why qwen-tui cannot run this Qwen-1 config, or None."""
    if config.get("visual"):
        return "it is Qwen-VL, a vision model"
    if float(config.get("rotary_pct", 1.0)) != 1.0:
        return "its rotary_pct is not 1.0"
    if config.get("use_cache_quantization"):
        return "it asks for a quantized KV cache (use_cache_quantization)"
    heads, width = config.get("num_attention_heads"), config.get("kv_channels", 128)
    if heads and width and int(heads) * int(width) != int(config.get("hidden_size", 0)):
        return "its heads (kv_channels x num_attention_heads) do not add up to hidden_size"
    return None


def _dims(config: dict) -> ModelDims:
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    return ModelDims(
        family="qwen",
        hidden=hidden,
        layers=int(config["num_hidden_layers"]),
        heads=heads,
        kv_heads=heads,
        head_dim=int(config.get("kv_channels", hidden // heads)),
        inter=int(config["intermediate_size"]) // 2,
        vocab=int(config["vocab_size"]),
        tied=bool(config.get("tie_word_embeddings", False)),
        qkv_bias=True,
        qk_norm=False,
        out_bias=not config.get("no_bias", True),
        eps=float(config.get("layer_norm_epsilon", 1e-6)),
        rope_base=float(config.get("rotary_emb_base", 10000)),
        positions=int(config.get("seq_length", 8192)),
    )


def _block(part: str) -> str:
    return "transformer.h.{i}." + part


def _split(role: str, index: int) -> tuple[TensorSpec, TensorSpec]:
    """q, k or v: rows [index·P, (index+1)·P) of c_attn's weight and bias."""

    def rows(d: ModelDims) -> tuple[int, int]:
        return index * d.q_dim, (index + 1) * d.q_dim

    name = f"attn.{role[-1]}_proj"
    return (
        TensorSpec(role, _block(f"{name}.weight"), _block("attn.c_attn.weight"),
                   ("q_dim", "hidden"), role, rows=rows),
        TensorSpec(f"{role}.bias", _block(f"{name}.bias"), _block("attn.c_attn.bias"),
                   ("q_dim",), None, rows=rows),
    )  # fmt: skip


def _out_bias(d: ModelDims) -> bool:
    return d.out_bias


def _linear(
    role: str, part: str, shape: tuple[str, str], quant: str
) -> tuple[TensorSpec, TensorSpec]:
    return (
        TensorSpec(role, _block(f"{part}.weight"), _block(f"{part}.weight"), shape, quant),
        TensorSpec(f"{role}.bias", _block(f"{part}.bias"), _block(f"{part}.bias"),
                   shape[:1], None, when=_out_bias),
    )  # fmt: skip


def _norm(role: str, part: str) -> TensorSpec:
    return TensorSpec(role, _block(part), _block(part), ("hidden",), None)


LAYER = (
    _norm("attn_norm", "ln_1.weight"),
    *_split("attn_q", 0),
    *_split("attn_k", 1),
    *_split("attn_v", 2),
    *_linear("attn_o", "attn.c_proj", ("hidden", "q_dim"), "attn_o"),
    _norm("ffn_norm", "ln_2.weight"),
    *_linear("ffn_gate", "mlp.w2", ("inter", "hidden"), "mlp_gate"),
    *_linear("ffn_up", "mlp.w1", ("inter", "hidden"), "mlp_up"),
    *_linear("ffn_down", "mlp.c_proj", ("hidden", "inter"), "mlp_down"),
)
MODEL = (
    TensorSpec("token_embd", "transformer.wte.weight", "transformer.wte.weight",
               ("vocab", "hidden"), "embedding"),
    TensorSpec("output_norm", "transformer.ln_f.weight", "transformer.ln_f.weight",
               ("hidden",), None),
    TensorSpec("output", "lm_head.weight", "lm_head.weight", ("vocab", "hidden"),
               "head"),
)  # fmt: skip

QWEN1 = FamilySpec(
    name="qwen",
    model_types=("qwen",),
    dims=_dims,
    layer_tensors=LAYER,
    model_tensors=MODEL,
    refuse=unsupported,
)
