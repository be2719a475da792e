"""The store removes files and folders only inside itself (qwen_tui/store/removal.py), and every
removal in the store goes through that one helper."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qwen_tui.errors import OutsideStore
from qwen_tui.store.removal import check_inside, remove_file, remove_tree

ROOT = Path(__file__).parents[2]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    (tmp_path / "store" / "model").mkdir(parents=True)
    (tmp_path / "store" / "model" / "weights").write_text("w")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "keep").write_text("mine")
    return tmp_path / "store"


def test_a_path_outside_the_store_or_the_store_itself_is_never_removed(
    store: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    for bad in (
        outside,
        outside / "keep",
        store,
        store / "model" / "..",
        store / "model" / ".." / ".." / "outside",
        tmp_path,  # (only test folders here: a broken check must not reach real ones)
    ):
        with pytest.raises(OutsideStore, match="is not inside"):
            remove_tree(bad, store)
        with pytest.raises(OutsideStore):
            remove_file(bad, store)
    assert (outside / "keep").read_text() == "mine" and (store / "model" / "weights").exists()


def test_a_link_is_judged_where_it_lies_and_only_the_link_is_removed(
    store: Path, tmp_path: Path
) -> None:
    (store / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(OutsideStore):  # through the link: outside
        remove_file(store / "link" / "keep", store)
    remove_tree(store / "link", store)
    assert not (store / "link").is_symlink()
    assert (tmp_path / "outside" / "keep").read_text() == "mine"
    (store / "outside-root").symlink_to(tmp_path)
    with pytest.raises(OutsideStore):
        check_inside(store / "outside-root" / "outside", store)


def test_what_is_inside_is_removed(store: Path) -> None:
    remove_file(store / "model" / "weights", store)
    remove_file(store / "model" / "missing", store)  # already gone: fine
    assert list((store / "model").iterdir()) == []
    remove_tree(store / "model", store)
    assert list(store.iterdir()) == []


def test_every_removal_in_the_store_goes_through_the_helper() -> None:
    raw = re.compile(r"rmtree\(|\.unlink\(|os\.remove\(|os\.rmdir\(|\.rmdir\(")
    files = [*(ROOT / "qwen_tui" / "store").rglob("*.py"), ROOT / "qwen_tui/bench/synthetic.py"]
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in files
        if path.name != "removal.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if raw.search(line)
    ]
    assert offenders == []
