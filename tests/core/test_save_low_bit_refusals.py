"""A save_low_bit folder that is damaged, incomplete or foreign is refused in one sentence
naming what is wrong, before anything is written: `quantize` exits non-zero without a
traceback, opening it raises that sentence, and neither the store nor the converted copies
hold anything afterwards. Nothing in a checkpoint's pickle ever runs."""

from __future__ import annotations

import json
import pickle
import shutil
import zipfile

import pytest
import torch
from save_low_bit import folder_state, save_low_bit

from qwen_tui import paths
from qwen_tui.cli import main
from qwen_tui.engine import kernels
from qwen_tui.engine.open import choose_engine, open_engine
from qwen_tui.errors import QuantizeFailed, UsageError
from qwen_tui.store.lowbit_import import convert
from qwen_tui.testing.tiny import build_tiny_qwen2

pytestmark = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the native engine needs AVX2, which this CPU lacks"
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    source = build_tiny_qwen2(tmp_path_factory.mktemp("src"))
    return save_low_bit(source, tmp_path_factory.mktemp("saved") / "legacy", "sym_int4")


@pytest.fixture
def copy(saved, tmp_path):
    """A copy of the folder to damage."""
    return shutil.copytree(saved, tmp_path / "legacy")


def edit_state(folder, change) -> None:
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    change(state)
    torch.save(state, folder / "pytorch_model.bin")


def edit_config(folder, **values) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **values}))


def nothing_written() -> bool:
    """No model in the store, no converted copy, no staging folder left behind."""
    return all(
        not root.exists() or not any(root.iterdir())
        for root in (paths.models_dir(), paths.converted_dir())
    )


def refused(folder, capsys) -> str:
    """The one line `quantize` and opening the folder both give; nothing written by either."""
    before = folder_state(folder)
    assert main(["quantize", str(folder), "--name", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("qwen-tui: ") and "Traceback" not in err and len(err.splitlines()) == 1
    with pytest.raises(UsageError) as opened:
        open_engine(folder, threads=1)
    assert opened.value.message in err
    assert nothing_written() and folder_state(folder) == before
    return opened.value.message


def test_a_layer_cut_short_is_refused(copy, capsys):
    name = "model.layers.1.mlp.down_proj.weight"
    edit_state(copy, lambda s: s.update({name: s[name][:-34].clone()}))
    assert refused(copy, capsys) == (
        f"{name} in {copy} holds 4318 bytes, not the 4352 a [64, 128] weight takes in sym_int4 "
        "(it is cut short, or in another format)."
    )


def test_a_missing_tensor_is_refused(copy, capsys):
    edit_state(copy, lambda s: s.pop("model.norm.weight"))
    assert refused(copy, capsys) == f"model.norm.weight is missing from {copy}."


def test_a_misshapen_float_tensor_is_refused(copy, capsys):
    name = "model.embed_tokens.weight"
    edit_state(copy, lambda s: s.update({name: s[name][:100].clone()}))
    assert refused(copy, capsys).startswith(f"{name} in {copy} is [100, 64]; its config.json")


@pytest.mark.parametrize("low_bit", ["nf4", "sym_int3"])
def test_a_format_qwen_tui_does_not_run_is_refused(copy, capsys, low_bit):
    edit_config(copy, bigdl_transformers_low_bit=low_bit)
    before = folder_state(copy)
    assert main(["quantize", str(copy), "--name", "x"]) == 2
    err = capsys.readouterr().err
    assert f"holds its layers in bigdl-llm's '{low_bit}' format, which qwen-tui does not run" in err
    # opened, it goes to bigdl-llm's engine as it is, saying why (nothing is converted)
    choice = choose_engine(copy)
    assert choice.name == "bigdl" and low_bit in choice.why
    assert open_engine(copy, threads=1).model_dir == copy
    assert nothing_written() and folder_state(copy) == before


def test_a_checkpoint_cut_short_is_refused(copy, capsys):
    path = copy / "pytorch_model.bin"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert refused(copy, capsys) == (
        f"{path} is not a PyTorch zip checkpoint (cut short, or torch's legacy format)."
    )


def test_a_tensor_past_the_end_of_its_storage_is_refused(copy, capsys):
    """A zip whose storage member is shorter than the tensor the pickle describes."""
    path = copy / "pytorch_model.bin"
    with zipfile.ZipFile(path) as old:
        members = [(info, old.read(info)) for info in old.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as new:
        for info, data in members:
            new.writestr(info.filename, data[:100] if info.filename.endswith("data/0") else data)
    message = refused(copy, capsys)
    assert message == (
        f"{path} holds fewer bytes of tensor model.embed_tokens.weight than its shape needs (it "
        "is cut short)."
    )


class Planted:
    """What a hostile pickle would run when loaded by pickle.load or torch.load unguarded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (shutil.copy, (__file__, str(self.marker)))


def test_nothing_in_a_checkpoints_pickle_runs(copy, tmp_path, capsys):
    marker = tmp_path / "RAN"
    path = copy / "pytorch_model.bin"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as new:
        new.writestr("pytorch_model/data.pkl", pickle.dumps({"x": Planted(marker)}, protocol=2))
    message = refused(copy, capsys)
    assert message.startswith(f"{path} holds a data.pkl qwen-tui does not read (it names shutil")
    assert not marker.exists()


def test_a_folder_without_its_tokenizer_is_refused(copy, capsys):
    for name in ("tokenizer.json", "vocab.json"):
        (copy / name).unlink(missing_ok=True)
    assert refused(copy, capsys) == (
        f"{copy} has no tokenizer (bigdl-llm's save_low_bit does not write one)."
    )


def test_another_format_than_the_folders_is_refused(saved, capsys):
    assert main(["quantize", str(saved), "--name", "x", "--low-bit", "sym_int8"]) == 2
    assert "is already quantized, by bigdl-llm, in sym_int4; qwen-tui converts it as it is, " \
        "so it cannot be sym_int8." in capsys.readouterr().err  # fmt: skip
    assert nothing_written()


def test_a_conversion_that_fails_midway_leaves_nothing_that_looks_ready(saved, monkeypatch):
    real, copied = convert._copy, []

    def failing(source, step, writer):
        if len(copied) == 5:
            raise OSError(28, "No space left on device")
        copied.append(step.tensor.name)
        real(source, step, writer)

    monkeypatch.setattr(convert, "_copy", failing)
    with pytest.raises(QuantizeFailed, match="No space left on device"):
        open_engine(saved, threads=1)
    assert len(copied) == 5 and nothing_written()
