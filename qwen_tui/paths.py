"""Where qwen-tui keeps its files. One place for every location.

Each directory follows platformdirs and can be overridden by an environment
variable (tests point all three at temporary directories):

- ``QWEN_TUI_CONFIG_DIR``: ``config.toml``
- ``QWEN_TUI_DATA_DIR``: ``conversations.db``
- ``QWEN_TUI_CACHE_DIR``: ``models/`` (quantized), ``packed/`` (their weights as our kernels
  read them), ``downloads/`` (hub snapshots), ``converted/`` (save_low_bit folders in the
  store's layout)
- ``QWEN_TUI_LOG_DIR``: ``qwen-tui.log`` (the traceback of every unexpected error)

What the config, data and log folders hold is the user's own (chats, settings, errors
quoting them): those we create are readable by the user alone (0700), and so are the files
we write there (0600), whatever the umask (``private_dir``, ``private_file``,
``write_private``); files of ours that are not are ``tighten``-ed when opened.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import platformdirs

APP = "qwen-tui"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


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


def packed_file(model_folder: Path) -> Path:
    """The weights of the model in ``model_folder`` as our kernels read them, kept after its
    first load so the next ones map them (``engine/native/packed_cache.py``)."""
    tag = hashlib.sha256(str(Path(model_folder).resolve()).encode()).hexdigest()[:12]
    return cache_dir() / "packed" / f"{Path(model_folder).name}-{tag}.qtw"


def converted_dir() -> Path:
    """Folders bigdl-llm's ``save_low_bit`` wrote, converted once into the store's layout when
    first opened: one folder per original (``store/lowbit_import/cache.py``)."""
    return cache_dir() / "converted"


def synthetic_dir() -> Path:
    """Random-weight models with real dimensions, built by ``qwen-tui bench --synthetic``."""
    return cache_dir() / "synthetic"


def private_dir(path: Path) -> Path:
    """``path``, created with its missing parents readable by the user alone (0700). A folder
    that exists is left as it is: it may be one the user made, and shares, on purpose."""
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR)
        except FileExistsError:  # made meanwhile (another window): not ours to change
            continue
        os.chmod(folder, PRIVATE_DIR)  # the umask may have taken more away
    return path


def tighten(path: Path) -> None:
    """Take the group's and others' access away from a file of ours that has it (an older
    version, or a umask, left it open). Quietly: a file we cannot change still works."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            os.chmod(path, mode & ~0o077)
    except OSError:
        pass


def private_file(path: Path) -> None:
    """Create ``path`` empty, readable by the user alone (0600), if it is missing;
    ``tighten`` it if it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        tighten(path)
        return
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


def write_private(path: Path, data: str | bytes) -> None:
    """Write ``path`` (replacing what it held) readable by the user alone (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fd, PRIVATE_FILE)
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
