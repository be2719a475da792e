"""A model's last layer computes only the position that is sampled.

Every layer but the last must produce all of a prompt's positions (the next
layer's keys and values need them), but after the last one only the final
position reaches the language-model head. This layer still adds every
position's key and value to the cache; its attention output, residual, norm
and MLP then run on the last position alone: for a 500-token prompt about 3 %
of the model's multiply-adds. Its result is the same row the full layer
computes (every kernel computes a row the same way alone or in a batch).

Qwen2 (``Qwen2DecoderLayer``) returns that one position. Qwen-1's model views
its blocks' output as [batch, positions, hidden], so its last ``QWenBlock``
returns the row expanded to every position (only the last is ever sampled).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

from . import forwards


def _last(model: Any) -> Any:
    body = getattr(model, "model", None) or getattr(model, "transformer", None)
    layers = getattr(body, "layers", None) or getattr(body, "h", None)
    return layers[-1] if layers else None


@contextlib.contextmanager
def every_position(model: Any) -> Iterator[None]:
    """The whole last layer for a while (every position's logits: perplexity)."""
    last = _last(model)
    if last is None or not forwards.is_ours(last):
        yield
        return
    ours = last.forward
    last.forward = last.qwen_tui_forward
    try:
        yield
    finally:
        last.forward = ours


def install(model: Any) -> int:
    """Make the last decoder layer (Qwen2) or block (Qwen-1) compute its last position only."""
    last = _last(model)
    if last is None:
        return 0
    forwards_by_class: dict[str, Callable[..., tuple[Any, ...]]] = {
        "Qwen2DecoderLayer": _forward,
        "QWenBlock": _qwen1_forward,
    }
    forward = forwards_by_class.get(type(last).__name__)
    if forward is None:
        return 0
    chosen = functools.partial(forward, last)
    return forwards.replace(model, lambda module: chosen if module is last else None)


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


def _qwen1_forward(
    block: Any,
    hidden_states: Any,
    rotary_pos_emb_list: Any = None,
    layer_past: Any = None,
    attention_mask: Any = None,
    head_mask: Any = None,
    encoder_hidden_states: Any = None,
    encoder_attention_mask: Any = None,
    use_cache: bool = False,
    output_attentions: bool = False,
) -> tuple[Any, ...]:
    """The remote code's QWenBlock.forward, from the last position on."""
    if not forwards.is_ours(block.attn) or output_attentions:  # bigdl-llm's: the whole block
        return block.qwen_tui_forward(
            hidden_states,
            rotary_pos_emb_list,
            layer_past,
            attention_mask,
            head_mask,
            encoder_hidden_states,
            encoder_attention_mask,
            use_cache,
            output_attentions,
        )
    hidden, *rest = block.attn(
        block.ln_1(hidden_states),
        rotary_pos_emb_list,
        layer_past=layer_past,
        attention_mask=attention_mask,
        head_mask=head_mask,
        use_cache=use_cache,
        output_attentions=output_attentions,
        qwen_tui_last_only=True,  # to qwen1_attention._forward
    )
    hidden = hidden_states[:, -1:] + hidden  # every row if the attention fell back to bigdl's
    hidden = hidden + block.mlp(block.ln_2(hidden))
    hidden = hidden.expand(hidden_states.shape)  # the model views the output at full length
    return (hidden, *rest) if use_cache else (hidden, *rest[1:])
