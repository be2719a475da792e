"""Tiny Qwen3 chat models for tests: random, or scripted to write one fixed reply.

Both have Qwen3's shape at a small size (q/k RMSNorm per head, no q/k/v bias, an explicit
``head_dim`` so heads x head_dim != hidden), the ``<think>``/``</think>`` tokens and Qwen3's
own chat template (``enable_thinking``, thinking of past turns left out).

The scripted model writes ``SCRIPT`` whatever it is asked: every token of the script is a
distinct input, and the output head maps each one's embedding onto the next one, by a wide
margin; the layers' own weights are small and random, so every layer still runs (quantized,
through our decoder). With thinking off, Qwen3's template ends the prompt with an empty
``<think>\\n\\n</think>\\n\\n``; the script's ``\\n\\n`` comes after its ``</think>`` too, so the
model then writes only the answer, as a real Qwen3 does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .script import teach_chain
from .tiny import CORPUS, build_tokenizer

# Qwen/Qwen3-*'s tokenizer_config.json chat template (April 2025), verbatim.
QWEN3_CHAT_TEMPLATE = (Path(__file__).parent / "qwen3_chat_template.jinja").read_text("utf-8")

# Qwen3 Thinking-2507's template opens the block itself: its generation prompt ends in <think>.
THINKING_ONLY_TEMPLATE = QWEN3_CHAT_TEMPLATE.replace(
    "{{- '<|im_start|>assistant\\n' }}\n    {%- if enable_thinking is defined and "
    "enable_thinking is false %}\n        {{- '<think>\\n\\n</think>\\n\\n' }}\n    {%- endif %}",
    "{{- '<|im_start|>assistant\\n<think>' }}",
)
assert THINKING_ONLY_TEMPLATE != QWEN3_CHAT_TEMPLATE

THINKING, ANSWER = "I add them.", "It is 4!"
SCRIPT = f"<think>{THINKING}</think>\n\n{ANSWER}"  # then <|im_end|>
THINK_TOKENS = ["<think>", "</think>"]


def qwen3_tokenizer(template: str = QWEN3_CHAT_TEMPLATE) -> Any:
    tokenizer = build_tokenizer(corpus=[*CORPUS, SCRIPT, "\n\n" + ANSWER])
    tokenizer.add_tokens(THINK_TOKENS)  # added, not special: as in Qwen3's tokenizer
    tokenizer.chat_template = template
    return tokenizer


def tiny_qwen3_config(vocab_size: int, **overrides: Any) -> Any:
    from ..engine.models.qwen3 import Qwen3Config

    values: dict[str, Any] = dict(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,  # heads x head_dim = 128, twice the hidden size
        max_position_embeddings=4096,
        max_window_layers=2,
        tie_word_embeddings=True,  # as Qwen3-0.6B, 1.7B and 4B
        rms_norm_eps=1e-6,
        rope_theta=1000000.0,
        torch_dtype="float32",
    )
    values.update(overrides)
    return Qwen3Config(**values)


def build_tiny_qwen3(
    path: Path,
    seed: int = 0,
    *,
    scripted: bool = False,
    template: str = QWEN3_CHAT_TEMPLATE,
    **config_overrides: Any,
) -> Path:
    """Write a Hugging Face folder of a tiny Qwen3; ``scripted`` makes it write ``SCRIPT``."""
    import torch

    from ..engine.models import register
    from ..engine.models.qwen3 import Qwen3ForCausalLM

    register()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = qwen3_tokenizer(template)
    if scripted:
        config_overrides.setdefault("tie_word_embeddings", False)
    config = tiny_qwen3_config(len(tokenizer), **config_overrides)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_end|>")}
    config.bos_token_id, config.eos_token_id = ids["<|endoftext|>"], ids["<|im_end|>"]
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.normal_(1.0, 0.1)  # norms near one, as trained models have them
            else:
                p.normal_(0.0, 0.02 if scripted else 0.15)
        if scripted:
            _script(model, tokenizer)
        else:  # as the tiny Qwen2: no ChatML marker wins, so replies run until stopped
            for token in ("<|endoftext|>", "<|im_start|>", "<|im_end|>"):
                model.get_output_embeddings().weight[tokenizer.convert_tokens_to_ids(token)] = 0
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    save_thinking_defaults(path, ids, config.bos_token_id)
    (path / "README.md").write_text(f"tiny {'scripted' if scripted else 'random'} qwen3\n")
    return path


def save_thinking_defaults(path: Path, ids: dict[str, int], bos: int) -> None:
    """generation_config.json with Qwen3's own sampling defaults (thinking mode), which
    Qwen3.5 keeps: a reply ends on <|im_end|> or <|endoftext|>."""
    from transformers import GenerationConfig

    GenerationConfig(
        bos_token_id=bos,
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=True,
        temperature=0.6,
        top_p=0.95,
        top_k=20,
        max_new_tokens=32,
    ).save_pretrained(path)


def _script(model: Any, tokenizer: Any) -> None:
    """The reply's tokens after the prompt's last one, then <|im_end|> (testing/script.py)."""
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=True)
    opened = tokenizer.convert_tokens_to_ids("<think>") == prompt[-1]  # a Thinking-2507 template
    script = tokenizer.encode(SCRIPT, add_special_tokens=False)
    chain = [prompt[-1], *(script[1:] if opened else script)]
    teach_chain(model, [*chain, tokenizer.convert_tokens_to_ids("<|im_end|>")])
