"""Build tiny Qwen2-architecture chat models at run time.

Random weights, a byte-level BPE tokenizer trained in code on a few sentences
(English, Chinese, emoji) with the ChatML special tokens and Qwen2's chat
template. Small enough for tests, real enough to drive bigdl-llm's quantize,
save_low_bit, load_low_bit and generate paths. ``synthetic_config`` gives the
real dimensions of a catalog model for benchmarks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .script import teach_chain

QWEN2_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CORPUS = [
    "Hello! How can I help you today?",
    "The quick brown fox jumps over the lazy dog.",
    "def add(a, b):\n    return a + b\n",
    "```python\nprint('hello world')\n```",
    "你好，我是一个有用的助手。我住在北京市。",
    "今天天气很好，我们去公园散步吧。",
    "Emoji test: 😀 🚀 🎉 👍 ❤️",
    "system user assistant You are a helpful assistant.",
]


def build_tokenizer(
    vocab_size: int = 512, corpus: list[str] | None = None, split: str | None = None
) -> Any:
    """A fast byte-level BPE tokenizer with ChatML specials, wrapped for transformers; its
    pre-tokenizer splits by ``split`` (Qwen2's pattern by default)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from ..store.gguf_import.tokenizer import QWEN2_SPLIT

    tok = Tokenizer(models.BPE())
    # Qwen2's own pipeline: NFC, its split pattern, then byte-level
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(split or QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator((corpus or CORPUS) * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        model_max_length=32768,
    )
    fast.chat_template = QWEN2_CHAT_TEMPLATE
    return fast


def tiny_qwen2_config(vocab_size: int, **overrides: Any) -> Any:
    from transformers import Qwen2Config

    values = dict(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        max_window_layers=2,
        tie_word_embeddings=False,
        rms_norm_eps=1e-6,
        rope_theta=1000000.0,
        torch_dtype="float32",
    )
    values.update(overrides)
    return Qwen2Config(**values)


SCRIPTED_REPLY = "Paris is the capital."  # what the scripted model answers, then <|im_end|>


def build_tiny_qwen2(
    path: Path, seed: int = 0, *, scripted: bool = False, **config_overrides: Any
) -> Path:
    """Write a complete Hugging Face folder (config, weights, tokenizer, generation config).
    Random weights never end a reply (the ChatML markers' logits are zero); ``scripted``
    makes the model answer ``SCRIPTED_REPLY`` to anything and end it with <|im_end|>."""
    import torch
    from transformers import GenerationConfig, Qwen2ForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(corpus=[*CORPUS, SCRIPTED_REPLY] if scripted else None)
    config = tiny_qwen2_config(len(tokenizer), **config_overrides)
    config.bos_token_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    # Larger random weights than the default init make greedy outputs vary by position.
    with torch.no_grad():
        for p in model.parameters():
            if scripted:  # small: the taught chain must win through every layer
                p.normal_(1.0 if p.dim() == 1 else 0.0, 0.02)
            else:
                p.normal_(0.0, 0.5 if p.dim() > 1 else 0.1)
        # A random model would end its reply at random; zero logits for the ChatML markers
        # keep greedy replies going until max_new_tokens, so tests can stop them at will.
        for token in SPECIAL_TOKENS:
            model.lm_head.weight[tokenizer.convert_tokens_to_ids(token)].zero_()
    if scripted:
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}])
        reply = tokenizer.encode(SCRIPTED_REPLY, add_special_tokens=False)
        teach_chain(model, [prompt[-1], *reply, tokenizer.convert_tokens_to_ids("<|im_end|>")])
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    gen = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=[
            tokenizer.convert_tokens_to_ids("<|im_end|>"),
            tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        ],
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        do_sample=True,
        temperature=0.7,
        top_p=0.8,
        top_k=20,
        repetition_penalty=1.05,
        max_new_tokens=32,
    )
    gen.save_pretrained(path)
    (path / "README.md").write_text(f"tiny {'scripted' if scripted else 'random'} qwen2\n")
    return path
