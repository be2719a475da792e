"""Qwen3.5's room (families/qwen35.py): its plan names exactly the tensors transformers 5 saved
for the tiny fixture (tests/fixtures/qwen35_reference), under the released checkpoints'
prefix too with the vision tower and MTP layers skipped; its GGUF names are those of the gguf
package's ``qwen35`` architecture; config.json in its generations' shapes reads to the same
dimensions; and what it cannot run is refused in one sentence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from qwen_tui.errors import UsageError
from qwen_tui.families import BY_NAME, FULL, LINEAR, family_for
from qwen_tui.families.qwen35_gguf import from_gguf, to_gguf
from qwen_tui.recipes import RECIPES
from qwen_tui.store.quantize import quantize_folder
from qwen_tui.store.sources.safetensors import SafetensorsSource
from qwen_tui.store.stream import check_plan

FIXTURE = Path(__file__).parent.parent / "fixtures" / "qwen35_reference"
QWEN35 = BY_NAME["qwen35"]
TEXT = json.loads((FIXTURE / "config.json").read_text())
FLOAT_ROLES = {"attn_norm", "ffn_norm", "attn_q_norm", "attn_k_norm", "ssm_beta", "ssm_alpha",
               "ssm_conv1d", "ssm_a", "ssm_dt", "ssm_norm", "output_norm"}  # fmt: skip


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_the_plan_is_every_tensor_transformers_saved(recipe):
    dims = QWEN35.dims(TEXT)
    plan = QWEN35.plan(dims, RECIPES[recipe])
    with safe_open(str(FIXTURE / "model.safetensors"), "np") as saved:
        shapes = {k: tuple(saved.get_slice(k).get_shape()) for k in saved.keys()}  # noqa: SIM118
    assert sorted(t.source for t in plan) == sorted(shapes)  # tied: the head is the table
    for t in plan:
        assert shapes[t.source] == t.shape, t.name
        assert (t.store == "f32") == (t.role in FLOAT_ROLES), t.name
        if t.role != "output":  # a text-only save's names are the store's
            assert t.name == t.source
    kinds = [dims.kind(t.layer) for t in plan if t.role == "ssm_a"]
    assert len(kinds) == 3 and set(kinds) == {LINEAR}
    assert [t.layer for t in plan if t.role == "attn_q"] == [2]
    check_plan(SafetensorsSource(FIXTURE), plan, "the fixture")


def test_gguf_names_are_the_qwen35_architectures():
    import gguf

    known = {gguf.TENSOR_NAMES[t] for t in gguf.MODEL_TENSORS[gguf.MODEL_ARCH.QWEN35]}
    ours = {t.gguf for t in (*QWEN35.layer_tensors, *QWEN35.model_tensors)}
    bare = {name.replace("{i}", "{bid}").removesuffix(".weight").removesuffix(".bias")
            for name in ours if name}  # fmt: skip
    assert bare == known
    assert "blk.{i}.ssm_dt.bias" in ours and "blk.{i}.ssm_a" in ours


def test_quantizing_it_needs_its_safetensors(tmp_path):
    """Our decoder runs it (tests/core/test_qwen35_native.py); a folder of .bin files only,
    which bigdl-llm's whole-model path would build, is refused in one sentence."""
    assert QWEN35.decoded and not QWEN35.bigdl
    folder = tmp_path / "bin"
    folder.mkdir()
    shutil.copy(FIXTURE / "config.json", folder)
    shutil.copy(FIXTURE / "model.safetensors", folder / "pytorch_model.bin")
    with pytest.raises(UsageError, match="Qwen3.5 model without safetensors files"):
        quantize_folder(folder, "m", root=tmp_path / "store")
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())


def test_gguf_steps_order_value_heads_as_llama_cpp_and_come_back():
    """Value heads go from grouped by key head to tiled (llama.cpp repeats q/k by tiling):
    with 2 key heads serving 3 value heads each, grouped head h (key head h // 3) lands at
    (h % 3) * 2 + h // 3, whose key head is its position % 2. (Every tensor's steps were also
    checked against the converter itself: tests/fixtures/qwen35_reference/check_gguf_steps.py.)"""
    d = QWEN35.dims({**TEXT, "linear_num_value_heads": 6})
    tiled = to_gguf(np.arange(6, dtype=np.float32), ("v_tiled_heads",), d)
    assert tiled.tolist() == [0, 3, 1, 4, 2, 5]
    assert all(int(h) // 3 == position % 2 for position, h in enumerate(tiled))
    a_log = np.log(np.arange(1, 7, dtype=np.float32))
    assert np.allclose(to_gguf(a_log, ("v_tiled_heads", "neg_exp"), d), -tiled - 1)
    rng = np.random.default_rng(0)
    for spec in (*QWEN35.layer_tensors, *QWEN35.model_tensors):
        values = rng.standard_normal(spec.shape_in(d)).astype(np.float32)
        there = to_gguf(values, spec.gguf_steps, d)
        if spec.role == "ssm_conv1d":
            assert there.shape == (d.linear_conv_dim, d.conv_kernel)
        np.testing.assert_allclose(from_gguf(there, spec.gguf_steps, d), values, atol=1e-5)


def nested(text: dict, **outer) -> dict:
    return {"model_type": "qwen3_5", "text_config": text, "vision_config": {"depth": 1}, **outer}


def test_configs_of_every_shape_read_the_same():
    want = QWEN35.dims(TEXT)
    older = {k: v for k, v in TEXT.items() if k not in ("rope_parameters", "layer_types")}
    older |= {"rope_theta": 1e7, "partial_rotary_factor": 0.25, "full_attention_interval": 3,
              "rope_scaling": {"type": "mrope", "mrope_section": [2, 1, 1]}}  # fmt: skip
    older_dims = QWEN35.dims(older)
    assert older_dims.layer_types == (LINEAR, LINEAR, FULL, LINEAR)  # every 3rd; here the 3rd
    assert older_dims.rope_base == 1e7 and older_dims.rotary_dim == 8
    assert older_dims.lm_prefix == "model."
    vl = QWEN35.dims(nested({**TEXT, "tie_word_embeddings": False}, tie_word_embeddings=True))
    assert vl.lm_prefix == "model.language_model."
    assert vl.tied  # transformers ties by the outer config
    assert {**vl.__dict__, "lm_prefix": "model."} == want.__dict__
    assert QWEN35.refuse(older) is None and QWEN35.refuse(nested(TEXT)) is None


@pytest.mark.parametrize(
    "config, said",
    [
        ({**TEXT, "model_type": "qwen3_5_moe_text"}, "it is a Mixture-of-Experts Qwen3.5"),
        (nested(TEXT, model_type="qwen3_5_moe"), r"Mixture-of-Experts Qwen3.5 \(qwen3_5_moe\)"),
        ({"model_type": "qwen3_5_vision", "depth": 27}, "vision encoder alone"),
        ({"model_type": "qwen3_5", "vision_config": {"depth": 27}}, "no text_config"),
        ({**TEXT, "rope_parameters": {"rope_type": "yarn", "factor": 4.0}}, r"rotary.*\(yarn\)"),
        ({**TEXT, "layer_types": ["linear_attention"] * 3 + ["mamba"]}, "layer_types"),
        ({**TEXT, "linear_num_value_heads": 3}, "multiple of its linear_num_key_heads"),
        ({**TEXT, "attention_bias": True}, "attention has biases"),
        ({k: v for k, v in TEXT.items() if k != "hidden_size"}, "no hidden_size"),
    ],
)
def test_what_it_cannot_run_is_one_sentence(tmp_path, config, said):
    folder = tmp_path / "src"
    shutil.copytree(FIXTURE, folder)
    (folder / "config.json").write_text(json.dumps(config))
    assert family_for(config["model_type"]) is QWEN35
    with pytest.raises(UsageError, match=f"cannot run: .*{said}") as caught:
        quantize_folder(folder, "m", root=tmp_path / "store")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())
