"""`qwen-tui pull` end to end against a loopback server that speaks the hub's protocol."""

import json
import shutil

import pytest

from qwen_tui import paths
from qwen_tui.catalog import DEFAULT_LOW_BIT, find_entry
from qwen_tui.cli import main
from qwen_tui.manifest import read_manifest
from qwen_tui.store import local
from qwen_tui.testing.tiny import build_tiny_qwen2

COMMIT = "a" * 40
NEWER = "b" * 40
ENTRY = find_entry("qwen2.5-0.5b-instruct")
assert ENTRY is not None
PIN = ENTRY.revision  # the commit the catalog pins for Qwen/Qwen2.5-0.5B-Instruct


def test_pull_catalog_model_downloads_quantizes_and_records_the_commit(
    hub_server, tiny_source, monkeypatch, capsys
):
    hub_server.add_repo("Qwen/Qwen2.5-0.5B-Instruct", tiny_source, commit=PIN)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    assert main(["pull", "qwen2.5-0.5b-instruct"]) == 0, capsys.readouterr().err
    out, err = capsys.readouterr()
    assert f"Ready: qwen2.5-0.5b-instruct-{DEFAULT_LOW_BIT}" in out
    assert "note:" not in err  # main is at the pin: nothing to say
    model = local.resolve("qwen2.5-0.5b-instruct")
    manifest = read_manifest(model.path)
    assert (manifest.source, manifest.commit, manifest.family) == (
        "Qwen/Qwen2.5-0.5B-Instruct",
        PIN,
        "qwen2",
    )
    # the download is not kept once the model is stored
    assert not any((paths.downloads_dir()).rglob("*.safetensors"))


@pytest.fixture
def moved_on(hub_server, tiny_source, tmp_path, monkeypatch):
    """The catalog's pinned commit, and a newer one (with a LICENSE) that main points at."""
    newer = tmp_path / "newer"
    shutil.copytree(tiny_source, newer)
    (newer / "LICENSE").write_text("a file only the newer revision has\n")
    hub_server.add_repo("Qwen/Qwen2.5-0.5B-Instruct", tiny_source, commit=PIN)
    hub_server.add_repo("Qwen/Qwen2.5-0.5B-Instruct", newer, commit=NEWER)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    return hub_server


def test_a_repo_that_moved_on_is_pulled_at_its_pin_and_says_so(moved_on, capsys):
    assert main(["pull", "qwen2.5-0.5b-instruct"]) == 0, capsys.readouterr().err
    notes = [line for line in capsys.readouterr().err.splitlines() if "note:" in line]
    assert notes == [
        f"qwen-tui: note: Qwen/Qwen2.5-0.5B-Instruct has moved on since the catalog pinned "
        f"{PIN[:7]} (main is now {NEWER[:7]}); pulling the pinned commit. `--revision main` "
        "takes the newest."
    ]
    manifest = local.resolve("qwen2.5-0.5b-instruct").manifest
    assert manifest.commit == PIN and "LICENSE" not in {f.name for f in manifest.files}
    downloads = [p for m, p in moved_on.requests if m == "GET" and "/resolve/" in p]
    assert downloads and all(f"/resolve/{PIN}/" in p for p in downloads)


def test_a_pin_the_hub_lost_is_one_sentence_and_revision_main_takes_the_newest(moved_on, capsys):
    moved_on.forget_commit("Qwen/Qwen2.5-0.5B-Instruct", PIN)
    assert main(["pull", "qwen2.5-0.5b-instruct"]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == (
        f"qwen-tui: The hub no longer has commit {PIN[:7]} of Qwen/Qwen2.5-0.5B-Instruct, the "
        "one the catalog pins. Run `qwen-tui pull qwen2.5-0.5b-instruct --revision main` to take "
        "the newest (its commit is recorded), or update qwen-tui for a newer pin."
    )
    assert local.list_local() == [] and not moved_on.bytes_served
    assert main(["pull", "qwen2.5-0.5b-instruct", "--revision", "main"]) == 0
    manifest = local.resolve("qwen2.5-0.5b-instruct").manifest
    assert manifest.commit == NEWER and "LICENSE" in {f.name for f in manifest.files}


def test_an_explicit_revision_wins_over_the_pin(moved_on, capsys):
    assert main(["pull", "Qwen/Qwen2.5-0.5B-Instruct", "--revision", NEWER]) == 0
    assert "note:" not in capsys.readouterr().err
    assert local.resolve("qwen2.5-0.5b-instruct").manifest.commit == NEWER


@pytest.fixture(scope="module")
def bigger_source(tmp_path_factory):
    """Weights of several MB: huggingface_hub resumes at whole 1 MiB chunks."""
    return build_tiny_qwen2(
        tmp_path_factory.mktemp("bigger"), hidden_size=256, intermediate_size=512
    )


def test_pull_resumes_a_cut_off_transfer(hub_server, bigger_source, monkeypatch, capsys):
    hub_server.add_repo("someone/tiny-chat", bigger_source, commit=COMMIT)
    size = (bigger_source / "model.safetensors").stat().st_size
    assert size > 3 << 20
    hub_server.cut_after_bytes["model.safetensors"] = size * 3 // 4
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    assert main(["pull", "someone/tiny-chat", "--name", "t"]) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # progress lines come first
    assert last.startswith("qwen-tui: ") and "again to resume" in last
    # outside the catalog nothing is pinned: main is taken, and the note says which commit
    assert f"no commit is pinned: taking main, now at {COMMIT[:7]}" in err
    assert local.list_local() == []
    assert main(["pull", "someone/tiny-chat", "--name", "t"]) == 0
    assert any(
        n == "model.safetensors" and h and h.startswith("bytes=")
        for n, h in hub_server.range_headers
    )
    assert hub_server.bytes_served["model.safetensors"] < size * 1.5
    assert local.resolve("t").manifest.source == "someone/tiny-chat"


def test_pull_refuses_unknown_remote_code_before_downloading_weights(
    hub_server, tiny_source, tmp_path, monkeypatch, capsys
):
    repo = tmp_path / "repo"
    shutil.copytree(tiny_source, repo)
    config = json.loads((repo / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "custom.Model"}
    (repo / "config.json").write_text(json.dumps(config))
    hub_server.add_repo("someone/custom", repo, commit=COMMIT)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    assert main(["pull", "someone/custom"]) == 1
    assert "--trust-remote-code" in capsys.readouterr().err
    assert hub_server.bytes_served.get("model.safetensors", 0) == 0


def test_pull_from_an_unreachable_hub_names_the_offline_routes(monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert main(["pull"]) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert (
        last.startswith("qwen-tui: Cannot reach")
        and "HF_ENDPOINT" in last
        and "quantize PATH" in last
    )


def test_pull_rejects_nonsense_names(capsys):
    assert main(["pull", "not a repo"]) == 2
    assert "neither a catalog model nor" in capsys.readouterr().err


def test_models_shows_an_interrupted_catalog_download(hub_server, tiny_source, monkeypatch, capsys):
    hub_server.add_repo("Qwen/Qwen2.5-0.5B-Instruct", tiny_source, commit=PIN)
    hub_server.cut_after_bytes["model.safetensors"] = 1000
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    assert main(["pull", "qwen2.5-0.5b-instruct"]) == 1
    capsys.readouterr()
    assert main(["models"]) == 0
    rows = capsys.readouterr().out.splitlines()
    at = next(i for i, row in enumerate(rows) if row.startswith("  qwen2.5-0.5b-instruct "))
    assert rows[at + 1] == f"      {ENTRY.good_for}"
    assert rows[at + 2] == "      partly downloaded (pull again to resume)"


def test_models_lists_licence_sizes_ram_and_good_for_in_80_columns(capsys):
    assert main(["models"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert all(len(row) <= 80 for row in rows)
    row = next(r for r in rows if r.startswith("  qwen3-1.7b "))
    entry = find_entry("qwen3-1.7b")
    assert row.split() == [
        "qwen3-1.7b",
        f"{entry.download_gb:.2f}",
        f"{entry.stored_gb():.2f}", "/", f"{entry.stored_gb('sym_int4'):.2f}",
        f"{entry.ram_to_chat() / 1024**3:.1f}", "/", f"{entry.ram_to_quantize_gb():.1f}",
        "Apache-2.0",
    ]  # fmt: skip
    assert rows[rows.index(row) + 1] == f"      {entry.good_for}"
