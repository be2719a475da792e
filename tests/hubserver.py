"""A loopback stand-in for the Hugging Face hub, good enough for huggingface_hub 0.36.2.

It answers the requests that ``HfApi.model_info(files_metadata=True)`` and
``hf_hub_download(..., local_dir=...)`` make (read from the installed sources):

- ``GET /api/models/{repo}`` and ``GET /api/models/{repo}/revision/{rev}`` (``?blobs=True``):
  JSON with ``id``, ``sha`` and ``siblings: [{rfilename, size, blobId, lfs?}]``.
- ``HEAD /{repo}/resolve/{rev}/{file}`` (sent with ``allow_redirects=False``): huggingface_hub
  needs ``X-Repo-Commit``, an ETag (``X-Linked-Etag`` wins over ``ETag``) and a size
  (``X-Linked-Size`` wins over ``Content-Length``). Small "git" files answer 200 with the git
  blob sha1 as ETag; "LFS" files answer 302 to an absolute CDN-like URL with their sha256 as
  ``X-Linked-Etag``, as the real hub does, so the client downloads from the ``Location``.
- ``GET`` of either URL streams the bytes and honours ``Range: bytes=N-`` with 206.
- Errors carry ``X-Error-Code`` (``RepoNotFound`` with 401, ``RevisionNotFound`` /
  ``EntryNotFound`` with 404, ``GatedRepo`` with 403), which huggingface_hub turns into its
  typed exceptions.

A repo can hold several commits: ``add_repo`` again with the same repo id adds a commit and
moves ``main`` to it (the repo "moved on"; older commits stay downloadable by their sha), and
``forget_commit`` makes a commit unknown (as a force-push that rewrote history would).

Test knobs: ``cut_after_bytes[filename] = N`` (the next GET of that file announces the full
Content-Length, sends N bytes and closes the connection; consumed once), ``throttle[filename]
= bytes_per_second``, and the logs ``bytes_served`` (Counter per file name), ``range_headers``
(``(filename, Range header or None)`` per GET) and ``requests`` (``(method, path)``).

A hostile hub (the server is "a mirror" to the app): ``extra_names[repo_id]`` are file names
added to the repo's listing (``../x``, ``/etc/x`` ...), and ``claimed_sha[repo_id]`` is the
commit id the listing reports instead of the real one (``../../x``, 39 hex digits ...), which
the file URLs then accept as a name of the real commit. ``separate_cdn = True`` redirects LFS
files to a second loopback port (``cdn_endpoint``: another host to the client, as the real
CDN is), and ``authorization`` logs ``(server, method, path, Authorization header or None)``
for every request, ``server`` being ``"hub"`` or ``"cdn"``.
"""

from __future__ import annotations

import collections
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".onnx", ".h5", ".msgpack", ".ot")
_PIECE = 64 * 1024


@dataclass
class _File:
    name: str
    path: Path
    size: int
    lfs: bool
    git_sha1: str  # blobId; for LFS files the sha1 of the pointer, as on the hub
    sha256: str


@dataclass
class _Repo:
    repo_id: str
    refs: dict[str, str]  # branch or tag -> commit
    commits: dict[str, dict[str, _File]] = field(default_factory=dict)  # commit -> its files
    gated: bool = False


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubServer:
    def __init__(self) -> None:
        self.repos: dict[str, _Repo] = {}
        self.cut_after_bytes: dict[str, int] = {}
        self.throttle: dict[str, float] = {}
        self.bytes_served: collections.Counter[str] = collections.Counter()
        self.range_headers: list[tuple[str, str | None]] = []
        self.requests: list[tuple[str, str]] = []
        self.extra_names: dict[str, list[str]] = {}
        self.claimed_sha: dict[str, str] = {}
        self.separate_cdn = False
        self.authorization: list[tuple[str, str, str, str | None]] = []
        self.lock = threading.Lock()
        self._servers = [ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self, where))
                         for where in ("hub", "cdn")]  # fmt: skip
        for httpd in self._servers:
            httpd.daemon_threads = True
            httpd.block_on_close = False
        self.endpoint = f"http://127.0.0.1:{self._servers[0].server_address[1]}"
        self.cdn_endpoint = f"http://127.0.0.1:{self._servers[1].server_address[1]}"
        self._threads = [
            threading.Thread(
                target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            for httpd in self._servers
        ]

    def start(self) -> HubServer:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        for httpd, thread in zip(self._servers, self._threads, strict=True):
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=5)

    def add_repo(
        self,
        repo_id: str,
        folder: Path,
        commit: str = "0123456789abcdef0123456789abcdef01234567",
        *,
        refs: dict[str, str] | None = None,
        gated: bool = False,
    ) -> None:
        """Serve every file under ``folder`` as ``repo_id`` at ``commit``, and point ``main``
        at it (a repo already served keeps its older commits)."""
        assert len(commit) == 40
        repo = self.repos.get(repo_id) or _Repo(repo_id, {}, gated=gated)
        repo.refs.update({"main": commit, **(refs or {})})
        files = repo.commits.setdefault(commit, {})
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            name = path.relative_to(folder).as_posix()
            data = path.read_bytes()
            lfs = name.endswith(LFS_SUFFIXES)
            sha256 = hashlib.sha256(data).hexdigest()
            pointer = "version https://git-lfs.github.com/spec/v1\n"
            pointer += f"oid sha256:{sha256}\nsize {len(data)}\n"
            sha1 = _git_sha1(pointer.encode() if lfs else data)
            files[name] = _File(name, path, len(data), lfs, sha1, sha256)
        self.repos[repo_id] = repo

    def forget_commit(self, repo_id: str, commit: str) -> None:
        """The hub no longer knows ``commit`` (refs pointing at it go too)."""
        repo = self.repos[repo_id]
        del repo.commits[commit]
        repo.refs = {ref: c for ref, c in repo.refs.items() if c != commit}

    def served(self, filename: str) -> int:
        with self.lock:
            return self.bytes_served[filename]

    def _log(self, where: str, method: str, path: str, authorization: str | None) -> None:
        with self.lock:
            self.requests.append((method, path))
            self.authorization.append((where, method, path, authorization))


def _make_handler(hub: HubServer, where: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a stuck client cannot hold a thread for ever
        server_version = "fakehub/1.0"

        def log_message(self, format: str, *args: object) -> None:  # silence stderr
            return None

        # -- routing ---------------------------------------------------------------------
        def do_GET(self) -> None:
            self._route("GET")

        def do_HEAD(self) -> None:
            self._route("HEAD")

        def _route(self, method: str) -> None:
            path = urlsplit(self.path).path
            hub._log(where, method, self.path, self.headers.get("Authorization"))
            try:
                if path.startswith("/api/models/") and method == "GET":
                    self._model_info(path[len("/api/models/") :])
                elif path.startswith("/__cdn__/"):
                    repo_id, commit, name = unquote(path[len("/__cdn__/") :]).split("::", 2)
                    repo = hub.repos.get(repo_id)
                    files = repo.commits.get(commit, {}) if repo else {}
                    if repo is None or name not in files:
                        return self._error(404, "EntryNotFound")
                    self._send_file(method, repo, files[name], extra={})
                else:
                    self._resolve(method, path)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _find_repo(self, rest: str) -> tuple[_Repo | None, str]:
            for repo_id in sorted(hub.repos, key=len, reverse=True):
                if rest == repo_id or rest.startswith(repo_id + "/"):
                    return hub.repos[repo_id], rest[len(repo_id) :]
            return None, rest

        def _model_info(self, rest: str) -> None:
            repo, tail = self._find_repo(rest)
            if repo is None:
                return self._error(401, "RepoNotFound", "Repository not found")
            if repo.gated:
                return self._error(403, "GatedRepo", "Access to this model is restricted")
            rev = "main"
            if tail.startswith("/revision/"):
                rev = unquote(tail[len("/revision/") :])
            elif tail:
                return self._error(404, None, "Not found")
            commit = self._commit(repo, rev)
            if commit is None:
                return self._error(404, "RevisionNotFound", "Invalid rev id")
            siblings = []
            for f in repo.commits[commit].values():
                s: dict[str, object] = {"rfilename": f.name, "size": f.size, "blobId": f.git_sha1}
                if f.lfs:
                    s["lfs"] = {"size": f.size, "sha256": f.sha256, "pointerSize": 130}
                siblings.append(s)
            for name in hub.extra_names.get(repo.repo_id, []):
                siblings.append({"rfilename": name, "size": 10, "blobId": "0" * 40})
            body = json.dumps(
                {
                    "_id": "0" * 24,
                    "id": repo.repo_id,
                    "modelId": repo.repo_id,
                    "sha": hub.claimed_sha.get(repo.repo_id, commit),
                    "private": False,
                    "gated": False,
                    "disabled": False,
                    "tags": [],
                    "downloads": 0,
                    "likes": 0,
                    "lastModified": "2024-06-01T00:00:00.000Z",
                    "createdAt": "2024-06-01T00:00:00.000Z",
                    "siblings": siblings,
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _commit(self, repo: _Repo, rev: str) -> str | None:
            if rev in repo.commits:
                return rev
            if rev == hub.claimed_sha.get(repo.repo_id):
                return repo.refs["main"]
            return repo.refs.get(rev)

        def _resolve(self, method: str, path: str) -> None:
            repo, tail = self._find_repo(path.lstrip("/"))
            if repo is None:
                return self._error(401, "RepoNotFound", "Repository not found")
            if not tail.startswith("/resolve/"):
                return self._error(404, None, "Not found")
            if repo.gated:
                return self._error(403, "GatedRepo", "Access to this model is restricted")
            rev, _, name = tail[len("/resolve/") :].partition("/")
            commit = self._commit(repo, unquote(rev))
            if commit is None:
                return self._error(404, "RevisionNotFound", "Invalid rev id")
            f = repo.commits[commit].get(unquote(name))
            if f is None:
                return self._error(404, "EntryNotFound", "Entry not found", commit=commit)
            extra = {"X-Repo-Commit": commit}
            if f.lfs:
                blob = quote(f"{repo.repo_id}::{commit}::{f.name}", safe="")
                host = hub.cdn_endpoint if hub.separate_cdn else hub.endpoint
                cdn = f"{host}/__cdn__/{blob}"
                self.send_response(302)
                for k, v in {
                    **extra,
                    "Location": cdn,
                    "ETag": f'"{f.git_sha1}"',
                    "X-Linked-Etag": f'"{f.sha256}"',
                    "X-Linked-Size": str(f.size),
                    "Content-Length": "0",
                }.items():
                    self.send_header(k, v)
                self.end_headers()
                return
            self._send_file(method, repo, f, extra)

        # -- responses -------------------------------------------------------------------
        def _error(
            self, code: int, error_code: str | None, message: str = "", commit: str | None = None
        ) -> None:
            body = json.dumps({"error": message}).encode()
            self.send_response(code)
            if error_code:
                self.send_header("X-Error-Code", error_code)
            if message:
                self.send_header("X-Error-Message", message)
            if commit:
                self.send_header("X-Repo-Commit", commit)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _send_file(self, method: str, repo: _Repo, f: _File, extra: dict[str, str]) -> None:
            start = 0
            range_header = self.headers.get("Range")
            if method == "GET":
                with hub.lock:
                    hub.range_headers.append((f.name, range_header))
            if range_header and method == "GET":
                spec = range_header.strip().removeprefix("bytes=")
                first, _, last = spec.partition("-")
                if (
                    not first.isdigit()
                    or (last and not last.isdigit())
                    or int(first) >= max(f.size, 1)
                ):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{f.size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = int(first)
                end = min(int(last), f.size - 1) if last else f.size - 1
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{f.size}")
            else:
                end = f.size - 1
                self.send_response(200)
            length = end - start + 1
            etag = f.sha256 if f.lfs else f.git_sha1
            for k, v in {**extra, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if method == "HEAD":
                return
            with hub.lock:
                cut = hub.cut_after_bytes.pop(f.name, None)
                rate = hub.throttle.get(f.name)
            budget = length if cut is None else min(cut, length)
            sent = 0
            with f.path.open("rb") as fh:
                fh.seek(start)
                while sent < budget:
                    chunk = fh.read(min(_PIECE, budget - sent))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    sent += len(chunk)
                    with hub.lock:
                        hub.bytes_served[f.name] += len(chunk)
                    if rate:
                        time.sleep(len(chunk) / rate)
            if cut is not None:
                self.close_connection = True  # the client sees a short body: a broken transfer

    return Handler


@pytest.fixture
def hub_server(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """A running :class:`HubServer` on 127.0.0.1, with huggingface_hub kept off the real hub.

    ``HF_HOME`` points at a temporary folder, offline mode, ``HF_ENDPOINT`` and tokens are
    cleared and loopback bypasses any proxy. The server stops at teardown.
    """
    import huggingface_hub.constants as hf_constants

    home = tmp_path_factory.mktemp("hf_home")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    for var in (
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HF_ENDPOINT",
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    # constants are read once at import: point the ones that matter at the temp home too
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_HOME", str(home))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(hf_constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    server = HubServer().start()
    try:
        yield server
    finally:
        server.stop()
