"""RFC 9457 problem details for every error.

One map from domain exception to HTTP status, so route handlers never build
error bodies. Validation errors name the parameter that was wrong. Nothing
internal (SQL, tracebacks) ever reaches the client; unexpected errors are
logged with a request-local id that the client also sees.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo.errors import (
    Conflict,
    GridmapError,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    TooManyRequests,
)
from geo.logsafe import scrub
from geo.security import Forbidden, Unauthorized

log = logging.getLogger("gridmap.api")

PROBLEM_JSON = "application/problem+json"

STATUS: dict[type[GridmapError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
    PreconditionFailed: 412,
    PreconditionRequired: 428,
    TooManyRequests: 429,
}

# Paths whose standard prescribes its own error format (Open311): prefix → (status, detail, request) → Response.
ALTERNATE_FORMATS: dict[str, Any] = {}


def _alternate(request: Request, status: int, detail: str) -> Any:
    detail = scrub(detail)  # no personal data in an error message, whatever raised it
    for prefix, render in ALTERNATE_FORMATS.items():
        if request.url.path.startswith(prefix):
            return render(request, status, detail)
    return None


def problem(status: int, title: str, detail: str, *, instance: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": scrub(detail)}
    if instance:
        body["instance"] = scrub(instance)
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _status_for(exc: GridmapError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


async def _domain(request: Request, exc: GridmapError) -> Response:
    status = _status_for(exc)
    response = _alternate(request, status, exc.detail) or problem(
        status, exc.title, exc.detail, instance=request.url.path, pointer=exc.pointer, **exc.extra)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="gridmap"'
    if status == 429:
        response.headers["Retry-After"] = str(exc.extra.get("retry_after", 60))
    return response


def _location(loc: tuple[Any, ...]) -> str:
    where = [str(p) for p in loc]
    if where and where[0] in ("query", "path", "header", "body"):
        return f"{where[0]} parameter '{'.'.join(where[1:])}'" if len(where) > 1 else where[0]
    return ".".join(where)


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        # never e["input"]: it echoes the value sent (a phone, an ID number); a key may be one too
        {"pointer": scrub("/".join(str(p) for p in e["loc"])), "detail": scrub(e["msg"]),
         "where": scrub(_location(tuple(e["loc"])))}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['where']}: {e['detail']}" for e in errors)
    alternate = _alternate(request, 400, detail)
    if alternate is not None:
        return alternate
    return problem(422, "Invalid request", detail, instance=request.url.path, errors=errors)


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    title = {404: "Not found", 405: "Method not allowed", 413: "Request too large"}.get(exc.status_code,
                                                                                      "Request failed")
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no resource at {request.url.path}"
    alternate = _alternate(request, exc.status_code, detail)
    if alternate is not None:
        return alternate
    return problem(exc.status_code, title, detail, instance=request.url.path)


# PostgreSQL SQLSTATEs that mean "the request's data" or "try again", never a server fault:
# class 22 (data exception: a NUL in a string, a number out of range for the column) → 422;
# deadlock and serialisation failure (two requests crossed on the same rows) and a unique
# violation (two requests created the same thing at once) → 409, retry.
_RETRY_STATES = {"40P01", "40001"}


def _database_error(request: Request, exc: DBAPIError) -> JSONResponse | None:
    code = getattr(exc.orig, "pgcode", None) or ""
    if code.startswith("22"):
        reason = str(getattr(getattr(exc.orig, "diag", None), "message_primary", "") or "invalid value")
        return _alternate(request, 422, reason) or problem(
            422, "Invalid input", f"a value in the request is not acceptable: {reason}", instance=request.url.path)
    if code == "23505":  # unique violation: two requests created the same thing at once
        detail = "this conflicts with a record created at the same moment; reload and retry"
        return _alternate(request, 409, detail) or problem(409, "Conflict", detail, instance=request.url.path)
    if code in _RETRY_STATES:
        detail = "another request changed the same records at the same moment; retry"
        return _alternate(request, 409, detail) or problem(409, "Conflict", detail, instance=request.url.path)
    return None


async def _value(request: Request, exc: ValueError) -> JSONResponse:
    """psycopg2 refuses a string with a NUL byte before sending it (PostgreSQL text cannot hold one):
    that is the request's fault, whatever route it reached. Any other ValueError is a bug."""
    if "NUL (0x00)" in str(exc):
        detail = "a value in the request contains a NUL character"
        return _alternate(request, 422, detail) or problem(422, "Invalid input", detail, instance=request.url.path)
    return await _unexpected(request, exc)


async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
    return _database_error(request, exc) or await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    incident = uuid.uuid4().hex[:12]
    log.error("unhandled error %s on %s %s", incident, request.method, request.url.path, exc_info=exc)
    detail = f"an unexpected error occurred; incident {incident}"
    return _alternate(request, 500, detail) or problem(500, "Internal error", detail, instance=request.url.path)


def install(app: FastAPI) -> None:
    app.add_exception_handler(GridmapError, _domain)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(DBAPIError, _database)  # type: ignore[arg-type]
    app.add_exception_handler(ValueError, _value)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
