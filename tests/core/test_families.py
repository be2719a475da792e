"""The family tables against what today's quantizer stores: for every tiny model (Qwen-1,
Qwen2 untied and tied, Qwen3) and every recipe, the plan names exactly the tensors of
model.safetensors, with their byte sizes, formats and dtypes, and takes each from a source
tensor of the right shape. The quantizer here is the bigdl-llm path through a whole float
model (store/quantize.py), written before the tables: an independent account of the store."""

from __future__ import annotations

import json

import pytest
from qwen1_fixture import build_tiny_qwen1
from safetensors import safe_open

from qwen_tui.families import BY_NAME, FAMILIES, family_for
from qwen_tui.recipes import RECIPES
from qwen_tui.store.quantize import quantize_folder
from qwen_tui.testing.tiny import build_tiny_qwen2
from qwen_tui.testing.tiny_qwen3 import build_tiny_qwen3

BUILDERS = {
    "qwen1": build_tiny_qwen1,
    "qwen2": build_tiny_qwen2,
    "qwen2-tied": lambda path: build_tiny_qwen2(path, tie_word_embeddings=True),
    "qwen3": build_tiny_qwen3,
}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("family-sources")
    return {name: build(root / name) for name, build in BUILDERS.items()}


@pytest.mark.parametrize("model", sorted(BUILDERS))
@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_the_plan_is_what_the_store_holds(sources, tmp_path, model, recipe):
    source = sources[model]
    config = json.loads((source / "config.json").read_text())
    family = family_for(config["model_type"])
    dims = family.dims(config)
    plan = family.plan(dims, RECIPES[recipe])
    stored = quantize_folder(source, "m", recipe, root=tmp_path, measure=False)
    assert stored.manifest.family == family.name
    layout = json.loads((stored.path / "qwen-tui-lowbit.json").read_text())
    with safe_open(str(stored.path / "model.safetensors"), "np") as weights:
        held = {k: weights.get_slice(k) for k in weights.keys()}  # noqa: SIM118
        assert sorted(held) == sorted(t.name for t in plan)
        for t in plan:
            data = held[t.name]
            if t.store == "f32":
                assert (data.get_dtype(), tuple(data.get_shape())) == ("F32", t.shape), t.name
            else:
                assert data.get_dtype() == "U8" and data.get_shape() == [t.nbytes], t.name
                module = t.name.removesuffix(".weight")
                expected = layout["modules"].get(module) or layout["embedding"]["format"]
                assert t.store == expected, t.name
    shared = layout["embedding"]["shared_with"]
    assert (shared == "lm_head") == dims.tied
    with safe_open(str(source / "model.safetensors"), "np") as src:
        for t in plan:
            shape = src.get_slice(t.source).get_shape()
            rows = shape[0] if t.rows is None else t.rows[1] - t.rows[0]
            assert (rows, *shape[1:]) == t.shape, t.name
            if t.rows:
                assert t.rows[1] <= shape[0]


def test_every_family_is_known_by_its_model_type():
    assert all(family_for(t) is f for f in FAMILIES for t in f.model_types)
    types = [t for f in FAMILIES for t in f.model_types]
    assert len(set(types)) == len(types)
    assert family_for("llama") is None and BY_NAME["qwen"].refuse({"visual": {"image_size": 448}})


@pytest.mark.parametrize(
    "model, change, said",
    [
        ("qwen1", {"visual": {"image_size": 448}}, "it is Qwen-VL, a vision model"),
        ("qwen1", {"rotary_pct": 0.5}, "its rotary_pct is not 1.0"),
        ("qwen3", {"rope_scaling": {"type": "yarn", "factor": 4}}, "it scales its rotary"),
        ("qwen3", {"use_sliding_window": True}, "it uses sliding-window attention"),
    ],
)
def test_a_shape_the_family_cannot_run_is_one_sentence(sources, tmp_path, model, change, said):
    import shutil

    from qwen_tui.errors import UsageError

    folder = tmp_path / "src"
    shutil.copytree(sources[model], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **change}))
    with pytest.raises(UsageError, match=f"cannot run: {said}"):
        quantize_folder(folder, "m", root=tmp_path / "store")
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())
