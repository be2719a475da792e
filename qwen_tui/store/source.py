"""What a source model folder holds, read before quantizing it: its config and family,
whether it needs its own code, what quantizing it will need, and the tokenizer and licence
files copied beside the quantized weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..families import family_for
from ..recipes import RECIPES
from ..sizes import MB, dims_from_config, quantize_ram, stored_bytes

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


def estimate_needs(config: dict, src: Path, low_bit: str) -> tuple[int, int]:
    """(disk bytes, RAM bytes) needed to quantize this folder: the store folder the recipe
    writes (weights counted by kind, plus the tokenizer) and the float model in RAM."""
    dims = dims_from_config(config)
    if dims is None:  # an unusual config: from the size of the weight files
        dtype = str(config.get("torch_dtype", "float32"))
        params = weights_size(src) / (2 if dtype in ("bfloat16", "float16") else 4)
        return int(params * 1.1) + 64 * MB, int(params * 4) + 800 * MB
    return stored_bytes(dims, RECIPES[low_bit]) + 16 * MB, quantize_ram(dims)


def estimate_gguf_needs(path: Path, low_bit: str) -> tuple[int, int]:
    """(disk, RAM) to quantize a GGUF file: its float32 unpacking beside the store while it is
    quantized, plus the stored model; the float model in RAM."""
    from .gguf_import.convert import hf_config
    from .gguf_import.read import open_gguf

    gf = open_gguf(path)
    config = hf_config(gf)
    floats = sum(t.n_elements for t in gf.header.tensors) * 4
    stored, ram = estimate_needs(config, path, low_bit)
    return floats + stored + 64 * MB, ram


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
