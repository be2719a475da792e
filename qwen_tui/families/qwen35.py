"""Qwen3.5 (dense: 0.8B, 2B, 4B, 9B, 27B, and Qwen3.6 at the same architecture): a hybrid of
Gated DeltaNet layers (``linear_attention``) and gated softmax attention (``full_attention``,
every 4th layer in the released models), read as transformers 5 reads it
(``models/qwen3_5``) and as llama.cpp's converter writes it (GGUF architecture ``qwen35``).

config.json: the released checkpoints are vision-language models (``model_type`` "qwen3_5",
``Qwen3_5ForConditionalGeneration``) whose language model's settings sit under ``text_config``
and whose tensors are ``model.language_model.*``, beside a vision tower (``model.visual.*``) and
multi-token-prediction layers (``mtp.*``), which we skip; ``tie_word_embeddings`` is the
top-level one there (transformers ties by the outer config). A text-only save
(``Qwen3_5ForCausalLM``: "qwen3_5_text", flat) names them ``model.*``. ``ModelDims.lm_prefix``
says which; the store names both as the text-only save does. The rotary settings come from
``rope_parameters`` (transformers 5) or ``rope_scaling`` and top-level ``rope_theta`` /
``partial_rotary_factor`` (older saves). What the layers compute is ``eval/float_deltanet.py``.

GGUF (llama.cpp's ``conversion/qwen.py``, ``Qwen3_5TextModel``): every RMSNorm but the gated
one is stored as ``1 + w``, ``A_log`` as ``-exp(A_log)`` (``ssm_a``), ``dt_bias`` as
``ssm_dt.bias``, the conv1d squeezed to [channels, kernel], and where value heads outnumber key
heads the value heads are reordered from grouped by key head to tiled (so ggml can repeat q/k
by broadcasting): each tensor's ``gguf_steps`` (``qwen35_gguf.py`` applies and undoes them).
``blk.N.post_attention_norm`` is the MLP's norm, and ``block_count`` counts the MTP layers too
(``nextn_predict_layers`` of them, after the others).
"""

from __future__ import annotations

from .qwen2 import tied, untied
from .spec import FULL, LINEAR, MTP_LAYERS, VISION_TOWER, FamilySpec, ModelDims, TensorSpec

MOE_TYPES = ("qwen3_5_moe", "qwen3_5_moe_text")
VISION_TYPES = ("qwen3_5_vision",)
SKIPPED = (("model.visual.", VISION_TOWER), ("mtp.", MTP_LAYERS), ("model.mtp.", MTP_LAYERS))
REQUIRED = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "vocab_size")  # fmt: skip
PLUS_ONE = ("plus_one",)  # zero-centred RMSNorm weights: GGUF holds 1 + w


def text_config(config: dict) -> dict:
    """The language model's settings: a multimodal checkpoint's ``text_config``, or the
    config itself (a text-only save)."""
    nested = config.get("text_config")
    return nested if isinstance(nested, dict) else config


def rope_settings(text: dict) -> tuple[str, float, float]:
    """(rope_type, rope_theta, partial_rotary_factor) as transformers 5 reads them: from
    ``rope_parameters``, else ``rope_scaling`` and the top-level fields older saves wrote."""
    params = text.get("rope_parameters") or text.get("rope_scaling") or {}
    kind = str(params.get("rope_type", params.get("type", "default")))
    theta = float(params.get("rope_theta", text.get("rope_theta", 10000.0)))
    partial = float(params.get("partial_rotary_factor", text.get("partial_rotary_factor", 0.25)))
    return kind, theta, partial


def layer_types_of(text: dict) -> tuple[str, ...]:
    """``layer_types``, or transformers' default: every ``full_attention_interval``-th layer
    (4th) full attention, the rest linear."""
    layers = int(text["num_hidden_layers"])
    listed = text.get("layer_types")
    if listed is not None:
        return tuple(str(kind) for kind in listed)
    every = int(text.get("full_attention_interval", 4))
    return tuple(FULL if (i + 1) % every == 0 else LINEAR for i in range(layers))


def _dims(config: dict) -> ModelDims:
    text = text_config(config)
    nested = text is not config
    hidden = int(text["hidden_size"])
    heads = int(text["num_attention_heads"])
    head_dim = int(text.get("head_dim") or hidden // heads)
    _, theta, partial = rope_settings(text)
    return ModelDims(
        family="qwen35",
        hidden=hidden,
        layers=int(text["num_hidden_layers"]),
        heads=heads,
        kv_heads=int(text.get("num_key_value_heads") or heads),
        head_dim=head_dim,
        inter=int(text["intermediate_size"]),
        vocab=int(text["vocab_size"]),
        # transformers ties by the outer config of a multimodal checkpoint (default false)
        tied=bool((config if nested else text).get("tie_word_embeddings", False)),
        qkv_bias=False,
        qk_norm=True,
        eps=float(text.get("rms_norm_eps", 1e-6)),
        rope_base=theta,
        positions=int(text.get("max_position_embeddings", 262144)),
        layer_types=layer_types_of(text),
        rotary_dim=int(head_dim * partial),
        attn_gate=True,
        norm_offset=1.0,
        linear_k_heads=int(text.get("linear_num_key_heads", 16)),
        linear_v_heads=int(text.get("linear_num_value_heads", 32)),
        linear_k_dim=int(text.get("linear_key_head_dim", 128)),
        linear_v_dim=int(text.get("linear_value_head_dim", 128)),
        conv_kernel=int(text.get("linear_conv_kernel_dim", 4)),
        lm_prefix="model.language_model." if nested else "model.",
    )


def _refuse(config: dict) -> str | None:
    model_type = str(config.get("model_type", ""))
    if model_type in MOE_TYPES:
        return (
            f"it is a Mixture-of-Experts Qwen3.5 ({model_type}); qwen-tui runs the dense "
            "Qwen3.5 models (0.8B, 2B, 4B, 9B, 27B)"
        )
    if model_type in VISION_TYPES:
        return "it is Qwen3.5's vision encoder alone, with no language model"
    if model_type == "qwen3_5" and not isinstance(config.get("text_config"), dict):
        return "its config.json has no text_config, so it holds no Qwen3.5 language model"
    text = text_config(config)
    missing = [key for key in REQUIRED if key not in text]
    if missing:
        return f"its config.json has no {missing[0]}"
    try:
        return _text_problem(text)
    except (TypeError, ValueError, ZeroDivisionError):
        return "its config.json's sizes are not numbers of a Qwen3.5 language model"


def _text_problem(text: dict) -> str | None:
    kind, _, partial = rope_settings(text)
    if kind not in ("default", "mrope"):  # mrope: older saves' name for the same rotary
        return f"it scales its rotary embedding ({kind})"
    if text.get("attention_bias"):
        return "its attention has biases (attention_bias)"
    if str(text.get("hidden_act", "silu")) != "silu":
        return f"its activation is {text.get('hidden_act')}, not silu"
    types = layer_types_of(text)
    if len(types) != int(text["num_hidden_layers"]) or set(types) - {FULL, LINEAR}:
        return "its layer_types do not name full_attention or linear_attention for each layer"
    if int(text.get("linear_num_value_heads", 32)) % int(text.get("linear_num_key_heads", 16)):
        return "its linear_num_value_heads is not a multiple of its linear_num_key_heads"
    heads = int(text["num_attention_heads"])
    head_dim = int(text.get("head_dim") or int(text["hidden_size"]) // heads)
    if int(head_dim * partial) % 2:
        return "its rotary width (head_dim x partial_rotary_factor) is odd"
    return None


def _layer(part: str) -> tuple[str, str]:
    """(store, source) names of a layer's tensor."""
    return "model.layers.{i}." + part, "{lm}layers.{i}." + part


def _weight(role: str, part: str, gguf: str, shape: tuple[str | int, ...], quant: str | None,
            kind: str | None = None, steps: tuple[str, ...] = ()) -> TensorSpec:  # fmt: skip
    store, source = _layer(part)
    return TensorSpec(role, store, source, shape, quant, f"blk.{{i}}.{gguf}", kind=kind,
                      gguf_steps=steps)  # fmt: skip


def _full(role: str, part: str, gguf: str, shape: tuple[str, ...], quant: str | None,
          steps: tuple[str, ...] = ()) -> TensorSpec:  # fmt: skip
    return _weight(role, "self_attn." + part, gguf, shape, quant, FULL, steps)


def _linear(role: str, part: str, gguf: str, shape: tuple[str | int, ...], quant: str | None,
            steps: tuple[str, ...]) -> TensorSpec:  # fmt: skip
    return _weight(role, "linear_attn." + part, gguf, shape, quant, LINEAR, steps)


NORMS = (
    _weight("attn_norm", "input_layernorm.weight", "attn_norm.weight", ("hidden",), None,
            steps=PLUS_ONE),
    _weight("ffn_norm", "post_attention_layernorm.weight", "post_attention_norm.weight",
            ("hidden",), None, steps=PLUS_ONE),
)  # fmt: skip
# gated softmax attention: q_proj's rows are, per head, head_dim queries then head_dim gates
FULL_ATTENTION = (
    _full("attn_q", "q_proj.weight", "attn_q.weight", ("q_proj_dim", "hidden"), "attn_q"),
    _full("attn_k", "k_proj.weight", "attn_k.weight", ("kv_dim", "hidden"), "attn_k"),
    _full("attn_v", "v_proj.weight", "attn_v.weight", ("kv_dim", "hidden"), "attn_v"),
    _full("attn_o", "o_proj.weight", "attn_output.weight", ("hidden", "q_dim"), "attn_o"),
    _full("attn_q_norm", "q_norm.weight", "attn_q_norm.weight", ("head_dim",), None, PLUS_ONE),
    _full("attn_k_norm", "k_norm.weight", "attn_k_norm.weight", ("head_dim",), None, PLUS_ONE),
)
# Gated DeltaNet: in_proj_qkv's rows (and the conv's channels) are q (key heads), k (key
# heads), v (value heads); a, b, A_log and dt_bias have one value per value head
LINEAR_ATTENTION = (
    _linear("attn_qkv", "in_proj_qkv.weight", "attn_qkv.weight", ("linear_conv_dim", "hidden"),
            "attn_qkv", ("v_tiled_qkv",)),
    _linear("attn_gate", "in_proj_z.weight", "attn_gate.weight", ("linear_value_dim", "hidden"),
            "attn_gate", ("v_tiled_rows",)),
    _linear("ssm_beta", "in_proj_b.weight", "ssm_beta.weight", ("linear_v_heads", "hidden"),
            None, ("v_tiled_heads",)),
    _linear("ssm_alpha", "in_proj_a.weight", "ssm_alpha.weight", ("linear_v_heads", "hidden"),
            None, ("v_tiled_heads",)),
    _linear("ssm_conv1d", "conv1d.weight", "ssm_conv1d.weight",
            ("linear_conv_dim", 1, "conv_kernel"), None, ("squeeze", "v_tiled_qkv")),
    _linear("ssm_a", "A_log", "ssm_a", ("linear_v_heads",), None, ("v_tiled_heads", "neg_exp")),
    _linear("ssm_dt", "dt_bias", "ssm_dt.bias", ("linear_v_heads",), None, ("v_tiled_heads",)),
    # the gated RMSNorm is plain x * w (not zero-centred), one weight shared by every head
    _linear("ssm_norm", "norm.weight", "ssm_norm.weight", ("linear_v_dim",), None, ()),
    _linear("ssm_out", "out_proj.weight", "ssm_out.weight", ("hidden", "linear_value_dim"),
            "ssm_out", ("v_tiled_cols",)),
)  # fmt: skip
MLP = (
    _weight("ffn_gate", "mlp.gate_proj.weight", "ffn_gate.weight", ("inter", "hidden"),
            "mlp_gate"),
    _weight("ffn_up", "mlp.up_proj.weight", "ffn_up.weight", ("inter", "hidden"), "mlp_up"),
    _weight("ffn_down", "mlp.down_proj.weight", "ffn_down.weight", ("hidden", "inter"),
            "mlp_down"),
)  # fmt: skip
MODEL = (
    TensorSpec("token_embd", "model.embed_tokens.weight", "{lm}embed_tokens.weight",
               ("vocab", "hidden"), "embedding", "token_embd.weight", when=untied),
    TensorSpec("output_norm", "model.norm.weight", "{lm}norm.weight", ("hidden",), None,
               "output_norm.weight", gguf_steps=PLUS_ONE),
    TensorSpec("output", "lm_head.weight", "lm_head.weight", ("vocab", "hidden"), "head",
               "output.weight", when=untied),
    # a tied head is the embedding table: quantized once, as the head, and shared
    TensorSpec("output", "lm_head.weight", "{lm}embed_tokens.weight", ("vocab", "hidden"),
               "head", "token_embd.weight", when=tied),
)  # fmt: skip

QWEN35 = FamilySpec(
    name="qwen35",
    model_types=("qwen3_5", "qwen3_5_text", *MOE_TYPES, *VISION_TYPES),
    dims=_dims,
    layer_tensors=NORMS + FULL_ATTENTION + LINEAR_ATTENTION + MLP,
    model_tensors=MODEL,
    refuse=_refuse,
    skipped=SKIPPED,
    bigdl=False,  # only our own engine runs it (engine/native/hybrid.py)
    title="Qwen3.5",
)
