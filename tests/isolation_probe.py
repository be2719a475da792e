"""Run by tests/core/test_isolation.py in a child pytest (not collected on its own): writes what
the environment shows a test, with conftest.py's isolation in force."""

import os
from pathlib import Path

from conftest import USER_SETTINGS

from qwen_tui import paths


def test_what_a_test_sees():
    seen = [name for name in USER_SETTINGS if name in os.environ]
    report = os.environ["QWEN_TUI_ISOLATION_REPORT"]
    Path(report).write_text(f"settings: {' '.join(seen)}\n{paths.models_dir()}\n")
