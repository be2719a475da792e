"""Where a save_low_bit folder is used, it ends on the native engine with no new step: `ask`
and the app (and `serve`, in test_torch_free_chat.py) open it, converting it once and saying
so once; `quantize` converts it into the store explicitly; a store folder an earlier qwen-tui
wrote with save_low_bit is opened the same way, and `rm` takes its converted copy with it."""

from __future__ import annotations

import shutil

import pytest
from save_low_bit import folder_state, save_low_bit

from qwen_tui import config, paths
from qwen_tui.cli import main
from qwen_tui.doctor import run_checks
from qwen_tui.engine import kernels
from qwen_tui.engine.open import open_engine
from qwen_tui.errors import ModelIncomplete
from qwen_tui.manifest import Manifest, read_manifest, scan_files, write_manifest
from qwen_tui.store import local
from qwen_tui.testing.tiny import build_tiny_qwen2
from qwen_tui.ui.app import local_engine

pytestmark = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the native engine needs AVX2, which this CPU lacks"
)
ASK = ["--max-new-tokens", "3", "--temperature", "0"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    source = build_tiny_qwen2(tmp_path_factory.mktemp("src"))
    return save_low_bit(source, tmp_path_factory.mktemp("saved") / "legacy", "sym_int4")


def notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("qwen-tui: note: Converted")]


def test_ask_on_a_save_low_bit_folder_converts_it_once_and_says_so_once(saved, capsys):
    before = folder_state(saved)
    assert main(["ask", "hi", "--model-path", str(saved), *ASK]) == 0
    out, err = capsys.readouterr()
    assert out.strip()
    (note,) = notes(err)
    assert note.startswith("qwen-tui: note: Converted legacy (bigdl-llm's save_low_bit, sym_int4)")
    assert main(["ask", "hi", "--model-path", str(saved), *ASK]) == 0
    again, err = capsys.readouterr()
    assert again == out and notes(err) == []
    assert folder_state(saved) == before


def test_quantize_converts_it_into_the_store(saved, capsys):
    assert main(["quantize", str(saved), "--name", "old"]) == 0
    out = capsys.readouterr().out
    stored = paths.models_dir() / "old-sym_int4"
    assert out.startswith("Ready: old-sym_int4 (") and f"at {stored}; converted from " in out
    assert out.strip().endswith(
        "converted from bigdl-llm's save_low_bit: bigdl-llm's sym_int4 bytes kept for its 15 "
        "weight matrices; its float32 embedding quantized to sym_int5"
    )
    manifest = read_manifest(stored)
    assert manifest.low_bit == "sym_int4" and manifest.converted["path"] == str(saved)
    engine = open_engine(stored, threads=1)
    assert engine.name == "native" and engine.model_dir == stored and engine.opened_note == ""
    # the same store the opening path converts
    copy = open_engine(saved, threads=1).model_dir
    assert (copy / "model.safetensors").read_bytes() == (stored / "model.safetensors").read_bytes()
    assert main(["ask", "hi", "--model", "old", *ASK]) == 0
    assert notes(capsys.readouterr().err) == []


@pytest.fixture
def earlier_store_model(saved):
    """A store folder as qwen-tui wrote it before recipes: save_low_bit and a manifest."""
    folder = shutil.copytree(saved, paths.models_dir() / "legacy-sym_int4")
    manifest = Manifest("legacy", "sym_int4", "qwen2", "Qwen/x", None, False, scan_files(folder))
    write_manifest(folder, manifest)
    return local.resolve("legacy")


def test_a_store_model_of_an_earlier_version_opens_on_the_native_engine(earlier_store_model):
    model = earlier_store_model
    (row,) = [c for c in run_checks() if c.area == "model legacy-sym_int4"]
    assert row.ok and row.text.endswith(
        "it loads on native (bigdl-llm's save_low_bit folder, converted to qwen-tui's layout "
        "when opened)"
    )
    engine = local_engine(model, config.Settings(threads=1))
    assert engine.name == "native" and engine.model_dir.parent == paths.converted_dir()
    info = engine.load()
    try:
        assert info.name == "legacy" and info.note.startswith("Converted legacy-sym_int4")
    finally:
        engine.unload()
    assert not model.problems()  # the original, as it was
    copy = engine.model_dir
    assert paths.packed_file(copy).is_file()  # the copy's weights as our kernels read them
    assert main(["rm", "legacy-sym_int4"]) == 0
    assert not copy.exists() and not model.path.exists()
    assert not paths.packed_file(copy).exists()


def test_a_damaged_store_model_of_an_earlier_version_is_not_converted(earlier_store_model):
    with open(earlier_store_model.path / "pytorch_model.bin", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ModelIncomplete, match="pytorch_model.bin has the wrong size"):
        open_engine(earlier_store_model.path, threads=1)
    assert not paths.converted_dir().exists() or not any(paths.converted_dir().iterdir())


def test_a_copy_whose_original_is_gone_is_swept(saved, tmp_path):
    gone = shutil.copytree(saved, tmp_path / "gone")
    engine = open_engine(gone, threads=1)
    engine.load()
    engine.unload()
    copy = engine.model_dir
    assert paths.packed_file(copy).is_file()
    shutil.rmtree(gone)
    open_engine(saved, threads=1)  # the next conversion sweeps
    assert not copy.exists() and not paths.packed_file(copy).exists()
