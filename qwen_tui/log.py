"""The log file: the traceback of every unexpected error, so that a user sees one sentence
(and where this file is) and a developer sees everything.

``log_error`` is for errors we did not expect; typed errors (``QwenTuiError``) are the
sentence themselves and are logged without a traceback only when asked.
"""

from __future__ import annotations

import logging
import logging.handlers
import traceback
from io import TextIOWrapper
from pathlib import Path

from . import paths

_logger: logging.Logger | None = None


class _PrivateFileHandler(logging.handlers.RotatingFileHandler):
    """Every log file it opens (the first, and each after a rollover) is the user's alone:
    the tracebacks quote chats, paths and settings."""

    def _open(self) -> TextIOWrapper:
        paths.private_file(Path(self.baseFilename))
        return super()._open()


def logger() -> logging.Logger:
    """qwen-tui's logger, writing to the log file (up to 3 files of 1 MB)."""
    global _logger
    if _logger is None:
        log = logging.getLogger("qwen_tui")
        log.setLevel(logging.INFO)
        log.propagate = False  # never onto the terminal the UI draws on
        try:
            paths.private_dir(paths.log_dir())
            handler: logging.Handler = _PrivateFileHandler(
                paths.log_file(), maxBytes=1 << 20, backupCount=2, encoding="utf-8"
            )
        except OSError:  # an unwritable log dir must not stop the app
            handler = logging.NullHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        _logger = log
    return _logger


def log_error(exc: BaseException, context: str) -> Path:
    """Write ``exc`` with its traceback; return the log file's path (for the sentence)."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    logger().error("%s\n%s", context, text.rstrip())
    return paths.log_file()


def reset_for_tests() -> None:
    """Forget the handler (tests point QWEN_TUI_LOG_DIR somewhere new each time)."""
    global _logger
    if _logger is not None:
        for handler in list(_logger.handlers):
            _logger.removeHandler(handler)
            handler.close()
    _logger = None
