"""Qwen-1 on qwen-tui's own model code and tokenizer: the original code's numbers and ids, and
no file of a Qwen-1 repo or folder ever runs (quantize, pull, load, ask, serve)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from qwen1_fixture import CODE_FILES, build_tiny_qwen1, copy_sidecars

from qwen_tui import paths
from qwen_tui.cli import main
from qwen_tui.engine.bigdl.engine import BigdlEngine
from qwen_tui.engine.models import qwen1, register
from qwen_tui.engine.models.qwen1_tokenizer import Qwen1Tokenizer
from qwen_tui.manifest import read_manifest, scan_files, write_manifest

COMMIT = "c" * 40


def plant_marker(folder: Path, marker: Path) -> None:
    """Make every Python file of ``folder`` note that it ran (then do what it did before)."""
    for code in folder.glob("*.py"):
        line = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
        code.write_text(line + code.read_text(encoding="utf-8"), encoding="utf-8")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return build_tiny_qwen1(tmp_path_factory.mktemp("q1") / "tiny-qwen1")


def remote_model(folder: Path):
    """The original Qwen-1 code (vendored in tests/fixtures, run on purpose as the reference)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder), trust_remote_code=True).eval()


def prompt_and_steps(model, ids: list[int], steps: list[int]) -> list[torch.Tensor]:
    with torch.inference_mode():
        out = model(torch.tensor([ids]), use_cache=True)
        logits, past = [out.logits[0]], out.past_key_values
        for token in steps:
            out = model(torch.tensor([[token]]), past_key_values=past, use_cache=True)
            logits.append(out.logits[0])
            past = out.past_key_values
    return logits


@pytest.mark.parametrize("seq_length", [8192, 16])
def test_our_model_gives_the_original_codes_logits(source, tmp_path, seq_length):
    """Prompt and decode steps; with seq_length 16 a 40-token prompt runs past it, so Qwen-1's
    dynamic NTK rotary scaling and logn attention are compared too."""
    folder = tmp_path / "m"
    shutil.copytree(source, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "seq_length": seq_length}))
    register()
    ours = qwen1.QWenLMHeadModel.from_pretrained(str(folder)).eval()
    theirs = remote_model(folder)
    assert type(theirs).__module__.endswith("modeling_qwen")  # the vendored original
    ids = [(7 * i + 3) % 500 for i in range(40)]
    for a, b in zip(
        prompt_and_steps(ours, ids, [11, 12, 13]),
        prompt_and_steps(theirs, ids, [11, 12, 13]),
        strict=True,
    ):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5)
    if seq_length == 16:
        assert ours.transformer.rotary_emb._ntk_alpha_cached_list == [7]


TEXTS = [
    "Hello, world! How are you today?",
    "你好，我是一个有用的助手。今天天气很好 😀🚀",
    "def add(a, b):\n    return a + b\n\n\n",
    "Say <|im_end|> and <|endoftext|> and <|extra_3|> please",
    "caf\u0065\u0301 vs caf\u00e9",  # NFC turns the first into the second
    "   leading spaces\ttabs\r\nand CRLF   ",
    "",
]


def test_our_tokenizer_gives_qwen_tokenizers_ids(source):
    from transformers import AutoTokenizer

    theirs = AutoTokenizer.from_pretrained(str(source), trust_remote_code=True)
    ours = Qwen1Tokenizer.from_folder(source)
    assert (ours.eod_id, ours.im_start_id, ours.im_end_id) == (
        theirs.eod_id,
        theirs.im_start_id,
        theirs.im_end_id,
    )
    assert len(ours) == len(theirs)
    for text in TEXTS:
        assert ours.encode(text) == theirs.encode(text)
        plain = ours.encode(text, allowed_special=set())
        assert plain == theirs.encode(text, allowed_special=set())
        assert ours.decode(plain) == theirs.decode(plain)
    mixed = ours.encode(TEXTS[3])
    assert ours.im_end_id in mixed and ours.decode(mixed) == theirs.decode(mixed)
    assert ours.decode(mixed, skip_special_tokens=True) == theirs.decode(
        mixed, skip_special_tokens=True
    )


def test_a_broken_vocabulary_file_is_refused_in_one_sentence(tmp_path):
    from qwen_tui.engine.models.qwen1_tokenizer import TokenizerFileError

    (tmp_path / "qwen.tiktoken").write_text("IQ== 0\nnot-base64! 1\n")
    with pytest.raises(TokenizerFileError, match="line 2"):
        Qwen1Tokenizer.from_folder(tmp_path)
    with pytest.raises(TokenizerFileError, match="no qwen.tiktoken"):
        Qwen1Tokenizer.from_folder(tmp_path / "missing")


@pytest.fixture
def hostile(source, tmp_path):
    """A Qwen-1 folder (Qwen-1's auto_map) whose every Python file writes a marker if run."""
    folder = tmp_path / "hostile-qwen1"
    shutil.copytree(source, folder)
    marker = tmp_path / "RAN"
    plant_marker(folder, marker)
    return folder, marker


def test_no_code_of_a_qwen1_folder_runs_to_quantize_load_or_ask(hostile, capsys):
    folder, marker = hostile
    assert main(["quantize", str(folder), "--name", "q1"]) == 0
    stored = paths.models_dir() / "q1-mixed_int5"
    manifest = read_manifest(stored)
    assert manifest.family == "qwen" and not manifest.remote_code
    assert not list(stored.glob("*.py"))  # the store keeps no code that would never run
    assert main(["ask", "你好", "--model", "q1", "--max-new-tokens", "4"]) == 0
    assert capsys.readouterr().out.strip()
    assert not marker.exists(), marker.read_text()


def test_a_folder_of_an_earlier_version_with_code_loads_on_ours(hostile, tmp_path):
    """Folders quantized before this (and bigdl-llm's save_low_bit folders) hold Qwen-1's code
    and a manifest saying remote_code: they load through our classes; their code never runs."""
    folder, marker = hostile
    assert main(["quantize", str(folder), "--name", "old", "--no-quality"]) == 0
    stored = paths.models_dir() / "old-mixed_int5"
    for name in CODE_FILES:
        shutil.copy2(folder / name, stored / name)
    manifest = read_manifest(stored)
    from dataclasses import replace

    write_manifest(stored, replace(manifest, remote_code=True, files=scan_files(stored)))
    engine = BigdlEngine(stored, threads=1)
    engine.load()
    try:
        assert type(engine._lm.model).__module__ == "qwen_tui.engine.models.qwen1"
        assert isinstance(engine._builder.tokenizer, Qwen1Tokenizer)
    finally:
        engine.unload()
    assert not marker.exists(), marker.read_text()


def test_bigdl_save_low_bit_folder_of_the_original_recipe_loads_on_ours(
    source, tmp_path, monkeypatch
):
    """The original recipe: bigdl-llm's from_pretrained(load_in_low_bit) with Qwen-1's code,
    save_low_bit. Such a folder (with a manifest, as qwen-tui's earlier versions wrote) loads
    through our classes and, on bigdl-llm's kernel and forwards, answers as the original code's
    model did."""
    from qwen_tui.engine.bigdl.patches import layer_kv

    monkeypatch.setenv("QWEN_TUI_MATMUL", "bigdl")
    monkeypatch.setenv("QWEN_TUI_DECODER", "bigdl")
    monkeypatch.setattr(layer_kv, "CACHE_DTYPE", "float32")  # bigdl-llm's own cache
    from bigdl.llm.transformers import AutoModelForCausalLM as BigdlAuto

    model = BigdlAuto.from_pretrained(
        str(source), load_in_low_bit="sym_int4", trust_remote_code=True, torch_dtype=torch.float32
    ).eval()
    out = paths.models_dir() / "legacy-sym_int4"
    model.save_low_bit(str(out))
    copy_sidecars(source, out)
    marker = tmp_path / "RAN"
    plant_marker(out, marker)
    from qwen_tui.manifest import Manifest

    write_manifest(
        out,
        Manifest("legacy", "sym_int4", "qwen", str(source), None, True, scan_files(out)),
    )
    ids = [(5 * i + 1) % 400 for i in range(24)]
    with torch.inference_mode():
        expected = model(torch.tensor([ids])).logits[0, -1]
    engine = BigdlEngine(out, threads=1)
    engine.load()
    try:
        assert type(engine._lm.model).__module__ == "qwen_tui.engine.models.qwen1"
        got = engine.score(ids)[-1]
    finally:
        engine.unload()
    assert not marker.exists(), marker.read_text()
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_pull_of_a_qwen1_repo_runs_none_of_its_code(hub_server, hostile, monkeypatch):
    folder, marker = hostile
    hub_server.add_repo("someone/qwen1-chat", folder, commit=COMMIT)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    assert main(["pull", "someone/qwen1-chat", "--name", "q1p"]) == 0
    assert read_manifest(paths.models_dir() / "q1p-mixed_int5").family == "qwen"
    assert not marker.exists(), marker.read_text()


def test_serve_model_path_runs_none_of_a_qwen1_folders_code(hostile, tmp_path):
    folder, marker = hostile
    assert main(["quantize", str(folder), "--name", "q1s", "--no-quality"]) == 0
    outside = tmp_path / "elsewhere"
    shutil.copytree(paths.models_dir() / "q1s-mixed_int5", outside)
    for name in CODE_FILES:  # a folder that arrived with code and a manifest trusting it
        shutil.copy2(folder / name, outside / name)
    manifest = read_manifest(outside)
    from dataclasses import replace

    write_manifest(outside, replace(manifest, remote_code=True, files=scan_files(outside)))
    process = subprocess.Popen(
        [sys.executable, "-m", "qwen_tui", "serve", "--port", "0", "--model-path", str(outside)],
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        line = process.stderr.readline()
        assert "serving" in line, line + process.stderr.read()
        import openai

        url = line.split(" at ", 1)[1].split()[0].rstrip(";").rstrip(".")
        client = openai.OpenAI(base_url=url, api_key="none", max_retries=0)
        model_id = client.models.list().data[0].id
        reply = client.chat.completions.create(
            model=model_id, messages=[{"role": "user", "content": "hi"}], max_tokens=3
        )
        assert reply.choices[0].message.content is not None
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert not marker.exists(), marker.read_text()


CUSTOM_CODE = """
from transformers.models.qwen2.modeling_qwen2 import (  # bigdl-llm looks these up here
    Qwen2Attention, Qwen2ForCausalLM, Qwen2MLP, Qwen2Model, Qwen2RMSNorm,
)


class CustomForCausalLM(Qwen2ForCausalLM):
    pass
"""


@pytest.fixture
def custom(tiny_source, tmp_path):
    """A Qwen2 folder whose auto_map names a class of its own: code qwen-tui does not have."""
    folder = tmp_path / "custom"
    shutil.copytree(tiny_source, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "custom_qwen.CustomForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "custom_qwen.py").write_text(CUSTOM_CODE)
    marker = tmp_path / "RAN"
    plant_marker(folder, marker)
    return folder, marker


def test_trusted_code_runs_only_as_quantized_and_only_from_the_store(custom, tmp_path, capsys):
    folder, marker = custom
    assert main(["quantize", str(folder), "--name", "c", "--no-quality"]) == 1
    assert "--trust-remote-code" in capsys.readouterr().err and not marker.exists()
    assert main(["quantize", str(folder), "--name", "c", "--trust-remote-code"]) == 0
    assert marker.exists()  # the user said so
    stored = paths.models_dir() / "c-mixed_int5"
    manifest = read_manifest(stored)
    assert manifest.remote_code and "custom_qwen.py" in {f.name for f in manifest.files}
    engine = BigdlEngine(stored, threads=1)
    engine.load()  # as quantized: its own class
    assert type(engine._lm.model).__name__ == "CustomForCausalLM"
    engine.unload()
    assert main(["ask", "hi", "--model", "c", "--max-new-tokens", "2"]) == 0
    capsys.readouterr()

    outside = tmp_path / "copied"
    shutil.copytree(stored, outside)
    assert main(["ask", "hi", "--model-path", str(outside), "--max-new-tokens", "2"]) == 1
    assert "only for models it quantized into its store" in capsys.readouterr().err

    code = stored / "custom_qwen.py"
    original = code.read_text()
    code.write_text(original.replace("up here", "UP HERE"))  # same size: only a hash tells
    assert main(["ask", "hi", "--model", "c", "--max-new-tokens", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "custom_qwen.py is not the one it was quantized with" in err[0]
    code.write_text(original)
    (stored / "extra.py").write_text("x = 1\n")
    assert main(["ask", "hi", "--model", "c", "--max-new-tokens", "2"]) == 1
    assert "extra.py is not the one" in capsys.readouterr().err


def test_the_longest_token_is_the_longest_entry_in_bytes(source):
    from qwen_tui.engine.generate.prompt import PromptBuilder

    ours = Qwen1Tokenizer.from_folder(source)
    longest = max(len(t) for t in ours._ranks)
    assert PromptBuilder(ours).longest_token() == max(longest, len("<|extra_204|>"))
