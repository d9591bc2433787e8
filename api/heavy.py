"""Heavy requests (fusion analyses, topology reports, exports, imports): bounded, and cached.

Why: about 30 parallel ``/fusion/pairs`` calls from one ``map:read`` account (2 s and
1.4 MB each) pushed ``/locate`` to 21.8 s. Each heavy call holds an anyio worker thread
(40 by default, shared with every sync route) and a pooled connection for seconds, and
keeps a core busy in PostgreSQL. So each process admits at most ``heavy_per_user`` of
them per account (beyond: 429) and ``heavy_total`` in all (beyond: 503), both with
``Retry-After``; refused calls return at once instead of queueing. Light requests then
always keep ``40 - heavy_total`` threads and ``2 × pool_size - heavy_total``
connections of the process.

The slots are per process, on purpose: a heavy call's cost is the thread and the
connection of the process it runs in, which is what the bound protects, and a
process-local counter needs no round trip and cannot leak a slot when a worker dies.
With ``--workers N`` the service runs at most ``N × heavy_total`` heavy calls at
once, and one account at most ``N × heavy_per_user`` (set both with that in mind:
on 2 cores, N × heavy_total around the core count).

Results that depend only on the request, the caller's territory and the data are
cached per process (``ResultCache``), keyed by all three — the data by
``geo.changes.data_version`` — so a repeated analysis costs one cheap query and is
never shared between territories. Personal data (the residents export) is never cached.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import Response

from api.problems import problem
from geo.errors import GridmapError, TooManyRequests


class ServerBusy(GridmapError):
    """Every heavy slot of this process is taken (503); ``retry_after`` says when to try again."""

    title = "Service busy"


class HeavyLimiter:
    """Counts running heavy calls per account and in all; refuses at once beyond either bound."""

    def __init__(self, per_user: int, total: int) -> None:
        self.per_user = per_user
        self.total = total
        self._running: dict[int, int] = {}
        self._count = 0
        self._lock = threading.Lock()
        self._mean_s = 2.0  # a running estimate of a heavy call's duration, for Retry-After

    def retry_after(self) -> int:
        return max(1, min(60, math.ceil(self._mean_s)))

    @contextmanager
    def slot(self, user_id: int, what: str) -> Iterator[None]:
        with self._lock:
            if self._running.get(user_id, 0) >= self.per_user:
                wait = self.retry_after()
                raise TooManyRequests(f"at most {self.per_user} {what} may run at once per account; "
                                      f"retry in {wait} s", retry_after=wait)
            if self._count >= self.total:
                wait = self.retry_after()
                raise ServerBusy(f"the server is running as many heavy requests as it allows ({self.total}); "
                                 f"retry in {wait} s", retry_after=wait)
            self._running[user_id] = self._running.get(user_id, 0) + 1
            self._count += 1
        start = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._count -= 1
                left = self._running[user_id] - 1
                if left:
                    self._running[user_id] = left
                else:
                    del self._running[user_id]
                self._mean_s = 0.8 * self._mean_s + 0.2 * (time.monotonic() - start)


@dataclass(frozen=True)
class Cached:
    body: bytes
    media_type: str
    headers: tuple[tuple[str, str], ...]

    def response(self) -> Response:
        return Response(self.body, media_type=self.media_type, headers=dict(self.headers))


class ResultCache:
    """A least-recently-used cache of rendered responses, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, Cached] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def key(*parts: object) -> str:
        return hashlib.sha256(repr(parts).encode()).hexdigest()

    def get(self, key: str) -> Cached | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: str, response: Response) -> None:
        body = bytes(response.body)
        if len(body) > self.max_bytes // 4:
            return
        headers = tuple((k, v) for k, v in response.headers.items() if k.lower() not in ("content-length",
                                                                                           "content-type"))
        item = Cached(body, response.media_type or "application/json", headers)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._items[key] = item
            self._bytes += len(body)
            while self._bytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped.body)


def limiter(request: Request) -> HeavyLimiter:
    return request.app.state.heavy_limiter


def cache(request: Request) -> ResultCache:
    return request.app.state.heavy_cache


def run_cached(request: Request, user_id: int, what: str, key: str, compute: Callable[[], Response]) -> Response:
    """The cached response for ``key``, else ``compute()`` in a heavy slot, cached on success."""
    store = cache(request)
    hit = store.get(key)
    if hit is not None:
        response = hit.response()
        response.headers["X-Cache"] = "hit"
        return response
    with limiter(request).slot(user_id, what):
        response = compute()
    if 200 <= response.status_code < 300:
        store.put(key, response)
    response.headers["X-Cache"] = "miss"
    return response


def install(app: FastAPI, *, per_user: int, total: int, cache_bytes: int) -> None:
    app.state.heavy_limiter = HeavyLimiter(per_user, total)
    app.state.heavy_cache = ResultCache(cache_bytes)

    async def _busy(request: Request, exc: ServerBusy) -> Response:
        wait = int(exc.extra.get("retry_after", 5))
        response = problem(503, exc.title, exc.detail, instance=request.url.path, retry_after=wait)
        response.headers["Retry-After"] = str(wait)
        return response

    app.add_exception_handler(ServerBusy, _busy)  # type: ignore[arg-type]
