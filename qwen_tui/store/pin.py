"""Which commit a pull downloads: an explicit ``--revision``, else the catalog's pin, else main.

A catalog model is pulled at its pinned commit, never at whatever main is today. When main has
moved past the pin the pull says so in one line and still takes the pin; when the hub no
longer has the pinned commit the pull stops with one sentence and the way to take the newest.
A repo outside the catalog has no pin: main is taken, and the note says which commit that was.
Whatever is taken, the manifest records the commit.
"""

from __future__ import annotations

from collections.abc import Callable

from ..catalog import CatalogEntry
from ..errors import DownloadFailed, RevisionNotFound
from .download import RemoteFile, list_remote_files

Notice = Callable[[str], None]


def ignore_notice(_: str) -> None:
    return None


def short(commit: str) -> str:
    return commit[:7]


def resolve(
    repo_id: str,
    entry: CatalogEntry | None,
    revision: str | None,
    endpoint: str | None,
    notice: Notice = ignore_notice,
    name: str | None = None,
    token_mirrors: tuple[str, ...] = (),
) -> tuple[str, tuple[RemoteFile, ...]]:
    """(commit, files) to download. ``name`` is what the user typed (for the next step)."""

    def listing(rev: str | None) -> tuple[str, tuple[RemoteFile, ...]]:
        return list_remote_files(repo_id, rev, endpoint, token_mirrors)

    if revision:  # explicit: the user's choice, whatever the catalog pins
        return listing(revision)
    if entry is None:
        commit, files = listing(None)
        notice(
            f"{repo_id} is not in the catalog, so no commit is pinned: taking main, "
            f"now at {short(commit)} (recorded with the model)."
        )
        return commit, files
    pin = entry.revision
    try:
        commit, files = listing(pin)
    except RevisionNotFound:
        raise RevisionNotFound(
            f"The hub no longer has commit {short(pin)} of {repo_id}, the one the catalog pins.",
            f"Run `qwen-tui pull {name or entry.key} --revision main` to take the newest "
            "(its commit is recorded), or update qwen-tui for a newer pin.",
        ) from None
    try:
        main, _ = listing("main")
    except DownloadFailed:  # only a note is lost: the pinned files are known
        main = pin
    if main != pin:
        notice(
            f"{repo_id} has moved on since the catalog pinned {short(pin)} (main is now "
            f"{short(main)}); pulling the pinned commit. `--revision main` takes the newest."
        )
    return commit, files
