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
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo.access.security import Forbidden, Unauthorized
from geo.errors import (
    Conflict,
    GridmapError,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    TooManyRequests,
)
from geo.privacy.logsafe import scrub

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


# How long a client should wait after a 503: SQLAlchemy drops the pool's connections on the first
# disconnect it sees and the next checkout connects afresh, which takes well under a second here.
RETRY_AFTER_S = 1


def _unavailable(request: Request, detail: str) -> Response:
    response = _alternate(request, 503, detail) or problem(503, "Service unavailable", detail,
                                                           instance=request.url.path)
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def is_unavailable(exc: BaseException) -> bool:
    """Whether the database was lost or refused us, rather than the request being wrong.

    OperationalError and InterfaceError are psycopg2's classes for the connection and the server's
    state (terminated backend, server restart, too many connections, a closed connection); a
    disconnect of any other class is flagged by SQLAlchemy as ``connection_invalidated``.
    """
    if isinstance(exc, (PoolTimeout, DisconnectionError)):
        return True
    return isinstance(exc, DBAPIError) and (exc.connection_invalidated
                                            or isinstance(exc, (OperationalError, InterfaceError)))


def _database_error(request: Request, exc: DBAPIError) -> Response | None:
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
    if code == "57014":  # query_canceled: the statement timeout (an OperationalError in psycopg2)
        log.warning("statement timeout on %s %s", request.method, request.url.path)
        return _unavailable(request, "the database took too long to answer; retry later")
    if is_unavailable(exc):
        # Nothing was answered yet (the session commits before the response). Usually nothing was
        # stored either; only a COMMIT whose acknowledgement was lost with the connection may have
        # gone through, which nobody can know here, so the answer does not claim either way.
        log.warning("database unavailable on %s %s: %s (connection invalidated: %s)", request.method,
                    request.url.path, type(exc.orig).__name__, exc.connection_invalidated)
        return _unavailable(request, "the database is unavailable at the moment; retry")
    return None


async def _value(request: Request, exc: ValueError) -> JSONResponse:
    """psycopg2 refuses a string with a NUL byte before sending it (PostgreSQL text cannot hold one):
    that is the request's fault, whatever route it reached. Any other ValueError is a bug."""
    if "NUL (0x00)" in str(exc):
        detail = "a value in the request contains a NUL character"
        return _alternate(request, 422, detail) or problem(422, "Invalid input", detail, instance=request.url.path)
    return await _internal(request, exc)


async def _database(request: Request, exc: DBAPIError) -> Response:
    return _database_error(request, exc) or await _internal(request, exc)


async def _pool(request: Request, exc: Exception) -> Response:
    """The pool had no connection to give (all busy or none could be made)."""
    log.warning("no database connection for %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return _unavailable(request, "the database is unavailable at the moment; retry")


async def _internal(request: Request, exc: Exception) -> Response:
    incident = uuid.uuid4().hex[:12]
    log.error("unhandled error %s on %s %s", incident, request.method, request.url.path, exc_info=exc)
    detail = f"an unexpected error occurred; incident {incident}"
    return _alternate(request, 500, detail) or problem(500, "Internal error", detail, instance=request.url.path)


async def _unexpected(request: Request, exc: Exception) -> Response:
    """Last resort, in Starlette's ServerErrorMiddleware (errors raised outside ErrorBoundary, e.g. in an
    outer middleware). That middleware re-raises after answering and uvicorn then closes the socket,
    so the answer says ``Connection: close``: the client must not send its next request on it."""
    response = await _internal(request, exc)
    response.headers["Connection"] = "close"
    return response


class ErrorBoundary:
    """Answer an unexpected error as a 500 problem without re-raising it, so the connection stays usable.

    Starlette sends the answer to an ``Exception`` handler from ServerErrorMiddleware and then
    re-raises to the server, which closes the connection after the response: the client's next
    request on that keep-alive connection got "connection reset". This boundary is the innermost
    user middleware (``install`` adds it before any other), logs the error once with its incident id
    and ends the request normally. An error after the response has started cannot be answered any
    more; it is re-raised, and the server closes the connection (the truncated answer must not look
    complete).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        outer: list[BaseException] = []

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def receiving() -> Message:
            try:
                return await receive()
            except Exception as exc:  # raised by an outer middleware's body reader (e.g. the body limit)
                outer.append(exc)
                raise

        try:
            await self.app(scope, receiving, watched)
        except Exception as exc:
            if started or exc in outer:  # half sent, or the outer middleware's own signal: not ours
                raise
            response = await (_pool(Request(scope), exc) if is_unavailable(exc) else _internal(Request(scope), exc))
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(GridmapError, _domain)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(DBAPIError, _database)  # type: ignore[arg-type]
    app.add_exception_handler(PoolTimeout, _pool)
    app.add_exception_handler(DisconnectionError, _pool)
    app.add_exception_handler(ValueError, _value)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
    # Added first, so it is the innermost user middleware: it sees every route's error, and the
    # middlewares added later (body limit, compression, ...) see an ordinary response.
    app.add_middleware(ErrorBoundary)
