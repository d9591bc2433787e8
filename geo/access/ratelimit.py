"""Token buckets in PostgreSQL: one limit shared by every worker process and every server.

A bucket holds at most ``burst`` tokens and refills at ``rate`` tokens a second;
a hit takes ``cost`` tokens or is refused with the wait until enough have
refilled. The state lives in the ``rate_bucket`` table (UNLOGGED: a crash may
forget who was hammering, which only makes the limit briefly lenient) and each
hit is one ``INSERT … ON CONFLICT DO UPDATE … RETURNING``: the row lock makes
concurrent hits from any number of processes queue for the same bucket, so
the limit holds with ``gridmap serve --workers N`` and behind a load balancer.

Why a separate connection rather than the caller's transaction: a refused or
failed request rolls its own transaction back, which would also give back the
token it took (a script could then spam requests that fail validation for
free), and the bucket's row lock would be held for the whole request. So
:func:`take` runs in its own short transaction on the engine and commits at once.

Keys are the caller's business (``"report:203.0.113.7"``, ``"login:user:alice"``);
give each limit its own prefix. Rows of buckets that have refilled are pruned
now and then (a full bucket and a missing row mean the same thing).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from sqlalchemy import Engine, text

MAX_KEY_LENGTH = 300
PRUNE_PROBABILITY = 0.01  # about one hit in a hundred also deletes refilled buckets

# The bucket's level now: what was left at the last hit plus what has refilled since, at most ``burst``.
# EXCLUDED.at is this statement's timestamp (one value for the whole statement, unlike clock_timestamp()).
_LEVEL = "least(:burst, b.tokens + greatest(extract(epoch FROM EXCLUDED.at - b.at)::float8, 0) * :rate)"
_LEFT = f"CASE WHEN {_LEVEL} >= :cost THEN {_LEVEL} - :cost ELSE {_LEVEL} END"
_TAKE = text(f"""
    INSERT INTO rate_bucket AS b (key, tokens, at, full_at, allowed)
    VALUES (:key, :burst - :cost, statement_timestamp(),
            statement_timestamp() + make_interval(secs => :cost / :rate), true)
    ON CONFLICT (key) DO UPDATE SET
        tokens = {_LEFT},
        at = EXCLUDED.at,
        full_at = EXCLUDED.at + make_interval(secs => (:burst - {_LEFT}) / :rate),
        allowed = {_LEVEL} >= :cost
    RETURNING allowed, tokens""")
_PRUNE = text("DELETE FROM rate_bucket WHERE full_at < statement_timestamp()")


@dataclass(frozen=True)
class Taken:
    """The outcome of one hit: whether it was allowed, the tokens left, and (when refused) the wait."""

    allowed: bool
    remaining: float
    retry_after: float  # seconds until ``cost`` tokens are back; 0 when allowed

    @property
    def retry_after_s(self) -> int:
        """The wait as whole seconds for a ``Retry-After`` header (never 0 when refused)."""
        return max(1, math.ceil(self.retry_after)) if not self.allowed else 0


def take(engine: Engine, key: str, *, rate: float, burst: float, cost: float = 1.0) -> Taken:
    """Take ``cost`` tokens from the bucket ``key`` (capacity ``burst``, refilling ``rate`` a second).

    Commits on its own connection at once (see the module docstring for why), so call it with the
    engine, never inside the request's transaction. Raises ValueError for a nonsensical limit
    (a cost above the burst could never be allowed).
    """
    if not all(math.isfinite(v) and v > 0 for v in (rate, burst, cost)) or cost > burst:
        raise ValueError(f"rate, burst and cost must be positive and finite, cost at most burst "
                         f"(got {rate}, {burst}, {cost})")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"a bucket key must be 1–{MAX_KEY_LENGTH} characters")
    with engine.begin() as conn:
        row = conn.execute(_TAKE, {"key": key, "rate": float(rate), "burst": float(burst),
                                   "cost": float(cost)}).one()
        if random.random() < PRUNE_PROBABILITY:  # noqa: S311 - scheduling, not security
            conn.execute(_PRUNE)
    remaining = float(row.tokens)
    if row.allowed:
        return Taken(True, remaining, 0.0)
    return Taken(False, remaining, (cost - remaining) / rate)


def prune(engine: Engine) -> int:
    """Delete every bucket that has refilled; the number deleted. :func:`take` also does this now and then."""
    with engine.begin() as conn:
        return conn.execute(_PRUNE).rowcount
