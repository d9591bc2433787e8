"""A per-client limit on anonymous submissions: a sliding one-minute window.

In process memory on purpose: it protects one server process from a script
hammering the public form; it is not a quota. Behind several workers or a
proxy, put the limit in the proxy as well (and pass the real client address).
"""

from __future__ import annotations

import threading
import time
from collections import deque

from geo.errors import TooManyRequests

WINDOW_S = 60.0
MAX_CLIENTS = 100_000  # forget the oldest clients beyond this, so memory stays bounded


class RateLimit:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, client: str) -> None:
        """Count one request from ``client``, or raise TooManyRequests (429) with the wait in seconds."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.pop(client, None) or deque()
            while hits and now - hits[0] >= WINDOW_S:
                hits.popleft()
            self._hits[client] = hits  # re-inserted: the dict stays in least-recently-seen order
            if len(hits) >= self.per_minute:
                wait = int(WINDOW_S - (now - hits[0])) + 1
                raise TooManyRequests(f"at most {self.per_minute} reports a minute may be sent without signing in; "
                                      f"retry in {wait} s", retry_after=wait)
            hits.append(now)
            while len(self._hits) > MAX_CLIENTS:
                del self._hits[next(iter(self._hits))]
