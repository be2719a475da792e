"""Where qwen-tui keeps its files. One place for every location.

Each directory follows platformdirs and can be overridden by an environment
variable (tests point all three at temporary directories):

- ``QWEN_TUI_CONFIG_DIR``: ``config.toml``
- ``QWEN_TUI_DATA_DIR``: ``conversations.db``
- ``QWEN_TUI_CACHE_DIR``: ``models/`` (quantized), ``downloads/`` (hub snapshots)
- ``QWEN_TUI_LOG_DIR``: ``qwen-tui.log`` (the traceback of every unexpected error)
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "qwen-tui"


def _dir(env: str, default: str) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser() if value else Path(default)


def config_dir() -> Path:
    return _dir("QWEN_TUI_CONFIG_DIR", platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    return _dir("QWEN_TUI_DATA_DIR", platformdirs.user_data_dir(APP))


def cache_dir() -> Path:
    return _dir("QWEN_TUI_CACHE_DIR", platformdirs.user_cache_dir(APP))


def log_dir() -> Path:
    return _dir("QWEN_TUI_LOG_DIR", platformdirs.user_log_dir(APP))


def log_file() -> Path:
    return log_dir() / "qwen-tui.log"


def instance_lock() -> Path:
    """Held by the app that owns the conversation history (one writer at a time)."""
    return data_dir() / "qwen-tui.lock"


def config_file() -> Path:
    return config_dir() / "config.toml"


def history_db() -> Path:
    return data_dir() / "conversations.db"


def models_dir() -> Path:
    """Quantized models, one folder each: ``<name>-<low_bit>/``."""
    return cache_dir() / "models"


def downloads_dir() -> Path:
    """Hub snapshots, one folder per repo and commit, kept so downloads resume."""
    return cache_dir() / "downloads"


def synthetic_dir() -> Path:
    """Random-weight models with real dimensions, built by ``qwen-tui bench --synthetic``."""
    return cache_dir() / "synthetic"
