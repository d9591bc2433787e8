"""``GET /live``: the live stream as server-sent events (issue 15, docs/live.md).

The bearer token travels in the Authorization header like every other call (the browser reads the
stream with ``fetch``, never an ``EventSource`` with the token in its URL). The stream is decided when
it opens: the caller's territory and permissions (``events:read`` for events, ``staff:read`` for
responders, ``pii:read`` for exact positions) fix what it will carry, and the token's expiry ends it
(an ``expired`` message, then the end: the client renews and reconnects with its Last-Event-ID).
The request's database session is finished before the first byte is streamed: an open map holds no
pooled connection, only a place in the process's hub (geo/live/hub.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.caching import NoStore
from api.security import Principal, oauth2, requires, token_settings
from geo.access.permissions import Permission
from geo.access.security import decode
from geo.live.hub import OVERFLOW, Hub, Message, Subscription, connector
from geo.live.rows import Audience
from geo.live.settings import LiveSettings

router = APIRouter(tags=["live"], dependencies=[NoStore])
_hub_lock = threading.Lock()
RETRY_MS = 1000  # what an EventSource-style client waits before reconnecting
SEND_TIMEOUT_S = 30  # a client that takes no bytes for this long is dropped


def hub_of(request: Request) -> Hub:
    """The process's hub, made on the first stream (so a server nobody watches never listens)."""
    state = request.app.state
    with _hub_lock:
        if getattr(state, "live_hub", None) is None:
            state.live_hub = Hub(connector(state.engine), getattr(state, "live_settings", None) or LiveSettings())
        return state.live_hub


async def _opening_gate(request: Request) -> AsyncIterator[None]:
    """At most half the pool's connections open streams at once; the others wait here, without a thread.

    Every map reconnects at once after a restart. Without this, 200 openings at once starved a worker
    (bench/README.md §13): the threads waiting for a pooled connection (the token check) filled the
    threadpool, while the requests holding the connections needed a thread to give them back.
    """
    state = request.app.state
    gate = getattr(state, "live_gate", None)
    if gate is None:
        gate = state.live_gate = asyncio.Semaphore(max(1, state.engine.pool.size() // 2))
    async with gate:
        yield


def _event(m: Message) -> ServerSentEvent:
    return ServerSentEvent(data=orjson.dumps(m.data).decode(), event=m.type, id=m.id)


async def _stream(sub: Subscription, expires_at: float) -> AsyncIterator[ServerSentEvent]:
    """Once started it always unsubscribes (``finally``); a stream whose client left before the first
    byte never starts, and the hub forgets it after a while (``Subscription.started``)."""
    sub.started = True
    try:
        yield ServerSentEvent(comment="gridmap live", retry=RETRY_MS)
        while True:
            remaining = expires_at - time.time()
            if remaining <= 0:
                yield ServerSentEvent(data='{"reason": "token expired"}', event="expired")
                return
            try:
                m = await asyncio.wait_for(sub.queue.get(), timeout=min(remaining, 60))
            except TimeoutError:
                continue
            if m is OVERFLOW:  # fell too far behind: end, the client resumes with Last-Event-ID
                return
            yield _event(m)
    finally:
        sub.close()


@router.get("/live", summary="Live stream (server-sent events): new and changed events, responders' moves",
            response_class=EventSourceResponse)
async def live(
    request: Request,
    _gate: Annotated[None, Depends(_opening_gate, scope="function")],
    principal: Annotated[Principal, requires(Permission.MAP_READ)],
    token: Annotated[str | None, Depends(oauth2)],
    last_event_id: Annotated[str | None, Header(max_length=64, description="Resume after this message id.")] = None,
) -> EventSourceResponse:
    """Messages: ``event`` (``id, status, category, lon, lat, grid_code, due_at``: needs events:read) and
    ``responder`` (``staff_id, role, availability, lon, lat, at``: needs staff:read; ~100 m without
    pii:read), only inside the caller's territory; ``ready`` once subscribed; ``resync`` when what was
    missed cannot be replayed (reload what you show); ``expired`` when the token runs out. A comment
    line every GRIDMAP_LIVE_HEARTBEAT_S. 429 past GRIDMAP_LIVE_PER_USER streams per account or
    GRIDMAP_LIVE_PER_PROCESS per server process."""
    claims = decode(token or "", token_settings(request), kind="access")  # requires() has checked it
    audience = Audience.of(principal.scope, events=principal.can(Permission.EVENTS_READ),
                           responders=principal.can(Permission.STAFF_READ),
                           unmasked=principal.can(Permission.PII_READ))
    hub = hub_of(request)
    sub = await hub.subscribe(principal.user_id, audience, last_event_id)  # 429 here, before the 200
    return EventSourceResponse(_stream(sub, float(claims["exp"])), ping=hub.settings.heartbeat_s,
                               send_timeout=SEND_TIMEOUT_S, headers={"X-Accel-Buffering": "no"})
