"""Append-only audit trail: every write and every unmasked look at personal data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.privacy.pii import mask_free_text_fields


@dataclass(frozen=True)
class Actor:
    """Who acts, and from where; built by the API from the token and the request."""

    user_id: int | None
    username: str
    request_id: str | None = None
    client: str | None = None


SYSTEM = Actor(None, "system")


def record(
    session: Session,
    actor: Actor,
    *,
    action: str,
    entity: str,
    entity_id: object = None,
    outcome: str = "ok",
    purpose: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit row in the caller's transaction (a failed write leaves no claim of success).

    ``detail`` must never carry personal data; callers pass ids and counts only.
    """
    import json

    session.execute(
        text(
            "INSERT INTO audit_log (user_id, username, action, entity, entity_id, outcome, purpose, request_id,"
            " client, detail) VALUES (:u, :n, :a, :e, :i, :o, :p, :r, :c, CAST(:d AS jsonb))"
        ),
        {"u": actor.user_id, "n": actor.username, "a": action, "e": entity,
         "i": None if entity_id is None else str(entity_id), "o": outcome, "p": purpose,
         "r": actor.request_id, "c": actor.client, "d": json.dumps(detail) if detail else None},
    )


def search(
    session: Session,
    *,
    user: str | None = None,
    entity: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    after: int = 0,
) -> list[dict[str, Any]]:
    """Audit rows, oldest first, filtered by user name, entity, action (the kind: ``pii.break_glass``,
    or a family ending in ``.*``: ``pii.*``) and time."""
    where = ["id > :after"]
    params: dict[str, Any] = {"after": after, "limit": limit}
    for column, op, key, value in (("username", "=", "user", user), ("entity", "=", "entity", entity),
                                   ("at", ">=", "since", since), ("at", "<", "until", until)):
        if value is not None:
            where.append(f"{column} {op} :{key}")
            params[key] = value
    if action is not None:
        if action.endswith(".*"):
            where.append("starts_with(action, :action)")
            params["action"] = action[:-1]
        else:
            where.append("action = :action")
            params["action"] = action
    rows = session.execute(
        text(f"SELECT id, at, user_id, username, action, entity, entity_id, outcome, purpose, request_id, client,"
             f" detail FROM audit_log WHERE {' AND '.join(where)} ORDER BY id LIMIT :limit"),
        params,
    ).mappings()
    # Auditors have no pii:read: a purpose or an edit's reason is free text, and a username typed at a
    # failed sign-in may be someone's phone number; both are masked as free text is everywhere (geo.privacy.pii).
    return [mask_free_text_fields(dict(r), ("purpose", "username")) for r in rows]
