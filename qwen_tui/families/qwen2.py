"""Qwen2 (Qwen1.5, Qwen2, Qwen2.5 and their Coder and Math models): q/k/v with biases, a gated
MLP, and an output head that small sizes tie to the embedding table."""

from __future__ import annotations

from .spec import FamilySpec, ModelDims, TensorSpec, When, always


def dims_of(config: dict, family: str = "qwen2") -> ModelDims:
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    return ModelDims(
        family=family,
        hidden=hidden,
        layers=int(config["num_hidden_layers"]),
        heads=heads,
        kv_heads=int(config.get("num_key_value_heads") or heads),
        head_dim=int(config.get("head_dim") or hidden // heads),
        inter=int(config["intermediate_size"]),
        vocab=int(config["vocab_size"]),
        tied=bool(config.get("tie_word_embeddings", False)),
        # transformers' Qwen2 always has q/k/v biases; Qwen3's attention_bias is off by default
        qkv_bias=family == "qwen2" or bool(config.get("attention_bias", False)),
        qk_norm=family == "qwen3",
        eps=float(config.get("rms_norm_eps", 1e-6)),
        rope_base=float(config.get("rope_theta", 10000.0)),
        positions=int(config.get("max_position_embeddings", 32768)),
    )


def _layer(part: str) -> str:
    return "model.layers.{i}." + part


def weight(role: str, part: str, gguf: str, shape: tuple[str, ...], quant: str) -> TensorSpec:
    return TensorSpec(role, _layer(part), _layer(part), shape, quant, f"blk.{{i}}.{gguf}")


def vector(
    role: str, part: str, gguf: str, shape: tuple[str, ...], when: When = always
) -> TensorSpec:
    return TensorSpec(role, _layer(part), _layer(part), shape, None, f"blk.{{i}}.{gguf}", when=when)


def has_bias(d: ModelDims) -> bool:
    return d.qkv_bias


ATTENTION = (
    vector("attn_norm", "input_layernorm.weight", "attn_norm.weight", ("hidden",)),
    weight("attn_q", "self_attn.q_proj.weight", "attn_q.weight", ("q_dim", "hidden"), "attn_q"),
    vector("attn_q.bias", "self_attn.q_proj.bias", "attn_q.bias", ("q_dim",), has_bias),
    weight("attn_k", "self_attn.k_proj.weight", "attn_k.weight", ("kv_dim", "hidden"), "attn_k"),
    vector("attn_k.bias", "self_attn.k_proj.bias", "attn_k.bias", ("kv_dim",), has_bias),
    weight("attn_v", "self_attn.v_proj.weight", "attn_v.weight", ("kv_dim", "hidden"), "attn_v"),
    vector("attn_v.bias", "self_attn.v_proj.bias", "attn_v.bias", ("kv_dim",), has_bias),
    weight("attn_o", "self_attn.o_proj.weight", "attn_output.weight", ("hidden", "q_dim"),
           "attn_o"),
)  # fmt: skip
MLP = (
    vector("ffn_norm", "post_attention_layernorm.weight", "ffn_norm.weight", ("hidden",)),
    weight("ffn_gate", "mlp.gate_proj.weight", "ffn_gate.weight", ("inter", "hidden"), "mlp_gate"),
    weight("ffn_up", "mlp.up_proj.weight", "ffn_up.weight", ("inter", "hidden"), "mlp_up"),
    weight("ffn_down", "mlp.down_proj.weight", "ffn_down.weight", ("hidden", "inter"), "mlp_down"),
)  # fmt: skip


def untied(d: ModelDims) -> bool:
    return not d.tied


def tied(d: ModelDims) -> bool:
    return d.tied


MODEL = (
    TensorSpec("token_embd", "model.embed_tokens.weight", "model.embed_tokens.weight",
               ("vocab", "hidden"), "embedding", "token_embd.weight", when=untied),
    TensorSpec("output_norm", "model.norm.weight", "model.norm.weight", ("hidden",),
               None, "output_norm.weight"),
    TensorSpec("output", "lm_head.weight", "lm_head.weight", ("vocab", "hidden"),
               "head", "output.weight", when=untied),
    # a tied head is the embedding table: quantized once, as the head, and shared
    TensorSpec("output", "lm_head.weight", "model.embed_tokens.weight",
               ("vocab", "hidden"), "head", "token_embd.weight", when=tied),
)  # fmt: skip

QWEN2 = FamilySpec(
    name="qwen2",
    model_types=("qwen2",),
    dims=dims_of,
    layer_tensors=ATTENTION + MLP,
    model_tensors=MODEL,
)
