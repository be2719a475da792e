"""Removing files and folders of the store, and only ever inside it.

Every ``rmtree`` and ``unlink`` in ``qwen_tui/store`` goes through here. The path is checked
to lie strictly inside the folder it belongs to (the models folder, the downloads folder, one
snapshot), with its parent resolved: a symbolic link is judged by where the link itself is, and
removing it removes the link, never what it points at. A path that fails the check is a bug or
a hostile name from a server; it raises ``OutsideStore`` and nothing is removed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import OutsideStore


def check_inside(path: Path, root: Path) -> Path:
    """``path`` with its parent resolved, if it lies strictly inside ``root``; else raise."""
    path = Path(path)
    base = Path(root).resolve()
    real = path.parent.resolve() / path.name
    if path.name in ("", ".", "..") or base not in real.parents:
        raise OutsideStore(
            f"Refusing to touch {path}: it is not inside {root}.",
            "Nothing was changed; please report this (it is a bug or a hostile file name).",
        )
    return real


def remove_tree(path: Path, root: Path) -> None:
    """Delete the folder ``path`` (a link or a file there is unlinked), if inside ``root``."""
    real = check_inside(path, root)
    if real.is_symlink() or real.is_file():
        real.unlink(missing_ok=True)
    else:
        shutil.rmtree(real, ignore_errors=True)


def remove_file(path: Path, root: Path) -> None:
    """Delete the file (or link) ``path``, if inside ``root``; a missing file is fine."""
    check_inside(path, root).unlink(missing_ok=True)
