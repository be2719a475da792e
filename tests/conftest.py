"""Shared fixtures: isolated platform dirs, a tiny real Qwen2 model, a loaded engine."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hubserver import hub_server  # noqa: F401  (the loopback hub fixture, for every test)
from openai_fake import fake_openai  # noqa: F401  (loopback llama-server / ollama / vLLM)

from qwen_tui.testing.tiny import build_tiny_qwen2

USER_SETTINGS = (
    "HF_ENDPOINT",
    "HF_TOKEN",
    "HF_HUB_OFFLINE",
    "QWEN_TUI_ISA",
    "QWEN_TUI_MATMUL",
    "QWEN_TUI_DECODER",
    "QWEN_TUI_HUGE_PAGES",
    "QWEN_TUI_API_KEY",
)
# Before any fixture (session ones too, which start before isolated_dirs): none of the user's
# own settings, and no platform folder of theirs, is seen by the tests.
for _name in USER_SETTINGS:
    os.environ.pop(_name, None)


def folders_under(root: Path) -> dict[str, str]:
    """The environment that puts every platform folder, and the HF cache, under root."""
    folders = {
        f"QWEN_TUI_{n}_DIR": str(root / n.lower()) for n in ("CONFIG", "DATA", "CACHE", "LOG")
    }
    return folders | {"HF_HOME": str(root / "hf")}


SESSION_DIRS = Path(tempfile.mkdtemp(prefix="qwen-tui-tests-"))
atexit.register(shutil.rmtree, SESSION_DIRS, ignore_errors=True)
os.environ.update(folders_under(SESSION_DIRS))


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Point config, data, cache and the HF cache at a temporary folder."""
    from qwen_tui import log

    for name, value in folders_under(tmp_path).items():
        monkeypatch.setenv(name, value)
    log.reset_for_tests()
    return tmp_path


@pytest.fixture(scope="session")
def tiny_source(tmp_path_factory) -> Path:
    """A Hugging Face folder of a tiny random Qwen2 chat model."""
    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny-src"))


@pytest.fixture(scope="session")
def wide_source(tmp_path_factory) -> Path:
    """A tiny Qwen2 whose widths are multiples of 256, as GGUF's k-quants need."""
    return build_tiny_qwen2(
        tmp_path_factory.mktemp("wide"),
        hidden_size=256,
        intermediate_size=512,
        num_attention_heads=4,
        num_key_value_heads=2,
    )


@pytest.fixture(scope="session")
def tiny_quantized(tiny_source, tmp_path_factory):
    """The tiny model quantized to sym_int4 through the real store path, once per session."""
    from qwen_tui.store.quantize import quantize_folder

    root = tmp_path_factory.mktemp("store")
    return quantize_folder(tiny_source, "tiny", "sym_int4", root=root)


@pytest.fixture
def installed_model(tiny_quantized, isolated_dirs):
    """The quantized tiny model copied into this test's model store."""
    from qwen_tui import paths

    target = paths.models_dir() / tiny_quantized.folder_name
    shutil.copytree(tiny_quantized.path, target)
    return target


@pytest.fixture(scope="session")
def engine(tiny_quantized):
    """The tiny model on the engine the product picks (ours, without torch)."""
    from qwen_tui.engine.open import open_engine

    eng = open_engine(tiny_quantized.path, threads=1)
    eng.load()
    yield eng
    eng.unload()


@pytest.fixture(scope="session")
def bigdl_engine(tiny_quantized):
    """The tiny model on bigdl-llm's engine (our C decoder over its modules): for tests of
    that engine's own parts, and as the reference the native engine is held to."""
    from qwen_tui.engine.bigdl.engine import BigdlEngine

    eng = BigdlEngine(tiny_quantized.path, threads=1)
    eng.load()
    yield eng
    eng.unload()


@pytest.fixture(scope="session")
def tokenizer(tiny_source):
    """The tiny model's tokenizer as the chat path loads it (our ChatTokenizer: no transformers;
    tests/core/test_chat_tokenizer.py holds it to transformers' AutoTokenizer)."""
    from qwen_tui.engine.models import load_tokenizer

    return load_tokenizer(tiny_source, "qwen2")


@pytest.fixture(scope="session")
def tool_quantized(tmp_path_factory):
    """The tiny model with Qwen2.5's chat template, scripted for tool calls
    (``qwen_tui/testing/tiny_tools.py``), quantized to sym_int4 once per session."""
    from qwen_tui.store.quantize import quantize_folder
    from qwen_tui.testing.tiny_tools import build_tiny_tool_model

    source = build_tiny_tool_model(tmp_path_factory.mktemp("tools-src"))
    return quantize_folder(source, "tools", "sym_int4", root=tmp_path_factory.mktemp("tools"))


@pytest.fixture(scope="session")
def tool_engine(tool_quantized):
    """That model on the engine the product picks."""
    from qwen_tui.engine.open import open_engine

    eng = open_engine(tool_quantized.path, threads=1)
    eng.load()
    yield eng
    eng.unload()
