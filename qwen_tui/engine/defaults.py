"""A model folder's own defaults: sampling settings from generation_config.json, and the
context window."""

from __future__ import annotations

import json
from pathlib import Path

from .generate.thinking import THINKING_MAX_NEW_TOKENS
from .types import FALLBACK_PARAMS, GenerationParams


def read_defaults(model_dir: Path, thinks: bool = False) -> GenerationParams:
    """Sampling defaults from generation_config.json, falling back where absent (a thinking
    model's replies get more room by default)."""
    try:
        data = json.loads((model_dir / "generation_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    found = GenerationParams(
        temperature=data.get("temperature") if data.get("do_sample", True) else 0.0,
        top_p=data.get("top_p"),
        top_k=data.get("top_k"),
        repetition_penalty=data.get("repetition_penalty"),
        max_new_tokens=data.get("max_new_tokens"),
    )
    if data.get("do_sample") and "temperature" not in data:
        found = GenerationParams(**{**found.to_dict(), "temperature": 1.0})
    if thinks and found.max_new_tokens is None:  # room to think, leaving most of the window
        room = min(THINKING_MAX_NEW_TOKENS, context_window(model_dir) // 4)
        found = GenerationParams(**{**found.to_dict(), "max_new_tokens": room})
    return found.over(FALLBACK_PARAMS)


def context_window(model_dir: Path) -> int:
    """Qwen-1's max_window_size, else the position-embedding limit (a multimodal checkpoint's,
    such as Qwen3.5's, in its text_config)."""

    def load(name: str) -> dict:
        try:
            return json.loads((model_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    gen, config = load("generation_config.json"), load("config.json")
    text = config.get("text_config")
    if isinstance(text, dict):
        config = {**config, **text}
    for value in (gen.get("max_window_size"), config.get("max_window_size")):
        if value:
            return int(value)
    return int(config.get("max_position_embeddings") or config.get("seq_length") or 2048)
