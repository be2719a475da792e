"""Every failure of a download (huggingface_hub, requests, the OS) as one typed error with a
sentence and a next step."""

from __future__ import annotations

import errno

import requests
from huggingface_hub import errors as hf_errors

from qwen_tui.errors import DownloadFailed, HubUnreachable, QwenTuiError, RevisionNotFound

_UNREACHABLE_HINT = (
    "Set HF_ENDPOINT (or hf_endpoint in config.toml) to a reachable mirror, or download the "
    "model elsewhere and run `qwen-tui quantize PATH --name NAME`."
)

# requests wraps refused connections and DNS failures; OfflineModeIsEnabled is a ConnectionError
_CONNECTION_ERRORS = (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)
_LOGIN = "Accept the licence on the model page and set HF_TOKEN to a token of that account."
_AGAIN = "Run the same command again to resume."


def map_error(
    e: BaseException, repo_id: str, revision: str | None, endpoint: str | None, filename: str = ""
) -> QwenTuiError:
    """One typed error with a next step for anything huggingface_hub, requests or the OS raise."""
    if isinstance(e, QwenTuiError):
        return e
    rev, what = revision or "main", f"{filename} of {repo_id}" if filename else repo_id
    status = getattr(getattr(e, "response", None), "status_code", None)
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        hint = "Free some space (or set QWEN_TUI_CACHE_DIR to a bigger disk), then run again."
        return DownloadFailed(f"The disk is full while downloading {what}.", hint)
    if isinstance(e, hf_errors.GatedRepoError):
        return DownloadFailed(f"{repo_id} is gated and this account may not download it.", _LOGIN)
    if isinstance(e, hf_errors.LocalEntryNotFoundError) and e.__cause__ is not None:
        return map_error(e.__cause__, repo_id, revision, endpoint, filename)  # hf's HEAD wrapper
    if isinstance(e, hf_errors.RevisionNotFoundError):
        hint = "Check the branch, tag or commit name."
        return RevisionNotFound(f"Revision {rev} of {repo_id} does not exist on the hub.", hint)
    if isinstance(e, hf_errors.RepositoryNotFoundError) or status == 404:
        hint = "Check the name; for a private model, set HF_TOKEN."
        return DownloadFailed(f"Model {repo_id} (revision {rev}) was not found on the hub.", hint)
    if isinstance(e, _CONNECTION_ERRORS + (hf_errors.LocalEntryNotFoundError,)):
        where = endpoint or "huggingface.co"
        return HubUnreachable(f"Cannot reach the model hub at {where}.", _UNREACHABLE_HINT)
    if status in (401, 403):
        return DownloadFailed(f"The hub refused access to {what} (HTTP {status}).", _LOGIN)
    if status is not None:
        return DownloadFailed(f"The hub answered HTTP {status} for {what}.", "Try again later.")
    if isinstance(e, requests.RequestException):  # e.g. ChunkedEncodingError: cut mid-file
        return DownloadFailed(f"The download of {what} was interrupted.", _AGAIN)
    if isinstance(e, hf_errors.HFValidationError):
        return DownloadFailed(f"'{repo_id}' is not a valid model name.", "Use the form ORG/NAME.")
    if isinstance(e, OSError):
        reason = e.strerror or str(e)
        return DownloadFailed(f"Could not save {what}: {reason}.", "Check the download folder.")
    return DownloadFailed(f"Downloading {what} failed: {type(e).__name__}: {e}", _AGAIN)
