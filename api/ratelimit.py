"""Anonymous submissions (POST /events, Open311) per client address: a token bucket in PostgreSQL.

A client may send ``public_reports_burst`` reports at once — a village kiosk
after a meeting, many phones behind one carrier NAT — and then
``public_reports_per_minute`` a minute as the allowance refills. The bucket
is geo.access.ratelimit's, so the limit holds across worker processes and servers.
The address is the real client's: forwarded headers are believed only from
GRIDMAP_TRUSTED_PROXIES (see api.main).
"""

from __future__ import annotations

from sqlalchemy import Engine

from geo.access import ratelimit
from geo.errors import TooManyRequests


class ReportLimit:
    """The anonymous-report limit; ``prefix`` separates it from other buckets (tests use their own)."""

    def __init__(self, engine: Engine, per_minute: float, burst: int, prefix: str = "report") -> None:
        self.engine = engine
        self.per_minute = per_minute
        self.burst = burst
        self.prefix = prefix

    def hit(self, client: str) -> None:
        """Count one report from ``client``, or raise TooManyRequests (429) with the wait in seconds."""
        taken = ratelimit.take(self.engine, f"{self.prefix}:{client}", rate=self.per_minute / 60, burst=self.burst)
        if not taken.allowed:
            wait = taken.retry_after_s
            raise TooManyRequests(f"without signing in, one address may send {self.burst} reports at once and then "
                                  f"{self.per_minute:g} a minute; retry in {wait} s", retry_after=wait)
