"""What a source model folder holds, read before quantizing it: its config and family,
whether it needs its own code, what quantizing it will need, and the tokenizer and licence
files copied beside the quantized weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..engine.tokenizer.files import TOKENIZER_FILE, TokenizerFileError
from ..engine.tokenizer.merges import readable_text
from ..errors import UsageError
from ..families import family_for
from ..recipes import RECIPES
from ..sizes import MB, disk_bytes, quantize_ram, whole_model_ram

# Files copied verbatim from the source folder beside bigdl-llm's weights.
COPIED = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "qwen.tiktoken",
    "special_tokens_map.json",
    "added_tokens.json",
    "generation_config.json",
    "LICENSE",
    "LICENSE.txt",
    "NOTICE",
    "NOTICE.md",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")


def read_source_config(src: Path) -> dict:
    config_path = src / "config.json"
    if not config_path.is_file():
        raise UsageError(
            f"{src} is not a Hugging Face model folder (no config.json).",
            "Point at the folder that holds config.json and the weights.",
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(
            f"{config_path} is not valid JSON ({exc}).", "Re-download the model."
        ) from None
    if not isinstance(config, dict):
        raise UsageError(
            f"{config_path} is not a model configuration (not a JSON object).",
            "Re-download the model.",
        )
    return config


def family_of(config: dict, src: Path) -> str:
    """The family of the model in ``src`` (its FamilySpec's name), or one sentence why not."""
    model_type = str(config.get("model_type", ""))
    family = family_for(model_type)
    if family is None:
        raise UsageError(
            f"{src} holds a '{model_type or 'unknown'}' model; qwen-tui runs Qwen chat models "
            "only.",
            "Use a Qwen-1, Qwen1.5, Qwen2, Qwen2.5 or Qwen3 (dense) chat model.",
        )
    reason = family.refuse(config)
    if reason:
        raise UsageError(
            f"{src} holds a model qwen-tui cannot run: {reason}.",
            "Use a Qwen chat model of a supported shape (Qwen-1_8B-Chat, Qwen2.5, Qwen3 ...).",
        )
    return family.name


def weights_size(src: Path) -> int:
    return sum(p.stat().st_size for p in src.iterdir() if p.suffix in WEIGHT_SUFFIXES)


SUPPORT_FILES = 16 * MB  # tokenizer, config and licence files beside the weights (Qwen's: 7 MB)


def estimate_needs(
    config: dict, src: Path, low_bit: str, *, measure: bool = True, whole_model: bool = False
) -> tuple[int, int]:
    """(disk bytes, RAM bytes) to quantize ``src`` (a folder or a GGUF file) by ``low_bit``:
    the store's weights file and its packed copy (exact, from the family's plan) and its support
    files; and the peak
    of streaming the tensors (``sizes.quantize_ram``) and, with ``measure``, of the quality
    check, or with ``whole_model`` of quantizing through the float model (.bin folders)."""
    family = family_for(str(config.get("model_type", "")))
    try:
        if family is None:
            raise ValueError("an unknown family")
        dims = family.dims(config)
    except (KeyError, TypeError, ValueError):  # an unusual config: from the weight files' size
        dtype = str(config.get("torch_dtype", "float32"))
        params = weights_size(src) / (2 if dtype in ("bfloat16", "float16") else 4)
        return int(params * 1.1) + 64 * MB, int(params * 4) + 800 * MB
    recipe = RECIPES[low_bit]
    disk = disk_bytes(family, dims, recipe) + SUPPORT_FILES
    if whole_model:
        return disk, whole_model_ram(family, dims)
    return disk, quantize_ram(family, dims, recipe, check=measure)


def strip_hub_prefixes(path: Path) -> None:
    """Make auto_map point at the local code files ("repo--module.Class" -> "module.Class")."""
    if not path.is_file():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    auto_map = data.get("auto_map")
    if not auto_map:
        return

    def local(v: Any) -> Any:
        if isinstance(v, list):
            return [local(x) for x in v]
        return v.split("--", 1)[-1] if isinstance(v, str) else v

    data["auto_map"] = {k: local(v) for k, v in auto_map.items()}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")


def copy_support_files(src: Path, dest: Path, code: bool = False) -> None:
    """The tokenizer, generation defaults and licence beside the weights; the folder's own
    Python files only where they will run (``code``: trusted with --trust-remote-code)."""
    for name in COPIED:
        if (src / name).is_file():
            shutil.copy2(src / name, dest / name)
    if (src / TOKENIZER_FILE).is_file():  # newer merges (pairs) as tokenizers 0.15 reads them
        try:
            text = readable_text(src / TOKENIZER_FILE)
        except TokenizerFileError as exc:
            raise UsageError(f"{src}: {exc}", "Use the model's own tokenizer files.") from None
        if text is not None:
            (dest / TOKENIZER_FILE).write_text(text, encoding="utf-8")
    if code:
        for path in src.glob("*.py"):
            shutil.copy2(path, dest / path.name)
    for name in ("config.json", "tokenizer_config.json"):
        strip_hub_prefixes(dest / name)
    fold_chat_template(src, dest / "tokenizer_config.json")


def fold_chat_template(src: Path, tokenizer_config: Path) -> None:
    """Newer repos (Qwen3 2507 among them) keep the chat template in chat_template.jinja or
    chat_template.json, which transformers 4.37 does not read: put it where it looks."""
    if not tokenizer_config.is_file():
        return
    data = json.loads(tokenizer_config.read_text(encoding="utf-8"))
    if data.get("chat_template"):
        return
    template: str | None
    if (src / "chat_template.jinja").is_file():
        template = (src / "chat_template.jinja").read_text(encoding="utf-8")
    elif (src / "chat_template.json").is_file():
        found = json.loads((src / "chat_template.json").read_text(encoding="utf-8"))
        template = found.get("chat_template") if isinstance(found, dict) else None
    else:
        return
    if template:
        data["chat_template"] = template
        tokenizer_config.write_text(json.dumps(data, indent=2, ensure_ascii=False), "utf-8")


def has_safetensors(src: Path) -> bool:
    """Whether the folder's weights are safetensors files (the streaming quantizer reads them);
    a folder of .bin files only goes through torch."""
    return any(src.glob("*.safetensors"))
