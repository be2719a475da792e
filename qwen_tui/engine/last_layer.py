"""A Qwen2 model's last layer computes only the position that is sampled.

Every layer but the last must produce all of a prompt's positions (the next
layer's keys and values need them), but after the last one only the final
position reaches the language-model head. This layer still adds every
position's key and value to the cache; its attention output, residual, norm
and MLP then run on the last position alone: for a 500-token prompt about 3 %
of the model's multiply-adds. Its result is the same row the full layer
computes (every kernel computes a row the same way alone or in a batch).
"""

from __future__ import annotations

import functools
from typing import Any

from . import forwards


def install(model: Any) -> bool:
    """Make the last ``Qwen2DecoderLayer`` return its last position only."""
    layers = getattr(getattr(model, "model", None), "layers", None)
    if not layers or type(layers[-1]).__name__ != "Qwen2DecoderLayer":
        return False
    last = layers[-1]
    chosen = functools.partial(_forward, last)
    return forwards.replace(model, lambda module: chosen if module is last else None) == 1


def _forward(
    layer: Any,
    hidden_states: Any,
    attention_mask: Any = None,
    position_ids: Any = None,
    past_key_value: Any = None,
    output_attentions: bool = False,
    use_cache: bool = False,
    **kwargs: Any,
) -> tuple[Any, ...]:
    """transformers 4.37's Qwen2DecoderLayer.forward, from the last position on."""
    residual = hidden_states[:, -1:]
    hidden, weights, present = layer.self_attn(
        hidden_states=layer.input_layernorm(hidden_states),
        attention_mask=attention_mask,
        position_ids=position_ids,
        past_key_value=past_key_value,
        output_attentions=output_attentions,
        use_cache=use_cache,
        qwen_tui_last_only=True,  # through bigdl-llm's forward to qwen2_attention._cpu_forward
    )
    hidden = residual + hidden
    hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
    return (hidden,) + ((weights,) if output_attentions else ()) + ((present,) if use_cache else ())
