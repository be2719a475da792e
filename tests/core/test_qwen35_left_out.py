"""What a Qwen3.5 source holds beside the language model (a released checkpoint's vision tower
and multi-token-prediction layer, a GGUF's MTP layer) is left out of the store, and the
manifest, `models` and `quantize` say so; a source without them says nothing."""

from __future__ import annotations

import json
import shutil

import pytest
from gguf import GGUFReader
from qwen35_fixture import chat_folder
from qwen35_gguf import F32_GGUF, Q8_GGUF
from test_cli import run

from qwen_tui import paths
from qwen_tui.families.spec import MTP_LAYERS, VISION_TOWER
from qwen_tui.store.quantize import quantize_folder

EXTRA = {"tensors": 1, "bytes": 4 * 64 * 4}  # chat_folder's one float32 [4, 64] tensor of each
LINE = (
    "      left out of its source, which qwen-tui does not run: the vision tower (1 tensor, "
    "1.0 KB), the multi-token-prediction (MTP) layers (1 tensor, 1.0 KB)"
)


def stored(source, tmp_path, name="q35"):
    model = quantize_folder(source, name, root=tmp_path / "store", measure=False)
    shutil.copytree(model.path, paths.models_dir() / model.folder_name)
    return model


def test_a_released_checkpoint_has_its_vision_tower_and_mtp_layer_left_out_and_said(tmp_path):
    model = stored(chat_folder(tmp_path / "released", released=True), tmp_path)
    assert model.manifest.skipped == {VISION_TOWER: EXTRA, MTP_LAYERS: EXTRA}
    listed = run("models")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith(model.folder_name))
    assert lines[at + 1] == LINE
    [row] = json.loads(run("models", "--json").stdout)["local"]
    assert row["skipped"] == {VISION_TOWER: EXTRA, MTP_LAYERS: EXTRA}
    again = run("quantize", str(tmp_path / "released"), "--name", "again", "--no-quality")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().endswith("; " + LINE.strip())


def test_a_text_only_folder_leaves_nothing_out_and_says_nothing(tmp_path):
    model = stored(chat_folder(tmp_path / "text"), tmp_path)
    assert model.manifest.skipped is None
    assert "left out" not in run("models").stdout
    assert json.loads(run("models", "--json").stdout)["local"][0]["skipped"] is None


@pytest.mark.parametrize("gguf", [F32_GGUF, Q8_GGUF], ids=["with-mtp", "no-mtp"])
def test_a_gguf_has_its_mtp_layer_left_out_and_said(tmp_path, gguf):
    """The converter writes the MTP layer as blocks past the model's (blk.4, of 5)."""
    model = stored(gguf, tmp_path)
    mtp = [t for t in GGUFReader(str(gguf)).tensors if t.name.startswith("blk.4.")]
    if gguf == Q8_GGUF:  # converted with --no-mtp
        assert not mtp and model.manifest.skipped is None
        return
    assert len(mtp) == 15
    want = {"tensors": len(mtp), "bytes": sum(int(t.n_bytes) for t in mtp)}
    assert model.manifest.skipped == {MTP_LAYERS: want}
    assert "the multi-token-prediction (MTP) layers (15 tensors, " in run("models").stdout
