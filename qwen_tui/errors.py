"""Typed errors of the core. Each carries one clear sentence and a next step.

The CLI prints ``str(error)`` and ``error.hint`` on one line each and exits
non-zero; the UI shows the same two sentences. No traceback reaches a user.
"""

from __future__ import annotations


class QwenTuiError(Exception):
    """Base error: ``str(e)`` says what is wrong, ``e.hint`` what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message} {self.hint}".strip()


def one_line(exc: BaseException) -> str:
    """A typed error's sentence and hint; any other exception as "Type: message"."""
    if isinstance(exc, QwenTuiError):
        return exc.one_line()
    return f"{type(exc).__name__}: {exc}"


class UsageError(QwenTuiError):
    exit_code = 2


class ModelNotFound(QwenTuiError):
    pass


class ModelIncomplete(QwenTuiError):
    pass


class NotEnoughDisk(QwenTuiError):
    pass


class NotEnoughMemory(QwenTuiError):
    pass


class DownloadFailed(QwenTuiError):
    pass


class HubUnreachable(DownloadFailed):
    pass


class RevisionNotFound(DownloadFailed):
    """The hub has no such branch, tag or commit in the repo."""


class QuantizeFailed(QwenTuiError):
    pass


class RemoteCodeRefused(QwenTuiError):
    pass


class Cancelled(QwenTuiError):
    exit_code = 130


class EngineError(QwenTuiError):
    pass


class OutsideStore(QwenTuiError):
    """A path the store was about to write or remove lies outside the folder it belongs to."""
