"""What a hub (or a mirror) says is not trusted, and neither is a mirror with the token.

A listing's file names become paths under the snapshot folder and its commit id a folder name,
so both are checked before anything is written: a name is a plain relative path (no leading
``/``, no ``.`` or ``..`` part, no empty part, no backslash, NUL or control character, nothing
in the folders huggingface_hub and we keep state in), and a commit is 40 lowercase hex digits.

``HF_TOKEN`` (or the token ``huggingface-cli login`` stored) goes to the official hub, and to a
mirror only when the user named it in ``hf_token_mirrors``. huggingface_hub itself drops the
token when the hub redirects a file to another host (its CDN), and requests drops it on any
redirect to another host.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from ..errors import DownloadFailed

OFFICIAL_ENDPOINT = "https://huggingface.co"
COMMIT_RE = re.compile(r"[0-9a-f]{40}")
# huggingface_hub's download state (local_dir/.cache) and our empty stand-in for its global cache
RESERVED_FOLDERS = (".cache", ".no-global-cache")
MIRROR_HINT = (
    "If HF_ENDPOINT or hf_endpoint names a mirror, check that it is one you trust; "
    "nothing was downloaded."
)


def is_commit(value: object) -> bool:
    return isinstance(value, str) and COMMIT_RE.fullmatch(value) is not None


def check_commit(repo_id: str, sha: object, asked: str | None) -> str:
    """The commit the hub says ``repo_id`` is at, if it is one (and the one asked for)."""
    if not is_commit(sha):
        raise DownloadFailed(
            f"The hub answered that {repo_id} is at commit {sha!r}, which is not a commit id "
            "(40 hex digits).",
            MIRROR_HINT,
        )
    assert isinstance(sha, str)
    if asked is not None and is_commit(asked) and sha != asked:
        raise DownloadFailed(
            f"The hub answered commit {sha[:7]} of {repo_id} when asked for {asked[:7]}.",
            MIRROR_HINT,
        )
    return sha


def check_file_name(repo_id: str, name: object, reserved: Sequence[str] = ()) -> str:
    """``name`` from the hub's listing, if it is a plain relative path inside a snapshot."""
    ok = isinstance(name, str) and bool(name) and not name.startswith("/")
    if ok:
        assert isinstance(name, str)
        parts = name.split("/")
        ok = (
            all(part not in ("", ".", "..") for part in parts)
            and not any(c == "\\" or ord(c) < 32 or ord(c) == 127 for c in name)
            and parts[0] not in RESERVED_FOLDERS
            and name not in reserved
        )
    if not ok:
        raise DownloadFailed(
            f"The hub listed a file named {name!r} in {repo_id}, which is not a plain "
            "relative path.",
            MIRROR_HINT,
        )
    assert isinstance(name, str)
    return name


def check_size(repo_id: str, name: str, size: object) -> int:
    if size is None:
        return 0
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise DownloadFailed(
            f"The hub listed {name} in {repo_id} with the size {size!r}, which is not one.",
            MIRROR_HINT,
        )
    return size


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, or None for anything else."""
    try:
        parts = urlsplit(url.strip())
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        port = parts.port or {"https": 443, "http": 80}.get(scheme)
    except ValueError:  # a port that is not a number
        return None
    if scheme not in ("http", "https") or not host or port is None:
        return None
    return scheme, host, port


def may_send_token(endpoint: str, token_mirrors: Sequence[str] = ()) -> bool:
    """Whether the hub token may go to ``endpoint``: the official hub, or a mirror the user
    named (same scheme, host and port; a path does not matter, the host gets the header)."""
    where = _origin(endpoint)
    if where is None:
        return False
    trusted = [_origin(OFFICIAL_ENDPOINT), *(_origin(m) for m in token_mirrors)]
    return where in trusted


def token_argument(endpoint: str, token_mirrors: Sequence[str] = ()) -> bool | None:
    """huggingface_hub's ``token=``: None (the user's token, if any) or False (none at all)."""
    return None if may_send_token(endpoint, token_mirrors) else False
