"""The scripted tiny Qwen3.5 (``qwen_tui.testing.tiny_qwen35``) as the app, ``ask`` and
``serve`` tests use it: quantized through the real store path from its Hugging Face folder, or
from the GGUF file llama.cpp's converter made of the same folder
(tests/fixtures/qwen35_gguf/make_scripted.py), and installed into a test's model store. Each is
quantized once per test process, whichever test files ask for it."""

from __future__ import annotations

from pathlib import Path

from thinking_model import install

from qwen_tui.store.local import LocalModel
from qwen_tui.testing.tiny_qwen35 import ANSWER, THINKING, build_tiny_qwen35

__all__ = ["ANSWER", "SCRIPTED_GGUF", "THINKING", "install", "quantized"]

SCRIPTED_GGUF = Path(__file__).parent / "fixtures" / "qwen35_gguf" / "qwen35-scripted-q8_0.gguf"
SOURCES = ("folder", "gguf")

_built: dict[str, LocalModel] = {}


def quantized(tmp_path_factory, source: str = "folder") -> LocalModel:
    """The scripted Qwen3.5 quantized (the default recipe) from its folder or its GGUF."""
    if source not in _built:
        from qwen_tui.store.quantize import quantize_folder

        root = tmp_path_factory.mktemp(f"qwen35-{source}")
        path = build_tiny_qwen35(root / "src") if source == "folder" else SCRIPTED_GGUF
        _built[source] = quantize_folder(
            path, f"qwen35-{source}", root=root / "store", measure=False
        )
    return _built[source]
