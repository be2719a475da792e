"""The history (and its SQLite side files), the exports, the log and the config are readable
by the user alone (files 0600, the folders we create 0700), under a permissive umask too;
files of ours that an older version left open are closed when opened; a folder the user
made is left as it is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qwen_tui import config, log, paths
from qwen_tui.history import ConversationStore


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


@pytest.fixture(autouse=True)
def permissive_umask():
    old = os.umask(0o022)  # what most systems have: new files 0644, folders 0755
    yield
    os.umask(old)


@pytest.fixture
def deep(tmp_path, monkeypatch) -> Path:
    """The data folder two levels below anything that exists."""
    monkeypatch.setenv("QWEN_TUI_DATA_DIR", str(tmp_path / "new" / "data"))
    return tmp_path


def test_the_history_and_its_side_files_are_the_users_alone(deep) -> None:
    store = ConversationStore(paths.history_db())
    cid = store.create("secret").id
    store.add_message(cid, "user", "my diary")
    db = paths.history_db()
    sides = [Path(f"{db}-wal"), Path(f"{db}-shm")]
    assert all(side.exists() for side in sides)  # WAL: SQLite gives them the db's mode
    assert [mode(f) for f in (db, *sides)] == [0o600] * 3
    assert mode(paths.data_dir()) == mode(deep / "new") == 0o700  # and the parent we made
    store.close()


def test_a_history_an_older_version_left_open_is_closed_its_folder_left(tmp_path) -> None:
    paths.data_dir().mkdir(parents=True, mode=0o755)
    ConversationStore(paths.history_db()).close()
    os.chmod(paths.history_db(), 0o644)
    ConversationStore(paths.history_db()).close()
    assert mode(paths.history_db()) == 0o600
    assert mode(paths.data_dir()) == 0o755  # it existed: not ours to change


def test_exports_are_the_users_alone_in_any_folder(deep, tmp_path) -> None:
    store = ConversationStore(paths.history_db())
    cid = store.create("secret").id
    store.add_message(cid, "user", "my diary")
    written = store.export_files(cid, paths.data_dir() / "exports")
    assert mode(paths.data_dir() / "exports") == 0o700
    assert [mode(f) for f in written] == [0o600, 0o600]
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)  # a folder the user chose
    again = store.export_files(cid, shared)
    assert mode(shared) == 0o755 and [mode(f) for f in again] == [0o600, 0o600]
    os.chmod(again[0], 0o644)
    store.export_files(cid, shared)  # written again: ours, so closed again
    assert mode(again[0]) == 0o600
    store.close()


def test_the_log_and_each_file_it_rolls_over_to_are_the_users_alone() -> None:
    log.log_error(ValueError("my diary"), "a test")
    assert mode(paths.log_dir()) == 0o700 and mode(paths.log_file()) == 0o600
    handler = log.logger().handlers[0]
    handler.doRollover()  # the full file moves aside; a new one is opened
    assert mode(paths.log_file()) == mode(Path(f"{paths.log_file()}.1")) == 0o600
    log.reset_for_tests()
    os.chmod(paths.log_file(), 0o644)
    log.log_error(ValueError("again"), "a test")
    assert mode(paths.log_file()) == 0o600


def test_the_config_is_the_users_alone() -> None:
    config.save(config.Settings(system_prompt="my diary"))
    assert mode(paths.config_dir()) == 0o700 and mode(paths.config_file()) == 0o600
    os.chmod(paths.config_file(), 0o644)  # as an older version left it
    config.load()
    assert mode(paths.config_file()) == 0o600
    paths.config_file().write_text("not [toml", encoding="utf-8")
    config.save(config.Settings())  # the broken file is kept aside, as closed
    (kept,) = paths.config_dir().glob("config.toml.broken-*")
    assert mode(kept) == mode(paths.config_file()) == 0o600


def test_the_window_lock_is_the_users_alone(deep) -> None:
    from qwen_tui import instance

    lock = instance.acquire()
    assert lock is not None
    try:
        assert mode(paths.instance_lock()) == 0o600 and mode(paths.data_dir()) == 0o700
    finally:
        lock.release()


def test_a_history_that_cannot_be_created_is_still_one_sentence(tmp_path) -> None:
    from qwen_tui.history import HistoryError

    (tmp_path / "a-file").write_text("")
    with pytest.raises(HistoryError, match="Cannot open the conversation history"):
        ConversationStore(tmp_path / "a-file" / "conversations.db")
