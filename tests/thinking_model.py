"""The scripted tiny Qwen3 (``qwen_tui.testing.tiny_qwen3``) as the thinking tests use it:
built, quantized through the real store path (from its Hugging Face folder, and from a GGUF
file the tests write), and installed into a test's model store. Each is built once per test
process, whichever test files ask for it."""

from __future__ import annotations

import shutil
from pathlib import Path

from qwen_tui.store.local import LocalModel
from qwen_tui.testing.tiny_qwen3 import ANSWER, THINKING, build_tiny_qwen3

__all__ = ["ANSWER", "THINKING", "install", "quantized"]

_built: dict[str, LocalModel] = {}


def quantized(tmp_path_factory, source: str = "folder") -> LocalModel:
    """The scripted Qwen3 quantized (sym_int4) from its folder, or from a GGUF of it."""
    if source not in _built:
        from qwen_tui.store.quantize import quantize_folder

        root = tmp_path_factory.mktemp(f"thinker-{source}")
        folder = build_tiny_qwen3(root / "src", scripted=True)
        path: Path = folder
        if source == "gguf":
            from gguf import GGMLQuantizationType as T
            from gguf_fixture import write_gguf

            path = root / "thinker.gguf"
            write_gguf(folder, path, {"ffn_up": T.Q8_0})
        _built[source] = quantize_folder(
            path, f"thinker-{source}", "sym_int4", root=root / "store", measure=False
        )
    return _built[source]


def install(model: LocalModel) -> Path:
    """Copy a quantized model into this test's model store (``isolated_dirs``)."""
    from qwen_tui import paths

    target = paths.models_dir() / model.folder_name
    shutil.copytree(model.path, target)
    return target
