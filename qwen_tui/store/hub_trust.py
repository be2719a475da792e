"""What a hub (or a mirror) says is not trusted.

A listing's file names become paths under the snapshot folder and its commit id a folder name,
so both are checked before anything is written: a name is a plain relative path (no leading
``/``, no ``.`` or ``..`` part, no empty part, no backslash, NUL or control character, nothing
in the folders huggingface_hub and we keep state in), and a commit is 40 lowercase hex digits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import DownloadFailed

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
