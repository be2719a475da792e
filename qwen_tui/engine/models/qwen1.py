"""Qwen-1 (``model_type`` "qwen": Qwen-1_8B-Chat, Qwen-7B-Chat ...) in qwen-tui's own code.

Qwen-1's repos ship their architecture as Python files that transformers runs with
``trust_remote_code``. Nothing of a repo's code runs here: this module is the same architecture,
registered with transformers' Auto classes for ``model_type`` "qwen" (``models.register``), and
the tokenizer is ours too (``qwen1_tokenizer.py``).

The architecture, with the names the checkpoints use::

    transformer.wte                      token embedding
    transformer.h[i].ln_1                RMSNorm
    transformer.h[i].attn.c_attn         q, k and v in one projection, with bias
    transformer.h[i].attn.c_proj         output projection (no bias)
    transformer.h[i].ln_2                RMSNorm
    transformer.h[i].mlp.w1, .w2         c_proj(w1(x) * silu(w2(x))), intermediate_size // 2 each
    transformer.h[i].mlp.c_proj
    transformer.ln_f, lm_head

Rotary embeddings over the whole head (``rotary_pct`` 1.0), base ``rotary_emb_base``, with
Qwen-1's dynamic NTK scaling and logn attention scaling past ``seq_length`` (both inactive within
the chat window of every released config). Float32 on the CPU; flash attention, bf16/fp16 and
the quantized KV cache of the original code are CUDA features and are not implemented.

bigdl-llm's Qwen-1 conversion finds ``QWenAttention``, ``RMSNorm``, ``QWenMLP`` and
``QWenModel`` in the model class's module and splits ``c_attn`` into q/k/v, so the class and
attribute names here are the ones it reads. Checked against the original code's logits on a
tiny model (tests/core/test_qwen1_own_code.py).
"""

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from ...families.qwen1 import unsupported

# bigdl-llm finds these in this module (the model class's): they must be names here
from .qwen1_layers import Past, QWenAttention, QWenBlock, QWenMLP, RMSNorm, RotaryEmbedding

__all__ = ["QWenAttention", "QWenConfig", "QWenLMHeadModel", "QWenMLP", "QWenModel", "RMSNorm"]


class QWenConfig(PretrainedConfig):
    model_type = "qwen"
    keys_to_ignore_at_inference = ["past_key_values"]

    def __init__(
        self,
        vocab_size: int = 151936,
        hidden_size: int = 4096,
        num_hidden_layers: int = 32,
        num_attention_heads: int = 32,
        emb_dropout_prob: float = 0.0,
        attn_dropout_prob: float = 0.0,
        layer_norm_epsilon: float = 1e-6,
        initializer_range: float = 0.02,
        max_position_embeddings: int = 8192,
        scale_attn_weights: bool = True,
        use_cache: bool = True,
        bf16: bool = False,
        fp16: bool = False,
        fp32: bool = False,
        kv_channels: int = 128,
        rotary_pct: float = 1.0,
        rotary_emb_base: float = 10000,
        use_dynamic_ntk: bool = True,
        use_logn_attn: bool = True,
        use_flash_attn: Any = "auto",
        intermediate_size: int = 22016,
        no_bias: bool = True,
        tie_word_embeddings: bool = False,
        use_cache_quantization: bool = False,
        use_cache_kernel: bool = False,
        softmax_in_fp32: bool = False,
        seq_length: int = 8192,
        **kwargs: Any,
    ) -> None:
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.emb_dropout_prob = emb_dropout_prob
        self.attn_dropout_prob = attn_dropout_prob
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.scale_attn_weights = scale_attn_weights
        self.use_cache = use_cache
        self.max_position_embeddings = max_position_embeddings
        self.bf16, self.fp16, self.fp32 = bf16, fp16, fp32
        self.kv_channels = kv_channels
        self.rotary_pct = rotary_pct
        self.rotary_emb_base = rotary_emb_base
        self.use_dynamic_ntk = use_dynamic_ntk
        self.use_logn_attn = use_logn_attn
        self.use_flash_attn = use_flash_attn
        self.no_bias = no_bias
        self.use_cache_quantization = use_cache_quantization
        self.use_cache_kernel = use_cache_kernel
        self.softmax_in_fp32 = softmax_in_fp32
        self.seq_length = seq_length
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)


class QWenPreTrainedModel(PreTrainedModel):
    config_class = QWenConfig
    base_model_prefix = "transformer"
    is_parallelizable = False
    supports_gradient_checkpointing = False
    _no_split_modules = ["QWenBlock"]
    _skip_keys_device_placement = "past_key_values"
    _keys_to_ignore_on_load_unexpected = [r"h\.\d+\.attn\.masked_bias", r"rotary_emb\.inv_freq"]

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear | nn.Embedding):
            module.weight.data.normal_(mean=0.0, std=std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()
        elif isinstance(module, RMSNorm):
            module.weight.data.fill_(1.0)


class QWenModel(QWenPreTrainedModel):
    def __init__(self, config: QWenConfig) -> None:
        super().__init__(config)
        reason = unsupported(config.to_dict())
        if reason:
            raise ValueError(f"This Qwen-1 model cannot run here: {reason}")
        self.vocab_size = config.vocab_size
        self.num_hidden_layers = config.num_hidden_layers
        self.embed_dim = config.hidden_size
        self.use_cache_quantization = False
        self.gradient_checkpointing = False
        self.use_dynamic_ntk = config.use_dynamic_ntk
        self.seq_length = config.seq_length
        self.wte: nn.Module = nn.Embedding(config.vocab_size, config.hidden_size)
        self.drop = nn.Dropout(config.emb_dropout_prob)
        self.rotary_ndims = None
        self.rotary_emb = RotaryEmbedding(config.kv_channels, base=config.rotary_emb_base)
        self.use_flash_attn = False
        self.is_fp32 = True
        self.h = nn.ModuleList(QWenBlock(config) for _ in range(config.num_hidden_layers))
        self.ln_f = RMSNorm(config.hidden_size, eps=config.layer_norm_epsilon)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.wte

    def set_input_embeddings(self, new_embeddings: nn.Module) -> None:
        self.wte = new_embeddings

    def get_ntk_alpha(self, true_seq_len: int) -> float:
        """Dynamic NTK: 1 up to seq_length, then 2^ceil(log2(len / seq_length) + 1) − 1."""
        context = math.log(true_seq_len / self.seq_length, 2) + 1
        return max(2 ** math.ceil(context) - 1, 1)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        past_key_values: tuple[Past, ...] | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: Any = None,
        position_ids: Any = None,
        head_mask: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        encoder_hidden_states: Any = None,
        encoder_attention_mask: Any = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> Any:
        use_cache = self.config.use_cache if use_cache is None else use_cache
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        if inputs_embeds is None:
            if input_ids is None:
                raise ValueError("Pass input_ids or inputs_embeds")
            inputs_embeds = self.wte(input_ids)
        hidden = self.drop(inputs_embeds)
        batch, new = hidden.shape[:2]
        pasts: tuple[Past | None, ...] = past_key_values or (None,) * len(self.h)
        past_len = pasts[0][0].size(1) if pasts[0] is not None else 0
        total = past_len + new

        if attention_mask is not None:  # [batch, total] of 1/0 -> additive [batch, 1, 1, total]
            keep = attention_mask.view(batch, -1)[:, None, None, :].to(hidden.dtype)
            attention_mask = (1.0 - keep) * torch.finfo(hidden.dtype).min
        if self.training or not self.use_dynamic_ntk:
            alphas = [1.0]
        elif past_len:  # a decode step keeps the scaling its prompt chose
            alphas = self.rotary_emb._ntk_alpha_cached_list
        elif attention_mask is not None and total > self.seq_length:
            lengths = attention_mask.squeeze(1).squeeze(1).eq(0).sum(dim=-1)
            alphas = [self.get_ntk_alpha(int(n)) for n in lengths]
        else:
            alphas = [self.get_ntk_alpha(total)]
        self.rotary_emb._ntk_alpha_cached_list = alphas
        tables = [self.rotary_emb(total, ntk_alpha=alpha) for alpha in alphas]

        presents: tuple[Past, ...] = ()
        all_hidden: tuple[torch.Tensor, ...] = ()
        for block, past in zip(self.h, pasts, strict=True):
            if output_hidden_states:
                all_hidden += (hidden,)
            out = block(
                hidden,
                rotary_pos_emb_list=tables,
                layer_past=past,
                attention_mask=attention_mask,
                use_cache=use_cache,
            )
            hidden = out[0]
            if use_cache:
                presents += (out[1],)
        hidden = self.ln_f(hidden)
        if output_hidden_states:
            all_hidden += (hidden,)
        result = BaseModelOutputWithPast(
            last_hidden_state=hidden,
            past_key_values=presents if use_cache else None,
            hidden_states=all_hidden or None,
        )
        return result if return_dict else result.to_tuple()


class QWenLMHeadModel(QWenPreTrainedModel):
    _keys_to_ignore_on_load_missing = [r"h\.\d+\.attn\.rotary_emb\.inv_freq"]

    def __init__(self, config: QWenConfig) -> None:
        super().__init__(config)
        config.use_flash_attn = False
        self.transformer = QWenModel(config)
        self.lm_head: nn.Module = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def set_output_embeddings(self, new_embeddings: nn.Module) -> None:
        self.lm_head = new_embeddings

    def prepare_inputs_for_generation(
        self,
        input_ids: torch.Tensor,
        past_key_values: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        if past_key_values:
            input_ids = input_ids[:, -1:]
        inputs: dict[str, Any] = (
            {"inputs_embeds": inputs_embeds}
            if inputs_embeds is not None and past_key_values is None
            else {"input_ids": input_ids}
        )
        inputs.update(
            past_key_values=past_key_values,
            use_cache=kwargs.get("use_cache"),
            attention_mask=None if input_ids.size(0) == 1 else kwargs.get("attention_mask"),
        )
        return inputs

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        past_key_values: Any = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: Any = None,
        position_ids: Any = None,
        head_mask: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        encoder_hidden_states: Any = None,
        encoder_attention_mask: Any = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> Any:
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        body = self.transformer(
            input_ids,
            past_key_values=past_key_values,
            attention_mask=attention_mask,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.lm_head(body.last_hidden_state)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits[..., :-1, :].reshape(-1, logits.size(-1)), labels[..., 1:].reshape(-1)
            )
        result = CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            past_key_values=body.past_key_values,
            hidden_states=body.hidden_states,
        )
        return result if return_dict else result.to_tuple()
