"""One listening connection per process, fanned out to every open stream of that process.

Why this shape:

* **One LISTEN per process**, not one per stream: a connection per open map would exhaust
  PostgreSQL's ``max_connections`` long before the county's browsers do. The listener is a thread
  blocked in ``select()`` on its own psycopg2 connection (autocommit, outside the request pool), so it
  needs no event loop and works the same under ``gridmap serve --workers N``: every worker listens, and
  every worker hears every commit, whichever process (or CLI, or import) made it.
* **Rows read once per notification**, by the listener, on that same connection; each stream then
  only filters (``geo.live.rows.Audience``). Cost per notification: one query, whatever the number of
  subscribers.
* **Replay for reconnects.** Notifications carry a number from one sequence (migration 0022), so
  their ids are the same in every process; the last ``replay`` notifications are kept in order of
  arrival, which is commit order in every process. A client that reconnects with ``Last-Event-ID``
  gets what it missed, from any worker; one that was away longer (or whose id this process never saw)
  gets ``resync``: reload what you show. So does everyone after the listener lost its connection.
* **A slow client cannot hold memory**: past ``queue`` waiting messages its stream is ended, and it
  reconnects with its Last-Event-ID.
* Messages reach a stream's asyncio queue with ``call_soon_threadsafe``, the one thread-safe door
  into an event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import select
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from geo.errors import TooManyRequests
from geo.live import rows
from geo.live.rows import Audience, Row
from geo.live.settings import LiveSettings

log = logging.getLogger(__name__)

CHANNEL = "gridmap_live"  # migration 0022
LISTEN_TIMEOUT_S = 5.0  # how long a new stream waits for the listener to be connected
UNSTARTED_S = 30.0  # a subscription whose stream has not started by then is forgotten


@dataclass(frozen=True)
class Message:
    """One server-sent event: ``type`` is ``event``, ``responder``, ``ready`` or ``resync``."""

    type: str
    data: dict[str, Any]
    id: str | None = None


OVERFLOW = Message("overflow", {})


@dataclass
class Entry:
    seq: int
    rows: list[Row]


@dataclass(eq=False)
class Subscription:
    """One open stream: its audience and the queue its messages wait in."""

    hub: "Hub"
    user_id: int
    audience: Audience
    loop: asyncio.AbstractEventLoop
    limit: int
    queue: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    ended: bool = False
    started: bool = False  # its stream began sending (from then on it unsubscribes itself when it ends)
    created: float = field(default_factory=time.monotonic)

    def offer(self, messages: list[Message]) -> None:
        """On the stream's loop: queue the messages, or end a stream that fell too far behind."""
        if self.ended:
            return
        if self.queue.qsize() + len(messages) > self.limit:
            self.ended = True
            self.queue.put_nowait(OVERFLOW)
            return
        for m in messages:
            self.queue.put_nowait(m)

    def select(self, entry: Entry, start: int = 0) -> list[Message]:
        return [Message(r.kind, self.audience.present(r), f"{entry.seq}-{i}")
                for i, r in enumerate(entry.rows) if i >= start and self.audience.visible(r)]

    def close(self) -> None:
        self.ended = True
        self.hub.unsubscribe(self)


def parse_last_id(value: str | None) -> tuple[int, int] | None:
    """``"12-3"`` → (12, 3); anything else (absent, garbled) → None."""
    if not value:
        return None
    seq, _, index = value.strip().partition("-")
    if not (seq.isascii() and seq.isdigit() and index.isascii() and index.isdigit()) or len(seq) > 18 or len(index) > 6:
        return None
    return int(seq), int(index)


class Hub:
    """The process's live hub; ``start()`` it once (idempotent), ``subscribe()`` per stream."""

    def __init__(self, connect: Callable[[], Any], settings: LiveSettings) -> None:
        self._connect = connect
        self.settings = settings
        self._lock = threading.Lock()
        self._subs: set[Subscription] = set()
        self._per_user: dict[int, int] = {}
        self._buffer: OrderedDict[int, Entry] = OrderedDict()
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.received = 0  # notifications heard (for tests and the bench)

    # -- subscribers ---------------------------------------------------------------------------

    async def subscribe(self, user_id: int, audience: Audience, last_id: str | None) -> Subscription:
        """Open a stream (429 past the caps); its queue starts with ``ready`` and what it missed."""
        self.start()
        if not self._listening.is_set():
            await asyncio.to_thread(self._listening.wait, LISTEN_TIMEOUT_S)
        sub = Subscription(self, user_id, audience, asyncio.get_running_loop(), self.settings.queue)
        wanted = parse_last_id(last_id)
        with self._lock:
            self._check(user_id)
            missed = self._missed(sub, wanted) if last_id is not None else []
            self._subs.add(sub)
            self._per_user[user_id] = self._per_user.get(user_id, 0) + 1
            last = next(reversed(self._buffer.values()), None)
        ready_id = f"{last.seq}-{max(len(last.rows) - 1, 0)}" if last else None
        if missed is None:
            sub.queue.put_nowait(Message("ready", {"replayed": 0, "listening": self._listening.is_set()}, ready_id))
            sub.queue.put_nowait(Message("resync", {"reason": "missed"}))
        else:
            sub.queue.put_nowait(Message("ready", {"replayed": len(missed), "listening": self._listening.is_set()},
                                         ready_id if not missed else None))
            sub.offer(missed)
        return sub

    def _check(self, user_id: int) -> None:
        """Raise TooManyRequests (429) when a new stream of this account would pass a cap (under the lock).

        First forgets subscriptions whose stream never started within UNSTARTED_S (the client went away
        between the answer's headers and its body): they would otherwise hold a place for good."""
        stale = [s for s in self._subs if not s.started and time.monotonic() - s.created > UNSTARTED_S]
        for s in stale:
            self._drop(s)
        if len(self._subs) >= self.settings.per_process:
            raise TooManyRequests(f"this server holds {self.settings.per_process} live streams, its most; "
                                  "try again shortly", pointer="live", retry_after=30)
        if self._per_user.get(user_id, 0) >= self.settings.per_user:
            raise TooManyRequests(f"at most {self.settings.per_user} live streams per account are open at once; "
                                  "close another tab or window", pointer="live", retry_after=30)

    def _missed(self, sub: Subscription, wanted: tuple[int, int] | None) -> list[Message] | None:
        """What came after ``wanted`` (under the lock); None when this process cannot tell."""
        if wanted is None or wanted[0] not in self._buffer:
            return None
        out: list[Message] = []
        after = False
        for seq, entry in self._buffer.items():
            if seq == wanted[0]:
                out += sub.select(entry, wanted[1] + 1)
                after = True
            elif after:
                out += sub.select(entry)
        return out

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._drop(sub)

    def _drop(self, sub: Subscription) -> None:
        if sub in self._subs:
            sub.ended = True
            self._subs.discard(sub)
            left = self._per_user.get(sub.user_id, 1) - 1
            if left:
                self._per_user[sub.user_id] = left
            else:
                self._per_user.pop(sub.user_id, None)

    def count(self, user_id: int | None = None) -> int:
        with self._lock:
            return len(self._subs) if user_id is None else self._per_user.get(user_id, 0)

    # -- the listener thread ---------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="gridmap-live", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 0.5
        lost = False
        while not self._stop.is_set():
            conn = None
            try:
                conn = self._connect()
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("SET statement_timeout = '10s'")
                    cur.execute(f"LISTEN {CHANNEL}")
                self._listening.set()
                if lost:  # notifications may have come and gone while we were away
                    self._broadcast([Message("resync", {"reason": "reconnected"})])
                backoff = 0.5
                self._listen(conn)
            except Exception as exc:  # a lost database: keep trying, never take the process down
                log.warning("live listener: %s; reconnecting in %.1f s", type(exc).__name__, backoff)
                self._listening.clear()
                lost = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001 - closing a broken connection
                        pass

    def _listen(self, conn: Any) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([conn], [], [], 1.0)
            if not ready:
                continue
            conn.poll()
            notes, conn.notifies[:] = list(conn.notifies), []
            for note in notes:
                self._handle(conn, note.payload)

    def _handle(self, conn: Any, payload: str) -> None:
        try:
            body = json.loads(payload)
            kind, seq, ids = str(body["k"]), int(body["s"]), [int(i) for i in body["ids"]]
        except (ValueError, KeyError, TypeError):
            log.warning("live listener: a notification it cannot read (%d bytes) was ignored", len(payload))
            return
        if kind not in rows.SQL:
            return
        with conn.cursor() as cur:
            entry = Entry(seq, rows.read(cur, kind, ids))
        self.received += 1
        with self._lock:
            self._buffer[seq] = entry
            while len(self._buffer) > self.settings.replay:
                self._buffer.popitem(last=False)
            subs = list(self._subs)
        for sub in subs:
            messages = sub.select(entry)
            if messages:
                _deliver(sub, messages)

    def _broadcast(self, messages: list[Message]) -> None:
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            _deliver(sub, messages)


def _deliver(sub: Subscription, messages: list[Message]) -> None:
    try:
        sub.loop.call_soon_threadsafe(sub.offer, messages)
    except RuntimeError:  # its event loop has closed (the server is stopping): nobody left to tell
        sub.hub.unsubscribe(sub)


def wait_listening(hub: Hub, timeout: float = LISTEN_TIMEOUT_S) -> bool:
    """Block until the hub's listener is connected (tests, the bench)."""
    hub.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub._listening.wait(0.05):
            return True
    return False


def connector(engine: Any) -> Callable[[], Any]:
    """A function opening a plain DB-API connection with the engine's own settings (not from its pool:
    the listener holds it for the life of the process)."""
    args, kwargs = engine.dialect.create_connect_args(engine.url)

    def connect() -> Any:
        return engine.dialect.loaded_dbapi.connect(*args, **kwargs)

    return connect
