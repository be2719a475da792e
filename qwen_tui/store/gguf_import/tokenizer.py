"""The tokenizer and chat template of a GGUF file, as tokenizer.json and tokenizer_config.json.

GGUF keeps a byte-level BPE tokenizer as lists: ``tokenizer.ggml.tokens`` (id order),
``tokenizer.ggml.token_type`` (1 normal, 3 control, 4 user-defined, 5 unused padding) and
``tokenizer.ggml.merges``; ``tokenizer.ggml.pre`` names the pre-tokenizer. We rebuild the
tokenizer Qwen ships (NFC, its split pattern, then byte-level: Qwen2's for ``qwen2``, the one
of Qwen3.5's 248,320-token vocabulary for ``qwen35``), so the same text gives the same ids as
the original ``tokenizer.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ...errors import UsageError
from .read import GgufFile

# Qwen2's pre-tokenizer split (its tokenizer.json), which llama.cpp calls "qwen2".
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Qwen3.5's (its tokenizer.json; llama.cpp's "qwen35"): a combining mark (\p{M}) belongs to
# the letters it follows, not to the punctuation after them
QWEN35_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"
    r"| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
PRE_TOKENIZERS = {"qwen2": QWEN2_SPLIT, "qwen35": QWEN35_SPLIT}
NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5


def check(gf: GgufFile) -> str:
    """Refuse a tokenizer qwen-tui cannot rebuild, or a file without a chat template; the name
    of its pre-tokenizer otherwise. (The vocabulary is checked against the model in checks.py.)"""
    model = gf.text("tokenizer.ggml.model")
    pre = gf.text("tokenizer.ggml.pre") or "qwen2"
    if model != "gpt2" or pre not in PRE_TOKENIZERS:
        raise UsageError(
            f"{gf.path.name} has a '{model}' tokenizer with the '{pre}' pre-tokenizer; "
            "qwen-tui rebuilds Qwen's byte-level BPE ('gpt2', with the 'qwen2' or 'qwen35' "
            "pre-tokenizer) only.",
            "Use a Qwen GGUF file.",
        )
    gf.strings("tokenizer.ggml.merges")
    if not gf.text("tokenizer.chat_template"):
        raise UsageError(
            f"{gf.path.name} has no chat template in its metadata.",
            "Use the chat (instruct) version of the model.",
        )
    gf.flag("tokenizer.ggml.add_bos_token")
    return pre


def tokenizer_json(gf: GgufFile) -> dict:
    pre = check(gf)
    tokens = list(gf.strings("tokenizer.ggml.tokens"))
    stored_types = gf.field("tokenizer.ggml.token_type")
    types = [NORMAL] * len(tokens) if stored_types is None else stored_types.tolist()
    merges = list(gf.strings("tokenizer.ggml.merges"))
    # every token keeps its id in the model's vocabulary (special ones are also added tokens):
    # with gaps, the tokenizer would give tokens transformers adds later ids already taken
    vocab = {t: i for i, t in enumerate(tokens)}
    added = [
        {
            "id": i,
            "content": t,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": types[i] == CONTROL,
        }
        for i, t in enumerate(tokens)
        if types[i] in (CONTROL, USER_DEFINED)
    ]
    byte_level = {
        "type": "ByteLevel",
        "add_prefix_space": False,
        "trim_offsets": False,
        "use_regex": False,
    }
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": PRE_TOKENIZERS[pre]},
                    "behavior": "Isolated",
                    "invert": False,
                },
                byte_level,
            ],
        },
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "vocab": vocab,
            "merges": merges,
        },
    }


def special_token(gf: GgufFile, key: str) -> str | None:
    tokens = gf.strings("tokenizer.ggml.tokens")
    index = gf.whole(f"tokenizer.ggml.{key}_token_id", 0, len(tokens))
    return None if index is None else tokens[index]


def tokenizer_config(gf: GgufFile, context: int) -> dict:
    check(gf)
    template = gf.text("tokenizer.chat_template")
    add_bos = bool(gf.flag("tokenizer.ggml.add_bos_token"))
    return {
        "tokenizer_class": "Qwen2Tokenizer",
        "chat_template": template,
        "eos_token": special_token(gf, "eos"),
        "pad_token": special_token(gf, "padding"),
        "bos_token": special_token(gf, "bos") if add_bos else None,
        "unk_token": None,
        "add_bos_token": add_bos,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
        "model_max_length": context,
        "split_special_tokens": False,
    }


def write_tokenizer(gf: GgufFile, dest: Path, context: int) -> None:
    (dest / "tokenizer.json").write_text(
        json.dumps(tokenizer_json(gf), ensure_ascii=False), encoding="utf-8"
    )
    (dest / "tokenizer_config.json").write_text(
        json.dumps(tokenizer_config(gf, context), ensure_ascii=False, indent=2), encoding="utf-8"
    )
