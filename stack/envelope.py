"""The gateway's envelope reply `{success, data, error, metadata, timestamp}` and its errors."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from stack import __version__
from stack.timestamps import iso, utcnow


def body(data: Any = None, error: dict | None = None) -> dict:
    return {
        "success": error is None,
        "data": data,
        "error": error,
        "metadata": {"version": __version__},
        "timestamp": iso(utcnow()),
    }


def ok(data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(body(data), status_code=status_code)


class EnvelopeError(Exception):
    """Raised anywhere in an envelope endpoint; rendered with its status and code."""

    def __init__(
        self, status_code: int, code: str, message: str, details: Any = None, field: str | None = None
    ):
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details
        self.field = field


def error_response(exc: EnvelopeError) -> JSONResponse:
    error = {"code": exc.code, "message": exc.message, "details": exc.details, "field": exc.field}
    return JSONResponse(body(None, error), status_code=exc.status_code)


def not_found(what: str, identifier: str) -> EnvelopeError:
    return EnvelopeError(404, "NOT_FOUND", f"{what} {identifier!r} not found")
