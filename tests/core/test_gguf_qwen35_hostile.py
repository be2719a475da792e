"""Qwen3.5 GGUF files that lie about their hybrid layout (the converter's real file with one
lie in it, tests/qwen35_gguf.py): `quantize FILE.gguf` refuses each in one line naming the
layer, tensor or key, and leaves the store as it was."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from gguf import GGUFReader
from qwen35_gguf import DROP, F32_GGUF, rewrite

from qwen_tui import paths
from qwen_tui.cli import main
from qwen_tui.families import BY_NAME
from qwen_tui.store import quantize

RECURRENT = "qwen35.attention.recurrent_layers"
LINEAR, FULL = "Gated DeltaNet (linear-attention)", "full-attention"
# the converter's --mtp file: the MTP block (blk.4) with the embedding, none of the layers
DRAFT = {t.name: DROP for t in GGUFReader(str(F32_GGUF)).tensors
         if t.name.startswith(("blk.0.", "blk.1.", "blk.2.", "blk.3."))}  # fmt: skip
CASES = {
    "a linear layer the metadata calls full": (
        {"metadata": {RECURRENT: [True, False, False, True, False]}},
        f"its layer 1 holds {LINEAR} tensors (blk.1.attn_gate.weight) but its {RECURRENT} "
        f"makes it a {FULL} layer",
    ),
    "a full layer the metadata calls linear": (
        {"metadata": {RECURRENT: [True, True, True, True, False]}},
        f"its layer 2 holds {FULL} tensors (blk.2.attn_k.weight) but its {RECURRENT} makes it "
        f"a {LINEAR} layer",
    ),
    "recurrent_layers for fewer blocks": (
        {"metadata": {RECURRENT: [True, True, False, True]}},
        f"its {RECURRENT} is not one true or false for each of its 5 blocks",
    ),
    "a missing ssm tensor": (
        {"tensors": {"blk.3.ssm_a": DROP}},
        f"its layer 3, a {LINEAR} layer by its {RECURRENT}, has no blk.3.ssm_a",
    ),
    "a conv of the wrong shape": (
        {"tensors": {"blk.0.ssm_conv1d.weight": np.zeros((100, 4))}},
        "its blk.0.ssm_conv1d.weight is [4, 100] (innermost first) but its metadata makes it "
        "[4, 128]",
    ),
    "value heads that do not divide the value width": (
        {"metadata": {"qwen35.ssm.time_step_rank": 3}},
        "its qwen35.ssm.inner_size is not a multiple of its ssm.time_step_rank",
    ),
    "no conv kernel": (
        {"metadata": {"qwen35.ssm.conv_kernel": DROP}},
        "has no 'qwen35.ssm.conv_kernel' in its metadata",
    ),
    "the MTP layer alone (a draft model)": (
        {"tensors": DRAFT},
        "it holds only Qwen3.5's multi-token-prediction layers",
    ),
    "a Qwen3.5 MoE": (
        {"arch": "qwen35moe"},
        "holds a Mixture-of-Experts Qwen3.5 (qwen35moe); qwen-tui imports the dense Qwen3.5 "
        "(qwen35), Qwen3 and Qwen2 GGUF architectures",
    ),
    "a vision projector": ({"arch": "clip"}, "holds a vision projector"),
}


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def refused(path, capsys) -> str:
    paths.models_dir().mkdir(parents=True, exist_ok=True)
    (paths.models_dir() / "other-model").mkdir(exist_ok=True)
    before = tree(paths.cache_dir())
    assert main(["quantize", str(path), "--name", "x"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert tree(paths.cache_dir()) == before
    return err


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_lying_file_is_refused_in_one_line_naming_what_is_wrong(case, tmp_path, capsys):
    change, words = CASES[case]
    path = rewrite(F32_GGUF, tmp_path / "model.gguf", **change)
    err = refused(path, capsys)
    assert err.startswith(f"qwen-tui: {path.name} ") and words in err, err


def test_the_unchanged_file_gets_past_every_check(tmp_path, capsys):
    """The same rewrite without a lie is quantized (the checks refuse the lies, not the file)."""
    path = rewrite(F32_GGUF, tmp_path / "model.gguf")
    assert main(["quantize", str(path), "--name", "x", "--no-quality"]) == 0, capsys.readouterr()
    assert (paths.models_dir() / "x-mixed_int5" / "qwen-tui-manifest.json").is_file()


@pytest.mark.parametrize("value", [0.25, 0.0, np.nan])
def test_a_decay_that_is_not_below_zero_is_refused(tmp_path, capsys, monkeypatch, value):
    """ssm_a is -exp(A_log), below zero: from any other value there is no A_log to recover (its
    log is not a number). Refused before any work, the decoder there or not."""
    monkeypatch.setitem(quantize.BY_NAME, "qwen35", replace(BY_NAME["qwen35"], decoded=True))
    bad = rewrite(F32_GGUF, tmp_path / "model.gguf",
                  tensors={"blk.1.ssm_a": np.array([-0.5, value, -0.1, -0.9])})  # fmt: skip
    err = refused(bad, capsys)
    assert f"its blk.1.ssm_a holds {value:g}, not below zero as -exp(A_log)" in err, err
