"""Errors as the OpenAI API reports them: ``{"error": {message, type, param, code}}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse


class ApiError(Exception):
    """An error a client gets back, with its HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # noqa: A002 - the field's name in the API
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})  # Retry-After, Connection: close ...

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def server_error(
    message: str, status: int = 500, headers: dict[str, str] | None = None
) -> ApiError:
    return ApiError(status, message, type="server_error", code="server_error", headers=headers)


def internal_error() -> ApiError:
    """A bug or an engine failure: what went wrong is in the server's log, never in the reply
    (exception text can carry file paths and the like)."""
    return server_error("The server failed on this request; its log has the details.")
