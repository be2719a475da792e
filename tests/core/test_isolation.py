"""The suite never reads or writes the user's own folders or obeys their shell's settings:
a developer with a real model installed, or QWEN_TUI_ISA set, gets the same results."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import SESSION_DIRS, USER_SETTINGS

from qwen_tui import paths


def test_folders_stay_temporary_even_after_monkeypatch_undo(monkeypatch, tmp_path):
    assert paths.models_dir().is_relative_to(tmp_path)
    monkeypatch.undo()  # what a test may do; it also undoes isolated_dirs
    for folder in (paths.models_dir(), paths.config_file(), paths.log_file()):
        assert folder.is_relative_to(SESSION_DIRS), folder
        assert not folder.is_relative_to(Path.home())


def test_the_users_settings_are_not_seen():
    assert not [name for name in USER_SETTINGS if name in os.environ]
