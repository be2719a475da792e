"""Speed settings applied to a loaded bigdl-llm model (see `qwen-tui bench`)."""

from __future__ import annotations

from typing import Any


def tune(model: Any) -> None:
    """Placeholder for measured prompt-path selection; see tune_prompt_path."""
    return None
