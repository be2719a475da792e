"""The suite never reads or writes the user's own folders or obeys their shell's settings:
a developer with a real model installed, or QWEN_TUI_ISA set, gets the same results."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import SESSION_DIRS, USER_SETTINGS

from qwen_tui import paths


def test_folders_stay_temporary_even_after_monkeypatch_undo(monkeypatch, tmp_path):
    assert paths.models_dir().is_relative_to(tmp_path)
    monkeypatch.undo()  # what a test may do; it also undoes isolated_dirs
    for folder in (paths.models_dir(), paths.config_file(), paths.log_file()):
        assert folder.is_relative_to(SESSION_DIRS), folder
        assert not folder.is_relative_to(Path.home())


def test_the_users_settings_are_not_seen(tmp_path):
    """A suite started from a shell with the user's settings set sees none of them: run
    tests/isolation_probe.py in a child pytest with every one set, and HOME's folders as its
    platform folders, and check what its test saw."""
    report = tmp_path / "seen.txt"
    env = {**os.environ, **{name: "from-the-users-shell" for name in USER_SETTINGS}}
    env.update(QWEN_TUI_ISOLATION_REPORT=str(report), QWEN_TUI_CACHE_DIR=str(Path.home()))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(Path(__file__).parents[1] / "isolation_probe.py")],
        capture_output=True, text=True, env=env, cwd=Path(__file__).parents[2], timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    seen = report.read_text().splitlines()
    assert seen[0] == "settings: " and not Path(seen[1]).is_relative_to(Path.home()), seen
