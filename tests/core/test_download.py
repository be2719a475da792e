"""qwen_tui.store.download against a loopback hub (tests/hubserver.py); all offline."""

from __future__ import annotations

import errno
import hashlib
import importlib
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from hubserver import HubServer  # tests/ is on sys.path; the fixture comes from conftest

from qwen_tui.errors import Cancelled, DownloadFailed, HubUnreachable
from qwen_tui.store import download as dl
from qwen_tui.store.download import RemoteFile, download_snapshot, resolve_endpoint, select_files
from qwen_tui.store.hub_errors import map_error
from qwen_tui.store.progress import Progress

REPO = "org/tiny-qwen"
COMMIT = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
WEIGHTS = 2_000_000
WANTED = ("config.json", "model.safetensors", "tokenizer.json")


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "config.json").write_text(json.dumps({"model_type": "qwen2", "hidden_size": 64}))
    (src / "tokenizer.json").write_text(
        json.dumps({"model": {"vocab": {f"t{i}": i for i in range(2000)}}})
    )
    (src / "model.safetensors").write_bytes(os.urandom(WEIGHTS))
    (src / "pytorch_model.bin").write_bytes(os.urandom(300_000))
    return src


@pytest.fixture
def hub(hub_server: HubServer, repo_dir: Path) -> HubServer:  # noqa: F811
    hub_server.add_repo(REPO, repo_dir, commit=COMMIT)
    return hub_server


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def incomplete_files(folder: Path) -> list[Path]:
    return list(folder.rglob("*.incomplete"))


def test_full_download(hub: HubServer, repo_dir: Path, tmp_path: Path) -> None:
    hub.throttle["model.safetensors"] = 4_000_000  # ~0.5 s, so reports happen mid-file
    reports: list[Progress] = []
    started = time.monotonic()
    snap = download_snapshot(
        REPO, "main", tmp_path / "dl", endpoint=hub.endpoint, progress=reports.append
    )
    elapsed = time.monotonic() - started

    folder = tmp_path / "dl" / "org--tiny-qwen" / COMMIT
    assert snap.commit == COMMIT and snap.repo_id == REPO and snap.path == folder
    assert sorted(f.name for f in snap.files) == sorted(WANTED)
    for name in WANTED:
        assert sha256(folder / name) == sha256(repo_dir / name)
    assert not (folder / "pytorch_model.bin").exists()
    assert not any("pytorch_model.bin" in path for _, path in hub.requests)
    # the revision was resolved once; every file request names the commit, never "main"
    resolves = [path for _, path in hub.requests if "/resolve/" in path]
    assert resolves and all(f"/resolve/{COMMIT}/" in path for path in resolves)

    total = sum((repo_dir / n).stat().st_size for n in WANTED)
    assert reports and all(r.stage == "download" and r.total == total for r in reports)
    dones = [r.done for r in reports]
    assert dones == sorted(dones)
    assert dones[-1] == total
    assert any(0 < d < total for d in dones)  # byte-level progress, not just per file
    assert len(reports) <= elapsed * 10 + 3  # throttled to ~10/s
    assert {r.detail for r in reports} <= set(WANTED)

    marker = json.loads((folder / ".qwen-tui-complete").read_text())
    assert marker["repo_id"] == REPO and marker["commit"] == COMMIT
    assert sorted(f["name"] for f in marker["files"]) == sorted(WANTED)
    assert incomplete_files(folder) == []
    # nothing went to the global HF cache, and the tqdm hook is gone again
    assert not (Path(os.environ["HF_HOME"]) / "hub").exists()
    hf_tqdm = importlib.import_module("huggingface_hub.utils.tqdm")
    assert hf_tqdm.tqdm is dl._original_tqdm

    # again at "main": only the listing, no file transfer
    before = len(hub.requests)
    download_snapshot(REPO, "main", tmp_path / "dl", endpoint=hub.endpoint)
    assert [p for _, p in hub.requests[before:]] == [f"/api/models/{REPO}/revision/main?blobs=True"]
    # pinned to the commit and complete: no request at all
    before = len(hub.requests)
    assert download_snapshot(REPO, COMMIT, tmp_path / "dl", endpoint=hub.endpoint) == snap
    assert len(hub.requests) == before


def test_resume_after_cut_transfer(hub: HubServer, repo_dir: Path, tmp_path: Path) -> None:
    hub.cut_after_bytes["model.safetensors"] = 1_200_000
    with pytest.raises(DownloadFailed) as info:
        download_snapshot(REPO, None, tmp_path / "dl", endpoint=hub.endpoint)
    assert not isinstance(info.value, HubUnreachable)
    assert "model.safetensors" in info.value.message and "resume" in info.value.hint
    folder = tmp_path / "dl" / "org--tiny-qwen" / COMMIT
    (partial,) = incomplete_files(folder)
    kept = partial.stat().st_size
    assert 0 < kept <= 1_200_000
    assert not (folder / ".qwen-tui-complete").exists()
    first_pass = hub.served("model.safetensors")
    assert first_pass == 1_200_000

    snap = download_snapshot(REPO, None, tmp_path / "dl", endpoint=hub.endpoint)
    assert sha256(snap.path / "model.safetensors") == sha256(repo_dir / "model.safetensors")
    gets = [r for name, r in hub.range_headers if name == "model.safetensors"]
    assert gets == [None, f"bytes={kept}-"]
    assert hub.served("model.safetensors") - first_pass == WEIGHTS - kept  # only the remainder
    assert hub.served("model.safetensors") < 1.5 * WEIGHTS  # not 2x the file
    # the small files were done in the first call and not fetched again
    assert [n for n, _ in hub.range_headers].count("config.json") == 1


def test_cancel_mid_file_then_resume(hub: HubServer, repo_dir: Path, tmp_path: Path) -> None:
    hub.throttle["model.safetensors"] = 4_000_000
    cancel = threading.Event()
    reports: list[Progress] = []

    def on_progress(p: Progress) -> None:
        reports.append(p)
        if p.detail == "model.safetensors" and p.total and p.done > p.total - WEIGHTS:
            cancel.set()  # some bytes of the weights are in: cancel mid-file

    with pytest.raises(Cancelled) as info:
        download_snapshot(
            REPO,
            "main",
            tmp_path / "dl",
            endpoint=hub.endpoint,
            progress=on_progress,
            cancel=cancel,
        )
    assert info.value.hint == "Run the same command again to resume."
    folder = tmp_path / "dl" / "org--tiny-qwen" / COMMIT
    assert not (folder / "model.safetensors").exists()
    assert not (folder / ".qwen-tui-complete").exists()
    (partial,) = incomplete_files(folder)
    kept = partial.stat().st_size
    assert 0 < kept < WEIGHTS

    hub.throttle.clear()
    snap = download_snapshot(
        REPO, "main", tmp_path / "dl", endpoint=hub.endpoint, cancel=threading.Event()
    )
    assert sha256(snap.path / "model.safetensors") == sha256(repo_dir / "model.safetensors")
    assert [r for n, r in hub.range_headers if n == "model.safetensors"][-1] == f"bytes={kept}-"
    assert (snap.path / ".qwen-tui-complete").exists()


def test_cancel_before_start(hub: HubServer, tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        download_snapshot(REPO, "main", tmp_path / "dl", endpoint=hub.endpoint, cancel=cancel)
    assert not any("/resolve/" in p for _, p in hub.requests)


def test_unreachable_endpoint(hub_server: HubServer, tmp_path: Path) -> None:  # noqa: F811
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    with pytest.raises(HubUnreachable) as info:
        download_snapshot(REPO, "main", tmp_path / "dl", endpoint=endpoint)
    assert endpoint in info.value.message
    assert "HF_ENDPOINT" in info.value.hint and "quantize PATH" in info.value.hint
    assert info.value.__cause__ is not None  # the original error is kept for logs


def test_unknown_repo_revision_and_gated(hub: HubServer, repo_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DownloadFailed) as info:
        download_snapshot("org/nope", "main", tmp_path / "dl", endpoint=hub.endpoint)
    assert not isinstance(info.value, HubUnreachable)
    assert "org/nope" in info.value.message and "main" in info.value.message

    with pytest.raises(DownloadFailed) as info:
        download_snapshot(REPO, "v9", tmp_path / "dl", endpoint=hub.endpoint)
    assert "v9" in info.value.message and REPO in info.value.message

    hub.add_repo("org/gated", repo_dir, gated=True)
    with pytest.raises(DownloadFailed) as info:
        download_snapshot("org/gated", None, tmp_path / "dl", endpoint=hub.endpoint)
    assert "HF_TOKEN" in info.value.hint and "licence" in info.value.hint


def test_disk_full_maps_to_download_failed() -> None:
    err = map_error(
        OSError(errno.ENOSPC, "No space left on device"), REPO, None, None, "model.safetensors"
    )
    assert type(err) is DownloadFailed and "disk is full" in err.message


def test_resolve_endpoint_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert resolve_endpoint(None) is None
    assert resolve_endpoint("") is None
    assert resolve_endpoint("https://mirror.example/") == "https://mirror.example"
    monkeypatch.setenv("HF_ENDPOINT", "https://env.example")
    assert resolve_endpoint("https://mirror.example") == "https://env.example"
    assert resolve_endpoint(None) == "https://env.example"


def test_select_files() -> None:
    files = tuple(
        RemoteFile(n, 1)
        for n in (
            "config.json",
            "model.safetensors",
            "pytorch_model.bin",
            "x.pt",
            "m.gguf",
            "f.onnx",
            "t.msgpack",
        )
    )
    assert [f.name for f in select_files(files)] == ["config.json", "model.safetensors"]
    no_st = tuple(f for f in files if f.name != "model.safetensors")
    assert [f.name for f in select_files(no_st)] == ["config.json", "pytorch_model.bin", "x.pt"]
    assert [f.name for f in select_files(files, ["*.json"])] == ["config.json"]
