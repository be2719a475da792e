"""Tokenizer folders that exercise what transformers 4.37.2 does on top of ``tokenizer.json``,
each made from the tiny Qwen2's tokenizer files by one edit (tests/core/test_chat_tokenizer.py
holds ``ChatTokenizer`` to ``AutoTokenizer`` on every one of them).

Every edit is one a real folder can carry, and one that changes ids, text or prompts:
``tokenizer_config.json`` flags that differ from ``tokenizer.json``'s, a vocabulary word named
as a special token, a folder saved before ``added_tokens_decoder`` existed (its special tokens
and added tokens in ``special_tokens_map.json`` and ``added_tokens.json``), Qwen2's class
defaults, a class known from ``config.json`` alone, and a template written with indented block
tags (which only ``trim_blocks`` and ``lstrip_blocks`` render as ChatML).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json")

# Block tags on their own, indented lines: Jinja's defaults would leave their spaces and
# newlines in the prompt. raise_exception is transformers' one template global.
HAND_WRITTEN_TEMPLATE = """\
{% for message in messages %}
    {% if message['role'] not in ['system', 'user', 'assistant'] %}
        {{ raise_exception('Unknown role: ' + message['role']) }}
    {% endif %}
    {% if loop.first and message['role'] != 'system' %}
<|im_start|>system
You are a helpful assistant.{{ eos_token }}
    {% endif %}
<|im_start|>{{ message['role'] }}
{{ message['content'] }}{{ eos_token }}
{% endfor %}
{% if add_generation_prompt %}
<|im_start|>assistant
{% endif %}
"""


def _copy(src: Path, dest: Path) -> tuple[dict, Path]:
    dest.mkdir(parents=True)
    for name in FILES:
        shutil.copy(src / name, dest / name)
    return json.loads((dest / "tokenizer_config.json").read_text("utf-8")), dest


def _save(dest: Path, name: str, data: dict) -> None:
    (dest / name).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def config_flags(src: Path, dest: Path) -> Path:
    """<|im_end|> strips the spaces around it and is no longer special (skip_special_tokens
    keeps it): tokenizer_config.json says so, tokenizer.json does not. As Qwen2Tokenizer, whose
    eos <|im_end|>, given as text, is that added token, not one of its class's own making."""
    config, dest = _copy(src, dest)
    for entry in config["added_tokens_decoder"].values():
        if entry["content"] == "<|im_end|>":
            entry.update(lstrip=True, rstrip=True, special=False)
    config["additional_special_tokens"] = ["<|im_start|>"]
    config |= {"tokenizer_class": "Qwen2Tokenizer", "unk_token": None}
    _save(dest, "tokenizer_config.json", config)
    return dest


def vocabulary_word_as_eos(src: Path, dest: Path) -> Path:
    """eos is "python", an ordinary vocabulary entry: transformers makes it a special added
    token, so text around it splits at it and skip_special_tokens drops it."""
    config, dest = _copy(src, dest)
    vocab = json.loads((dest / "tokenizer.json").read_text("utf-8"))["model"]["vocab"]
    assert "python" in vocab
    config["eos_token"] = "python"
    _save(dest, "tokenizer_config.json", config)
    return dest


def before_added_tokens_decoder(src: Path, dest: Path) -> Path:
    """A folder saved before transformers 4.34: no added_tokens_decoder, eos and a new special
    token only in special_tokens_map.json, and an added token only in added_tokens.json."""
    config, dest = _copy(src, dest)
    size = len(json.loads((dest / "tokenizer.json").read_text("utf-8"))["model"]["vocab"])
    for key in ("added_tokens_decoder", "eos_token", "additional_special_tokens"):
        config.pop(key)
    _save(dest, "tokenizer_config.json", config)
    tool = {"content": "<tool>", "lstrip": False, "rstrip": False, "normalized": False}
    tool["single_word"] = False
    eos = {**tool, "content": "<|im_end|>"}
    additional = ["<|im_start|>", "<|im_end|>", tool]
    _save(
        dest, "special_tokens_map.json", {"eos_token": eos, "additional_special_tokens": additional}
    )
    _save(dest, "added_tokens.json", {"<extra>": size})
    return dest


def qwen2_defaults(src: Path, dest: Path) -> Path:
    """Qwen2Tokenizer with no eos, pad, unk nor clean-up setting: its class's defaults
    (<|endoftext|> for all three, which the unknown-token id then is; clean-up on)."""
    config, dest = _copy(src, dest)
    for key in ("eos_token", "pad_token", "clean_up_tokenization_spaces"):
        config.pop(key)
    config["tokenizer_class"] = "Qwen2Tokenizer"
    _save(dest, "tokenizer_config.json", config)
    return dest


def class_from_model_type(src: Path, dest: Path) -> Path:
    """No tokenizer_class anywhere: config.json's model_type (qwen2) decides; clean-up off."""
    config, dest = _copy(src, dest)
    config.pop("tokenizer_class")
    config["clean_up_tokenization_spaces"] = False
    _save(dest, "tokenizer_config.json", config)
    return dest


def hand_written_template(src: Path, dest: Path) -> Path:
    config, dest = _copy(src, dest)
    config["chat_template"] = HAND_WRITTEN_TEMPLATE
    _save(dest, "tokenizer_config.json", config)
    return dest


def tokenizer_json_settings(src: Path, dest: Path) -> Path:
    """tokenizer.json pads and truncates to 4 tokens, which transformers' encode turns off, and
    puts <|endoftext|> first unless told not to add special tokens; with no pad token in
    tokenizer_config.json, its padding's is the pad token."""
    from tokenizers import Tokenizer, processors

    config, dest = _copy(src, dest)
    config.pop("pad_token")
    _save(dest, "tokenizer_config.json", config)
    tok = Tokenizer.from_file(str(dest / "tokenizer.json"))
    first = tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", first)]
    )
    tok.enable_truncation(4)
    pad = "<|im_start|>"
    tok.enable_padding(length=4, direction="left", pad_id=tok.token_to_id(pad), pad_token=pad)
    tok.save(str(dest / "tokenizer.json"))
    return dest


VARIANTS = {
    "config-flags": config_flags,
    "vocabulary-word-as-eos": vocabulary_word_as_eos,
    "before-added-tokens-decoder": before_added_tokens_decoder,
    "qwen2-defaults": qwen2_defaults,
    "class-from-model-type": class_from_model_type,
    "hand-written-template": hand_written_template,
    "tokenizer-json-settings": tokenizer_json_settings,
}


def slow_only(src: Path, dest: Path) -> Path:
    """The tiny tokenizer as vocab.json + merges.txt, no tokenizer.json (transformers converts)."""
    from tokenizers import Tokenizer

    config, dest = _copy(src, dest)
    (dest / "tokenizer.json").unlink()
    Tokenizer.from_file(str(src / "tokenizer.json")).model.save(str(dest))
    config["tokenizer_class"] = "Qwen2Tokenizer"
    config["unk_token"] = None  # as Qwen's folders: else <|endoftext|>, which PromptBuilder refuses
    _save(dest, "tokenizer_config.json", config)
    return dest
