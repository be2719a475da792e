"""Quantize into the store, seal with a manifest, list, verify, remove; never half-written."""

import json
import os
import shutil
import threading

import pytest

from qwen_tui import paths
from qwen_tui.errors import (
    Cancelled,
    ModelIncomplete,
    ModelNotFound,
    NotEnoughDisk,
    NotEnoughMemory,
    QuantizeFailed,
    RemoteCodeRefused,
    UsageError,
)
from qwen_tui.manifest import MANIFEST, read_manifest, sha256_of, verify
from qwen_tui.remote_code import check_remote_code
from qwen_tui.store import local, quantize, seal, source


def test_manifest_records_everything(tiny_quantized, tiny_source):
    m = tiny_quantized.manifest
    assert (m.name, m.low_bit, m.family, m.source) == (
        "tiny",
        "sym_int4",
        "qwen2",
        str(tiny_source),
    )
    names = {f.name for f in m.files}
    assert {"config.json", "tokenizer.json", "generation_config.json"} <= names
    for f in m.files:
        path = tiny_quantized.path / f.name
        assert path.stat().st_size == f.size and sha256_of(path) == f.sha256
    assert {"bigdl-llm", "transformers", "torch"} <= set(m.versions)
    assert tiny_quantized.folder_name == "tiny-sym_int4"


def test_list_resolve_and_remove(installed_model):
    models = local.list_local()
    assert [m.folder_name for m in models] == ["tiny-sym_int4"]
    assert local.resolve("tiny").path == installed_model
    assert local.resolve("tiny-sym_int4").path == installed_model
    assert local.choose(None, None).path == installed_model
    local.remove("tiny")
    assert local.list_local() == [] and not installed_model.exists()
    with pytest.raises(ModelNotFound, match="tiny"):
        local.resolve("tiny")


def test_folders_without_a_manifest_are_invisible(installed_model):
    half = paths.models_dir() / "half-sym_int4"
    shutil.copytree(installed_model, half)
    (half / MANIFEST).unlink()
    (paths.models_dir() / ".tmp-other-sym_int4-1").mkdir()
    assert [m.folder_name for m in local.list_local()] == ["tiny-sym_int4"]


def test_damaged_model_is_detected(installed_model):
    weights = installed_model / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:-10])
    with pytest.raises(ModelIncomplete, match="wrong size"):
        verify(installed_model)
    weights.write_bytes(data[:-10] + b"0123456789")
    verify(installed_model)  # sizes only
    with pytest.raises(ModelIncomplete, match="checksum"):
        verify(installed_model, deep=True)


def _leftovers():
    root = paths.models_dir()
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_cancelled_quantize_leaves_nothing(tiny_source):
    cancel = threading.Event()

    def progress(p):
        if p.stage == "quantize" and p.detail.startswith("tensor 3 of"):
            cancel.set()  # mid-way through the weights

    with pytest.raises(Cancelled):
        quantize.quantize_folder(tiny_source, "c", progress=progress, cancel=cancel)
    assert _leftovers() == []


def test_crash_while_saving_leaves_nothing_that_looks_ready(tiny_source, monkeypatch):
    real = seal._check_tokenizer

    def boom(folder, family, remote):
        real(folder, family, remote)
        assert any(folder.iterdir())  # weights were already written
        raise RuntimeError("disk went away")

    monkeypatch.setattr(seal, "_check_tokenizer", boom)
    with pytest.raises(QuantizeFailed, match="disk went away"):
        quantize.quantize_folder(tiny_source, "crash")
    assert _leftovers() == [] and local.list_local() == []


def test_stale_temporary_folders_are_swept(tiny_source):
    root = paths.models_dir()
    dead = root / ".tmp-old-sym_int4-999999999"
    dead.mkdir(parents=True)
    (dead / "model.safetensors").write_bytes(b"x")
    alive = root / f".tmp-busy-sym_int4-{os.getpid()}"
    alive.mkdir()
    local.sweep_stale(root)
    assert not dead.exists() and alive.exists()


def test_requantize_replaces_only_when_forced_and_atomically(installed_model, tiny_source):
    before = read_manifest(installed_model).created_at
    with pytest.raises(UsageError, match="already exists") as refused:
        quantize.quantize_folder(tiny_source, "tiny", "sym_int4")
    assert "--force" in refused.value.hint
    assert read_manifest(installed_model).created_at == before
    model = quantize.quantize_folder(tiny_source, "tiny", "sym_int4", force=True)
    assert model.path == installed_model and read_manifest(installed_model).created_at > before
    assert [p.name for p in paths.models_dir().iterdir()] == ["tiny-sym_int4"]


def test_bad_sources_are_refused(tmp_path, tiny_source):
    with pytest.raises(UsageError, match="does not exist"):
        quantize.quantize_folder(tmp_path / "nope", "x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="config.json"):
        quantize.quantize_folder(tmp_path / "empty", "x")
    llama = tmp_path / "llama"
    shutil.copytree(tiny_source, llama)
    config = json.loads((llama / "config.json").read_text())
    (llama / "config.json").write_text(json.dumps({**config, "model_type": "llama"}))
    with pytest.raises(UsageError, match="Qwen chat models only"):
        quantize.quantize_folder(llama, "x")
    with pytest.raises(UsageError, match="low-bit"):
        quantize.quantize_folder(tiny_source, "x", "int3")
    with pytest.raises(UsageError, match="name"):
        quantize.quantize_folder(tiny_source, "../evil")


def test_unknown_remote_code_needs_explicit_trust(tmp_path, tiny_source):
    custom = tmp_path / "custom"
    shutil.copytree(tiny_source, custom)
    config = json.loads((custom / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "evil.Model"}
    (custom / "config.json").write_text(json.dumps(config))
    with pytest.raises(RemoteCodeRefused) as refused:
        quantize.quantize_folder(custom, "x")
    assert "--trust-remote-code" in refused.value.hint
    qwen1 = {
        "model_type": "qwen",
        "auto_map": {"AutoModelForCausalLM": "Qwen/Qwen-1_8B-Chat--modeling_qwen.QWenLMHeadModel"},
    }
    # Qwen-1's own auto_map names the class qwen-tui has: nothing of the folder's runs
    assert check_remote_code(qwen1, custom, trusted=False) is False


def test_auto_map_points_at_local_code(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "auto_map": {
                    "AutoConfig": "Qwen/Qwen-1_8B-Chat--configuration_qwen.QWenConfig",
                    "AutoTokenizer": ["Qwen/x--tokenization_qwen.QWenTokenizer", None],
                }
            }
        )
    )
    source.strip_hub_prefixes(path)
    data = json.loads(path.read_text())["auto_map"]
    assert data == {
        "AutoConfig": "configuration_qwen.QWenConfig",
        "AutoTokenizer": ["tokenization_qwen.QWenTokenizer", None],
    }


def test_not_enough_disk_or_memory_is_refused_with_numbers(tiny_source, monkeypatch):
    from qwen_tui.store import resources

    free_disk = resources.free_disk
    monkeypatch.setattr(resources, "free_disk", lambda path: 1000)
    with pytest.raises(NotEnoughDisk, match=r"needed, 1000 B free"):
        quantize.quantize_folder(tiny_source, "x")
    # not monkeypatch.undo(): that would also undo isolated_dirs and point at the user's models
    monkeypatch.setattr(resources, "free_disk", free_disk)
    monkeypatch.setattr(resources, "available_ram", lambda: 2048)
    with pytest.raises(NotEnoughMemory, match=r"2.0 KB available"):
        quantize.quantize_folder(tiny_source, "x")
    assert _leftovers() == []


@pytest.mark.parametrize(
    "body, said",
    [
        ('["a list"]', "is not a model configuration"),
        ('"text"', "is not a model configuration"),
        ('{"model_type": "qwen2", "auto_map": "x"}', "needs to run its own Python code"),
    ],
)
def test_a_config_of_another_shape_is_one_sentence(tmp_path, tiny_source, body, said, capsys):
    from qwen_tui.cli import main

    folder = tmp_path / "odd"
    shutil.copytree(tiny_source, folder)
    (folder / "config.json").write_text(body)
    assert main(["quantize", str(folder), "--name", "odd"]) in (1, 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("qwen-tui: ") and said in err[0], err
