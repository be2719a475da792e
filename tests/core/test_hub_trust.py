"""A hub or mirror is not trusted: hostile listings from the loopback hub (tests/hubserver.py)
are refused before anything is written or removed, and HF_TOKEN goes only to the official hub
or to a mirror named in ``hf_token_mirrors``, never on to the host a file is redirected to."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hubserver import HubServer

from qwen_tui import paths
from qwen_tui.cli import main
from qwen_tui.errors import DownloadFailed
from qwen_tui.store.download import download_snapshot
from qwen_tui.store.hub_trust import MIRROR_HINT, may_send_token

REPO = "org/tiny-qwen"
COMMIT = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
TOKEN = "hf_test_token_not_for_anyone"


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    (src / "model.safetensors").write_bytes(os.urandom(300_000))  # LFS: redirected to the CDN
    return src


@pytest.fixture
def hub(hub_server: HubServer, repo_dir: Path) -> HubServer:
    hub_server.add_repo(REPO, repo_dir, commit=COMMIT)
    return hub_server


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with a file's bytes (None for a folder)."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


def downloads(hub: HubServer) -> list[str]:
    return [path for _, path in hub.requests if "/resolve/" in path or "__cdn__" in path]


# -- hostile file names -------------------------------------------------------------------------

VICTIM = "<victim>"  # replaced by the absolute path of a file outside the snapshot
HOSTILE_NAMES = [
    "../victim",  # the repo's folder, beside the snapshot
    "sub/../../victim",
    VICTIM,  # absolute
    "a\\b",
    "a\x00b",
    "line\nbreak",
    ".",
    "",
    "a//b",
    "trailing/",
    ".cache/huggingface/download/config.json.metadata",  # huggingface_hub's download state
    ".qwen-tui-complete",  # our marker: a listing cannot make a snapshot look complete
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_a_hostile_file_name_refuses_the_listing_before_anything_is_touched(
    hub: HubServer, tmp_path: Path, name: str
) -> None:
    victim = tmp_path / "dl" / "org--tiny-qwen" / "victim"  # ../victim from the snapshot
    victim.parent.mkdir(parents=True)
    victim.write_text("not the hub's to change")  # the wrong size: it would be unlinked
    name = str(victim) if name == VICTIM else name
    hub.extra_names[REPO] = [name]
    before = tree(tmp_path)
    with pytest.raises(DownloadFailed) as info:
        download_snapshot(REPO, "main", tmp_path / "dl", endpoint=hub.endpoint)
    assert info.value.message == (
        f"The hub listed a file named {name!r} in {REPO}, which is not a plain relative path."
    )
    assert info.value.hint == MIRROR_HINT
    assert tree(tmp_path) == before  # the victim is there, no snapshot folder was made
    assert downloads(hub) == []


# -- hostile commit ids -------------------------------------------------------------------------

HOSTILE_SHAS = ["../../x", "../" + "a" * 37, "a" * 39, "a" * 41, "A" * 40, "a" * 40 + "\n"]


@pytest.mark.parametrize("sha", HOSTILE_SHAS, ids=repr)
def test_a_commit_id_that_is_not_one_is_refused(hub: HubServer, tmp_path: Path, sha: str) -> None:
    hub.claimed_sha[REPO] = sha
    before = tree(tmp_path)
    with pytest.raises(DownloadFailed) as info:
        download_snapshot(REPO, "main", tmp_path / "dl", endpoint=hub.endpoint)
    assert info.value.message == (
        f"The hub answered that {REPO} is at commit {sha!r}, which is not a commit id "
        "(40 hex digits)."
    )
    assert tree(tmp_path) == before and downloads(hub) == []


def test_a_hub_that_answers_another_commit_than_the_one_asked_for_is_refused(
    hub: HubServer, tmp_path: Path
) -> None:
    hub.claimed_sha[REPO] = "b" * 40
    with pytest.raises(DownloadFailed) as info:
        download_snapshot(REPO, COMMIT, tmp_path / "dl", endpoint=hub.endpoint)
    assert (
        info.value.message == f"The hub answered commit bbbbbbb of {REPO} when asked for a1b2c3d."
    )
    assert downloads(hub) == []


def test_pull_from_a_hub_claiming_a_path_as_commit_removes_nothing_outside_the_store(
    hub_server: HubServer, tiny_source: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """The commit id became the snapshot folder's name, and the snapshot is removed after the
    model is stored: '../../../victim' pointed that removal at a folder outside the store."""
    victim = tmp_path / "victim"  # downloads/<repo>/../../../victim
    assert paths.downloads_dir() == tmp_path / "cache" / "downloads"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    hub_server.add_repo("someone/tiny-chat", tiny_source, commit=COMMIT)
    hub_server.claimed_sha["someone/tiny-chat"] = "../../../victim"
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    assert main(["pull", "someone/tiny-chat", "--name", "t"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "qwen-tui: The hub answered that someone/tiny-chat is at commit '../../../victim', "
        f"which is not a commit id (40 hex digits). {MIRROR_HINT}"
    )
    assert tree(victim) == {"keep.txt": b"mine"}
    assert downloads(hub_server) == []


# -- where the token goes -----------------------------------------------------------------------


def test_the_token_goes_to_the_official_hub_and_named_mirrors_only() -> None:
    mirrors = ("https://hf-mirror.example/", "http://127.0.0.1:8080")
    assert may_send_token("https://huggingface.co")
    assert may_send_token("https://HuggingFace.co:443/")
    assert not may_send_token("http://huggingface.co")  # not over plain http
    assert not may_send_token("https://huggingface.co.evil.example")
    assert not may_send_token("https://hf-mirror.example")  # not named
    assert may_send_token("https://hf-mirror.example", mirrors)
    assert may_send_token("https://hf-mirror.example/some/path", mirrors)  # same host
    assert not may_send_token("https://hf-mirror.example:8443", mirrors)  # another port
    assert not may_send_token("http://hf-mirror.example", mirrors)  # another scheme
    assert may_send_token("http://127.0.0.1:8080", mirrors)
    assert not may_send_token("http://127.0.0.1:8081", mirrors)
    assert not may_send_token("http://127.0.0.1:notaport", mirrors)
    assert not may_send_token("ftp://hf-mirror.example", ("ftp://hf-mirror.example",))


def test_a_mirror_not_named_never_sees_the_token(
    hub: HubServer, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hub.separate_cdn = True
    download_snapshot(REPO, "main", tmp_path / "dl", endpoint=hub.endpoint)
    assert {where for where, *_ in hub.authorization} == {"hub", "cdn"}
    assert [auth for *_, auth in hub.authorization if auth is not None] == []


def test_a_named_mirror_gets_the_token_and_the_host_it_redirects_to_does_not(
    hub: HubServer, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hub.separate_cdn = True  # LFS files are redirected to another port: another host
    download_snapshot(REPO, "main", tmp_path / "dl", endpoint=hub.endpoint,
                      token_mirrors=(hub.endpoint + "/",))  # fmt: skip
    on_hub = [auth for where, _, _, auth in hub.authorization if where == "hub"]
    on_cdn = [auth for where, _, _, auth in hub.authorization if where == "cdn"]
    assert len(on_hub) >= 3 and set(on_hub) == {f"Bearer {TOKEN}"}  # listing, HEADs, config
    assert on_cdn and set(on_cdn) == {None}
    assert any("model.safetensors" in path for where, _, path, _ in hub.authorization
               if where == "cdn")  # fmt: skip


@pytest.mark.parametrize("named", [False, True], ids=["not named", "named in config"])
def test_pull_sends_the_token_to_a_mirror_only_when_the_config_names_it(
    hub_server: HubServer, tiny_source: Path, tmp_path: Path, monkeypatch, capsys, named: bool
) -> None:
    repo = tmp_path / "repo"  # remote code: pull downloads config.json, then stops
    repo.mkdir()
    config = json.loads((tiny_source / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "custom.Model"}
    (repo / "config.json").write_text(json.dumps(config))
    hub_server.add_repo("someone/custom", repo, commit=COMMIT)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    if named:
        paths.config_file().parent.mkdir(parents=True)
        paths.config_file().write_text(f'hf_token_mirrors = ["{hub_server.endpoint}"]\n')
    assert main(["pull", "someone/custom"]) == 1
    assert "--trust-remote-code" in capsys.readouterr().err
    seen = {
        (method, path.split("?")[0]): auth for _, method, path, auth in hub_server.authorization
    }
    expected = f"Bearer {TOKEN}" if named else None
    assert seen == {
        ("GET", "/api/models/someone/custom"): expected,  # which commit main is at
        ("GET", f"/api/models/someone/custom/revision/{COMMIT}"): expected,  # its files
        ("HEAD", f"/someone/custom/resolve/{COMMIT}/config.json"): expected,
        ("GET", f"/someone/custom/resolve/{COMMIT}/config.json"): expected,
    }
