"""Folders bigdl-llm's ``save_low_bit`` wrote (the original recipe: ``from_pretrained(...,
load_in_low_bit=...)``, ``save_low_bit(dir)``, ``load_low_bit(dir)``), converted once into the
store's layout so the native engine runs them.

Such a folder holds ``pytorch_model.bin`` (bigdl-llm forces torch's format): each low-bit layer
as the raw bytes of bigdl-llm's blocks (a flat uint8 tensor; the format is the one
``bigdl_transformers_low_bit`` in config.json names, the shape is the config's), and the
embedding, norms, biases and any layer it left unconverted in the float type it was loaded
in. ``plan.py`` checks every tensor against the family's plan and decides, per tensor, to copy
bigdl-llm's bytes as they are (the store's formats are bigdl-llm's) or to quantize a float one
(the embedding); ``convert.py`` writes the store through the streaming quantizer's writer and
seals it as ``quantize`` does; ``cache.py`` keeps the copy a folder is opened from.
"""

from __future__ import annotations

import json
from pathlib import Path

from ...manifest import MANIFEST, Manifest
from ..stream import LAYOUT

LOW_BIT_KEY = "bigdl_transformers_low_bit"  # config.json: what save_low_bit stored the layers in


def saved_format(folder: Path) -> str | None:
    """The format bigdl-llm's ``save_low_bit`` recorded for ``folder``; None for any other
    folder (a qwen-tui store, a float checkpoint, no folder at all)."""
    folder = Path(folder)
    if (folder / LAYOUT).is_file():
        return None
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = config.get(LOW_BIT_KEY) if isinstance(config, dict) else None
    return str(value) if value else None


def describe(folder: Path) -> Manifest | None:
    """What a save_low_bit folder without a qwen-tui manifest is (one saved with bigdl-llm
    itself), from its config.json; no files to check against (converting checks each tensor).
    None for any other folder."""
    from ...families import family_for

    low_bit = saved_format(folder)
    if low_bit is None or (Path(folder) / MANIFEST).exists():
        return None
    config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    family = family_for(str(config.get("model_type")))
    if family is None:
        return None
    return Manifest(
        name=Path(folder).name, low_bit=low_bit, family=family.name, source=str(folder),
        commit=None, remote_code=False, files=(),
    )  # fmt: skip
