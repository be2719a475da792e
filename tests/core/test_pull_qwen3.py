"""A Qwen3 repo and a Qwen3 GGUF repo pulled from the loopback hub, quantized, and asked: the
stored models think (the scripted tiny Qwen3), through the CLI a user runs."""

import json

import pytest
from gguf import GGMLQuantizationType as T
from gguf_fixture import write_gguf

from qwen_tui.cli import main
from qwen_tui.store import local
from qwen_tui.testing.tiny_qwen3 import ANSWER, THINKING, build_tiny_qwen3

COMMIT = "d" * 40


@pytest.fixture(scope="module")
def qwen3_repo(tmp_path_factory):
    return build_tiny_qwen3(tmp_path_factory.mktemp("qwen3-repo"), scripted=True)


def ask(name: str, capsys) -> dict:
    question = ["ask", "What is 2+2?", "--model", name, "--temperature", "0", "--json"]
    assert main(question) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_a_qwen3_repo_pulls_quantizes_and_thinks(hub_server, qwen3_repo, monkeypatch, capsys):
    hub_server.add_repo("someone/tiny-qwen3", qwen3_repo, commit=COMMIT)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    assert main(["pull", "someone/tiny-qwen3", "--low-bit", "mixed_int5"]) == 0
    capsys.readouterr()
    manifest = local.resolve("tiny-qwen3").manifest
    assert (manifest.family, manifest.commit) == ("qwen3", COMMIT)
    reply = ask("tiny-qwen3", capsys)
    assert (reply["reply"], reply.get("reasoning", THINKING)) == (ANSWER, THINKING)


def test_a_qwen3_gguf_repo_pulls_with_file(hub_server, qwen3_repo, tmp_path, monkeypatch, capsys):
    repo = tmp_path / "gguf-repo"
    repo.mkdir()
    write_gguf(qwen3_repo, repo / "tiny-qwen3-Q8_0.gguf", {"ffn_up": T.Q8_0, "attn_q": T.Q8_0})
    hub_server.add_repo("someone/tiny-qwen3-GGUF", repo, commit=COMMIT)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    pull = ["pull", "someone/tiny-qwen3-GGUF", "--file", "tiny-qwen3-Q8_0.gguf"]
    assert main([*pull, "--name", "q3gguf", "--low-bit", "sym_int8"]) == 0
    capsys.readouterr()
    assert local.resolve("q3gguf").manifest.family == "qwen3"
    assert ask("q3gguf", capsys)["reply"] == ANSWER
