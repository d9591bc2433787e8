"""Request body limit: a 5 MB drawing is refused before it is read into memory (413).

A declared Content-Length over the limit is refused before the app runs. A chunked body has no length, so
the limit is counted in ``receive()`` and raised from there, inside whatever is reading the body: FastAPI's
JSON or form parsing turns any exception into "400 There was an error parsing the body" except an
``HTTPException``, which it lets through. So the refusal *is* an HTTPException(413): the app's handler
answers it as problem+json for every body type (JSON, form, multipart, raw), and the middleware still
answers it itself if it escapes the app.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem

MAX_BODY = 2 * 1024 * 1024


class BodyLimit:
    """``uploads`` gives routes that take files a limit of their own: ``{("POST", "/imports"): bytes}``."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY,
                 uploads: dict[tuple[str, str], int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = uploads or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.uploads.get((scope.get("method", ""), scope["path"].rstrip("/") or "/"), self.max_bytes)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem(413, "Request too large", _detail(limit), instance=scope["path"])
        await response(scope, receive, send)


def _detail(max_bytes: int) -> str:
    size = f"{max_bytes // (1024 * 1024)} MB" if max_bytes >= 1024 * 1024 else f"{max_bytes:,} bytes"
    return f"the request body exceeds {size}"


class _TooLarge(HTTPException):
    """Raised from ``receive()``; an HTTPException so body parsers pass it on instead of making it a 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, _detail(max_bytes))
