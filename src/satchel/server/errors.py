"""One error shape for every route: ``{"error": {"code", "message"}}``.

The status follows from the stable code alone (``STATUS``); a ``SatchelError`` raised
anywhere below a route becomes its code and message. Two codes exist only here, for
conditions of HTTP itself (``method_not_allowed``, ``range_not_satisfiable``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from satchel.errors import SatchelError

__all__ = [
    "STATUS",
    "ApiError",
    "ErrorBody",
    "ErrorDetail",
    "ErrorPages",
    "error_response",
    "install_handlers",
    "status_of",
]

log = logging.getLogger("satchel.server")

#: The status of each stable error code; a code missing here is a 500.
STATUS: Final[dict[str, int]] = {
    "validation_error": 422,
    "invalid_name": 422,
    "invalid_file_key": 422,
    "invalid_metadata": 422,
    "invalid_uri": 422,
    "unsupported_entry": 422,
    "invalid_json": 422,
    "is_a_directory": 422,
    "not_a_directory": 422,
    "too_large": 413,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "busy": 409,
    "blob_collected": 409,
    "range_not_satisfiable": 416,
    "rate_limited": 429,
    "missing_dependency": 501,
    "storage_error": 503,
    "insufficient_storage": 507,
    "index_error": 503,
    "integrity_error": 500,
    "config_error": 500,
    "satchel_error": 500,
    "internal_error": 500,
}


class ErrorDetail(BaseModel):
    """What went wrong: a stable code and a message for people."""

    code: str
    message: str


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


class ApiError(Exception):
    """An error of the HTTP layer itself, with a code from ``STATUS``."""

    def __init__(self, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers


def status_of(code: str) -> int:
    """The HTTP status answered for an error code."""
    return STATUS.get(code, 500)


def error_response(
    code: str, message: str, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON answer for an error code and message."""
    status = status_of(code)
    extra = dict(headers or {})
    if status == 401:
        extra.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=extra
    )


def _describe_validation(errors: list[Any]) -> str:
    parts = []
    for item in errors[:5]:
        location = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        parts.append(f"{location or 'request'}: {item.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


#: Renders an error as a page for people (the portal), or None to answer JSON. Set as
#: ``app.state.error_pages`` by the portal; called with (request, code, message, status).
ErrorPages = Callable[[Request, str, str, int], Response | None]


def _answer(
    request: Request,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    status: int | None = None,
) -> Response:
    """The error answer: a page when the portal renders one for this request, else JSON."""
    status = status_of(code) if status is None else status
    pages: ErrorPages | None = getattr(request.app.state, "error_pages", None)
    page = None if pages is None else pages(request, code, message, status)
    response = page if page is not None else error_response(code, message, headers=headers)
    if page is not None and headers:
        response.headers.update(headers)
    response.status_code = status
    return response


async def _satchel_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SatchelError)
    if status_of(exc.code) >= 500:
        log.error("%s: %s", exc.code, exc.message)
    return _answer(request, exc.code, exc.message)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _answer(request, exc.code, exc.message, headers=exc.headers)


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return _answer(request, "validation_error", _describe_validation(list(exc.errors())))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {
        401: "unauthenticated",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "too_large",
        416: "range_not_satisfiable",
    }.get(exc.status_code)
    if code is None:
        code = "validation_error" if exc.status_code < 500 else "internal_error"
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 404 and detail == "Not Found":
        detail = "no such route"
    status = exc.status_code if exc.status_code >= 400 else 500
    return _answer(request, code, detail, headers=dict(exc.headers or {}), status=status)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    return _answer(request, "internal_error", "the server failed; see its log")


def install_handlers(app: FastAPI) -> None:
    """Route every error of ``app`` through the one shape."""
    app.add_exception_handler(SatchelError, _satchel_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
