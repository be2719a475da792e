"""`qwen-tui pull REPO --file NAME.gguf`: one file of a GGUF repo from the loopback hub, through
the GGUF import into the store, and the model it makes answers (the real tiny engine)."""

import json

import pytest
from gguf import GGMLQuantizationType as T
from gguf_fixture import write_gguf

from qwen_tui import paths
from qwen_tui.catalog import find_entry
from qwen_tui.cli import main
from qwen_tui.store import local
from qwen_tui.store.progress import human_bytes

COMMIT = "c" * 40
REPO = "someone/tiny-GGUF"
WEIGHTS = ["token_embd", "output", "attn_q", "attn_k", "attn_v", "attn_output",
           "ffn_gate", "ffn_up", "ffn_down"]  # fmt: skip


@pytest.fixture(scope="module")
def gguf_repo(tiny_source, tmp_path_factory):
    """A GGUF repo as Qwen publishes them: a README, a licence and two .gguf files (the tiny
    Qwen2 model in Q8_0 and in F16)."""
    repo = tmp_path_factory.mktemp("gguf-repo")
    (repo / "README.md").write_text("tiny GGUF files\n")
    (repo / "LICENSE").write_text("Apache-2.0\n")
    write_gguf(tiny_source, repo / "tiny-Q8_0.gguf", {w: T.Q8_0 for w in WEIGHTS})
    write_gguf(tiny_source, repo / "tiny-F16.gguf", {w: T.F16 for w in WEIGHTS})
    return repo


@pytest.fixture
def served(hub_server, gguf_repo, monkeypatch):
    hub_server.add_repo(REPO, gguf_repo, commit=COMMIT)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    return hub_server


def test_pull_one_gguf_file_imports_it_and_the_model_answers(served, gguf_repo, capsys):
    assert main(["pull", REPO, "--file", "tiny-Q8_0.gguf", "--low-bit", "sym_int8"]) == 0, (
        capsys.readouterr().err
    )
    assert "Ready: tiny-q8_0-sym_int8" in capsys.readouterr().out
    model = local.resolve("tiny-q8_0")
    manifest = model.manifest
    assert (manifest.source, manifest.commit, manifest.family) == (
        f"{REPO}/tiny-Q8_0.gguf",
        COMMIT,
        "qwen2",
    )
    assert not model.problems()
    # only the chosen file came down, and it is gone once the model is stored
    assert served.bytes_served["tiny-Q8_0.gguf"] == (gguf_repo / "tiny-Q8_0.gguf").stat().st_size
    assert "tiny-F16.gguf" not in served.bytes_served
    assert not any(paths.downloads_dir().rglob("*.gguf"))
    ask = ["ask", "Hello", "--model", "tiny-q8_0", "--temperature", "0", "--max-new-tokens", "6"]
    assert main([*ask, "--json"]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert reply["model"] == "tiny-q8_0-sym_int8"
    assert reply["stats"]["generated_tokens"] == 6 and reply["reply"]


def test_a_gguf_repo_without_file_lists_its_files_with_sizes(served, gguf_repo, capsys):
    assert main(["pull", REPO]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    sizes = {
        n: human_bytes((gguf_repo / n).stat().st_size) for n in ("tiny-F16.gguf", "tiny-Q8_0.gguf")
    }
    assert err == (
        f"qwen-tui: {REPO} is a GGUF repo: pick one of its files, "
        f"tiny-F16.gguf ({sizes['tiny-F16.gguf']}), tiny-Q8_0.gguf ({sizes['tiny-Q8_0.gguf']}). "
        f"Run `qwen-tui pull {REPO} --file NAME`."
    )
    assert not served.bytes_served and local.list_local() == []


def test_a_file_the_repo_does_not_have_names_the_ones_it_has(served, capsys):
    assert main(["pull", REPO, "--file", "tiny-Q4_K_M.gguf"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"qwen-tui: {REPO} has no GGUF file named tiny-Q4_K_M.gguf at cccccc")
    assert "it has tiny-F16.gguf (" in err and err.endswith("Pass one of those to --file.")
    assert not served.bytes_served


def test_a_catalog_gguf_key_pulls_its_file_at_the_pin_and_can_keep_it(
    hub_server, gguf_repo, tmp_path, monkeypatch, capsys
):
    entry = find_entry("qwen3-1.7b-q8_0")
    assert entry is not None and entry.gguf_file == "Qwen3-1.7B-Q8_0.gguf"
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / entry.gguf_file).write_bytes((gguf_repo / "tiny-Q8_0.gguf").read_bytes())
    hub_server.add_repo(entry.repo_id, repo, commit=entry.revision)
    hub_server.add_repo(entry.repo_id, repo, commit=COMMIT)  # main has moved on since
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    assert main(["pull", "qwen3-1.7b-q8_0", "--name", "q", "--keep-download"]) == 0
    err = capsys.readouterr().err
    assert f"pinned {entry.revision[:7]} (main is now {COMMIT[:7]})" in err
    manifest = local.resolve("q").manifest
    assert manifest.commit == entry.revision
    assert manifest.source == f"{entry.repo_id}/{entry.gguf_file}"
    kept = paths.downloads_dir() / "Qwen--Qwen3-1.7B-GGUF" / entry.revision / entry.gguf_file
    assert kept.is_file()
