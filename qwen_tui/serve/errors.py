"""Errors as the OpenAI API reports them: ``{"error": {message, type, param, code}}``."""

from __future__ import annotations

from typing import Any


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
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def server_error(message: str, status: int = 500) -> ApiError:
    return ApiError(status, message, type="server_error", code="server_error")
