"""Sign-in throttling: growing delays instead of a lockout, kept in PostgreSQL.

Why not a hard lock (five failures → locked for 15 minutes, as before): anyone
could lock out the admin by typing five wrong passwords, and the lock message
told a stranger which usernames exist. Instead every failure is counted under
three keys, and once a key has had its free failures each further failure
makes the next attempt under that key wait twice as long (1 s, 2 s, 4 s, ...,
capped), answered 429 with ``Retry-After`` without looking at the password:

- **pair** (username, address): strict (3 free). One guesser at one account.
- **address**: looser (20 free), over all accounts: password spraying from one place.
- **account**: loosest (50 free), from everywhere: a guess spread over many
  addresses. It does not apply to an address that signed in to this account
  successfully before (a **known** address, remembered 30 days), so a stranger's
  attack from elsewhere never keeps the owner out at their usual desk — the
  pair-plus-looser-account-bound scheme the OWASP authentication cheat sheet
  describes (device cookies would be the finer version of "known").

Keys are built from the *submitted* username whether or not it exists, so an
unknown account is throttled exactly like a real one: same status, body,
headers and timing. Keys are SHA-256 digests, so a password typed into the
username field is never stored. Rows live in ``login_throttle`` (migration
0010) and are updated with single upserts, so the counts hold across worker
processes; the pair row is locked for the attempt, so parallel guesses at one
pair are serialised (a burst cannot outrun its own delay).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import TooManyRequests
from geo.privacy import audit
from geo.privacy.audit import Actor

KNOWN_FOR = timedelta(days=30)


@dataclass(frozen=True)
class ThrottlePolicy:
    """Free failures per key kind before delays start, the longest delay, and when failures are forgotten."""

    pair_failures: int = 3
    address_failures: int = 20
    account_failures: int = 50
    max_delay_s: int = 900
    forget_s: int = 3600

    def free(self, kind: str) -> int:
        return {"pair": self.pair_failures, "address": self.address_failures,
                "account": self.account_failures}[kind]


@dataclass(frozen=True)
class Keys:
    """The digests one attempt is counted under."""

    pair: str
    address: str
    account: str
    known: str

    @classmethod
    def of(cls, username: str, address: str | None) -> Keys:
        name, where = username.strip().lower(), address or "-"
        return cls(pair=_digest("pair", name, where), address=_digest("address", where),
                   account=_digest("account", name), known=_digest("known", name, where))


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def delay_s(failures: int, free: int, max_delay_s: int) -> int:
    """The wait after ``failures`` failures under a key with ``free`` free ones: 0, then 1, 2, 4, ... s."""
    if failures < free:
        return 0
    return min(2 ** min(failures - free, 30), max_delay_s)


def lock_and_check(session: Session, keys: Keys, policy: ThrottlePolicy, now: datetime) -> None:
    """Serialise attempts at this (account, address) and refuse one that must still wait (429).

    The pair row is created if missing and locked until the caller's transaction ends. The answer
    depends only on the keys, never on whether the account exists.
    """
    session.execute(text(
        "INSERT INTO login_throttle (key, kind, failures, last_seen) VALUES (:k, 'pair', 0, :now)"
        " ON CONFLICT (key) DO NOTHING"), {"k": keys.pair, "now": now})
    session.execute(text("SELECT 1 FROM login_throttle WHERE key = :k FOR UPDATE"), {"k": keys.pair})
    rows = session.execute(text(
        "SELECT key, blocked_until, last_seen FROM login_throttle WHERE key IN (:p, :a, :c, :known)"),
        {"p": keys.pair, "a": keys.address, "c": keys.account, "known": keys.known}).all()
    known = any(r.key == keys.known and r.last_seen > now - KNOWN_FOR for r in rows)
    waits = [r.blocked_until for r in rows
             if r.blocked_until is not None and r.blocked_until > now and (r.key != keys.account or not known)]
    if waits:
        wait = max(1, int((max(waits) - now).total_seconds() + 0.999))
        raise TooManyRequests(f"too many failed sign-ins; retry in {wait} s", retry_after=wait)


_FAIL_SQL = text("""
INSERT INTO login_throttle AS t (key, kind, failures, blocked_until, last_seen)
VALUES (:k, :kind, 1, NULL, :now)
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN t.last_seen < :forget THEN 1 ELSE t.failures + 1 END,
    last_seen = :now
RETURNING failures
""")


def record_failure(session: Session, keys: Keys, policy: ThrottlePolicy, actor: Actor, now: datetime) -> None:
    """Count a failed attempt under every key; each delay that starts is written to the audit log."""
    forget = now - timedelta(seconds=policy.forget_s)
    for kind, key in (("pair", keys.pair), ("address", keys.address), ("account", keys.account)):
        failures = session.execute(_FAIL_SQL, {"k": key, "kind": kind, "now": now, "forget": forget}).scalar_one()
        wait = delay_s(failures, policy.free(kind), policy.max_delay_s)
        session.execute(text("UPDATE login_throttle SET blocked_until = :until WHERE key = :k"),
                        {"k": key, "until": now + timedelta(seconds=wait) if wait else None})
        if wait:
            audit.record(session, actor, action="auth.throttle", entity="user", outcome="denied",
                         detail={"key": kind, "failures": failures, "retry_after_s": wait})
    prune(session, policy, now)


def record_success(session: Session, keys: Keys, now: datetime) -> None:
    """Clear this pair's failures and remember the address as known to the account.

    The account's and the address's counts stay: they may be someone else's attack.
    """
    session.execute(text("DELETE FROM login_throttle WHERE key = :k"), {"k": keys.pair})
    session.execute(text(
        "INSERT INTO login_throttle (key, kind, failures, last_seen) VALUES (:k, 'known', 0, :now)"
        " ON CONFLICT (key) DO UPDATE SET last_seen = :now"), {"k": keys.known, "now": now})


def prune(session: Session, policy: ThrottlePolicy, now: datetime) -> int:
    """Forget quiet keys (past the forget time and not blocked) and stale known addresses."""
    return session.execute(text(
        "DELETE FROM login_throttle WHERE (kind <> 'known' AND last_seen < :forget"
        "   AND (blocked_until IS NULL OR blocked_until < :now))"
        " OR (kind = 'known' AND last_seen < :known)"),
        {"forget": now - timedelta(seconds=policy.forget_s), "now": now, "known": now - KNOWN_FOR}).rowcount
