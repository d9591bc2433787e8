"""HTTP caching in one place: who may store an answer, and cheap revalidation.

The same URL answers differently per caller (a tile shows admin 548 grids and
worker1 one), so any answer to a request that carried credentials is
``private`` — a shared cache (nginx ``proxy_cache``, a corporate proxy) must
not keep it — and every answer says ``Vary: Authorization``, so nothing stored
for one caller (or for anonymous callers) is handed to another. Routes that
return personal data declare :data:`NoStore` (or send ``no-store``
themselves); their answers are ``no-store`` whoever asks. Other authenticated
answers are ``private, no-cache``: a browser may keep them but must revalidate,
so an edit shows at once. Anonymous answers keep what the route chose (the
map shell, static assets and the category tree stay cacheable).

Routes that declare :data:`Revalidated` (tiles, feature collections) get a
weak ``ETag`` computed from the body, and ``If-None-Match`` answers 304. A
content hash is always right: it changes exactly when what the caller is shown
changes — an edit inside their territory, a different territory — with no
bookkeeping of which grids a tile or page depends on; the body is rendered
anyway, so the hash (BLAKE2: 9 ms for a 1.4 MB body on the loaded 2-core test
machine, far less for a tile) is a small share of the cost, and the saving is
the transfer. Weak, because the gzip middleware may send the same content
compressed or not: a weak tag says "same content", which is true of both,
while a strong tag would claim byte-identical bodies. This middleware must sit
inside the compression one, so it hashes the plain body (gzip embeds a
timestamp, which would change the tag on every response).
"""

from __future__ import annotations

import hashlib

from fastapi import Depends, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_NO_STORE = "gridmap.no_store"
_REVALIDATE = "gridmap.revalidate"
_MAX_BUFFER = 64 * 1024 * 1024  # an answer bigger than this is sent without an ETag rather than held in memory


def _mark_no_store(request: Request) -> None:
    """Dependency: this route's answers hold personal data and must never be stored by any cache."""
    setattr(request.state, _NO_STORE, True)


def _mark_revalidated(request: Request) -> None:
    """Dependency: give this route's 200 answers a content ETag and answer If-None-Match with 304."""
    setattr(request.state, _REVALIDATE, True)


NoStore = Depends(_mark_no_store)
Revalidated = Depends(_mark_revalidated)


def weak_etag(body: bytes) -> str:
    return f'W/"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: If-None-Match compares weakly; ``*`` matches any current representation."""
    wanted = etag.removeprefix("W/")
    for tag in (t.strip() for t in if_none_match.split(",")):
        if tag == "*" or tag.removeprefix("W/") == wanted:
            return True
    return False


class CacheHeaders:
    """ASGI middleware: Cache-Control and Vary on every answer, ETag and 304 where a route asked."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = dict(scope.get("headers") or [])
        credentials = b"authorization" in request_headers
        state = scope.setdefault("state", {})
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0

        def finish_headers(message: Message) -> MutableHeaders:
            headers = MutableHeaders(scope=message)
            headers.add_vary_header("Authorization")
            current = headers.get("cache-control", "")
            if state.get(_NO_STORE) or "no-store" in current:
                headers["Cache-Control"] = "no-store"
            elif credentials:
                headers["Cache-Control"] = "private, no-cache"
            return headers

        async def send_wrapper(message: Message) -> None:
            nonlocal start, size
            if message["type"] == "http.response.start":
                finish_headers(message)
                buffering = (state.get(_REVALIDATE) and message["status"] == 200
                             and scope["method"] == "GET"  # a HEAD has no body to hash
                             and not any(k.lower() == b"etag" for k, _ in message.get("headers", [])))
                if not buffering:
                    await send(message)
                    return
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if message.get("more_body", False) and size <= _MAX_BUFFER:
                return
            if message.get("more_body", False):  # too big to hash: pass it on as it is
                await send(start)
                await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
                start = None
                return
            await self._send_validated(start, b"".join(chunks), request_headers, send)

        await self.app(scope, receive, send_wrapper)

    @staticmethod
    async def _send_validated(start: Message, body: bytes, request_headers: dict[bytes, bytes], send: Send) -> None:
        etag = weak_etag(body)
        headers = MutableHeaders(scope=start)
        headers["ETag"] = etag
        if_none_match = request_headers.get(b"if-none-match")
        if if_none_match is not None and etag_matches(if_none_match.decode("latin-1"), etag):
            for name in ("content-length", "content-type", "content-encoding"):
                del headers[name]
            await send({**start, "status": 304})
            await send({"type": "http.response.body", "body": b""})
            return
        await send(start)
        await send({"type": "http.response.body", "body": body})
