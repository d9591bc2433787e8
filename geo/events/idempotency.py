"""Idempotency-Key for submissions from flaky mobile networks.

The key is claimed with a transaction-scoped advisory lock, so a retry that
arrives while the first attempt is still running gets 409 instead of racing
it; once the first attempt commits, a retry finds the stored response and gets
it replayed. The stored row is written in the same transaction as the event:
either both exist or neither does. A stored key is honoured for 24 hours.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import Conflict, InvalidInput

RETENTION_HOURS = 24
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Stored:
    status_code: int
    body: dict[str, object]


def scoped_key(caller: str, key: str) -> str:
    """Keys are per caller: two users who happen to pick the same key do not collide, and nobody can
    replay another's answer. Anonymous callers are told apart by their address, so a phone whose
    retry comes from a new address makes a second report (which duplicate detection then flags)
    rather than anyone reading another reporter's receipt."""
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(f"Idempotency-Key must be 1–{MAX_KEY_LENGTH} printable characters",
                           pointer="Idempotency-Key")
    return f"{caller}:{key}"


def fingerprint(body: object) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def claim(session: Session, key: str, request_hash: str) -> Stored | None:
    """Hold the key for this transaction; the stored response if the key was used before."""
    got = session.execute(text("SELECT pg_try_advisory_xact_lock(hashtextextended(:k, 7))"), {"k": key}).scalar_one()
    if not got:
        raise Conflict("a submission with this Idempotency-Key is still being processed; retry in a moment",
                       pointer="Idempotency-Key")
    row = session.execute(text(f"""
        SELECT request_hash, status_code, response FROM idempotency_key
        WHERE key = :k AND created_at > now() - interval '{RETENTION_HOURS} hours'"""), {"k": key}).first()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise InvalidInput("this Idempotency-Key was already used for a different submission; use a new key "
                           "for a new report", pointer="Idempotency-Key")
    return Stored(row.status_code, row.response)


def store(session: Session, key: str, request_hash: str, event_id: int, status_code: int,
          body: dict[str, object]) -> None:
    session.execute(text("""
        INSERT INTO idempotency_key (key, request_hash, event_id, status_code, response)
        VALUES (:k, :h, :e, :s, CAST(:b AS jsonb))
        ON CONFLICT (key) DO UPDATE SET request_hash = EXCLUDED.request_hash, event_id = EXCLUDED.event_id,
            status_code = EXCLUDED.status_code, response = EXCLUDED.response, created_at = now()"""),
                    {"k": key, "h": request_hash, "e": event_id, "s": status_code,
                     "b": json.dumps(body, ensure_ascii=False, default=str)})
