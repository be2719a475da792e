"""The tiny Qwen3.5 of tests/fixtures/qwen35_reference as a chat model folder: its weights and
config.json as transformers 5.25 saved them, with the tiny Qwen3 tokenizer its recorded ids
come from (make.py), and Qwen3's chat template. ``released`` lays the same model out as the
released checkpoints are: the language model's settings under text_config, its tensors under
``model.language_model.``, a vision tower and an MTP layer beside them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

FIXTURE = Path(__file__).parent / "fixtures" / "qwen35_reference"


def recorded() -> dict[str, np.ndarray]:
    """What transformers computed for the fixture (make.py names each array)."""
    return load_file(str(FIXTURE / "reference.safetensors"))


def chat_folder(path: Path, released: bool = False) -> Path:
    from qwen_tui.testing.tiny_qwen3 import qwen3_tokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = qwen3_tokenizer()
    tokenizer.save_pretrained(path)
    assert len(tokenizer) == json.loads((FIXTURE / "config.json").read_text())["vocab_size"]
    shutil.copy(FIXTURE / "generation_config.json", path)
    if not released:
        shutil.copy(FIXTURE / "config.json", path)
        shutil.copy(FIXTURE / "model.safetensors", path)
        return path
    text = json.loads((FIXTURE / "config.json").read_text())
    config = {"architectures": ["Qwen3_5ForConditionalGeneration"], "model_type": "qwen3_5",
              "text_config": {**text, "tie_word_embeddings": False},  # the outer one counts
              "vision_config": {"model_type": "qwen3_5_vision", "depth": 1},
              "tie_word_embeddings": text["tie_word_embeddings"]}  # fmt: skip
    (path / "config.json").write_text(json.dumps(config))
    weights = load_file(str(FIXTURE / "model.safetensors"))
    moved = {k.replace("model.", "model.language_model.", 1): v for k, v in weights.items()}
    extra = np.ones((4, 64), np.float32)
    moved |= {"model.visual.blocks.0.attn.qkv.weight": extra, "mtp.fc.weight": extra}
    save_file(moved, str(path / "model.safetensors"))
    return path
