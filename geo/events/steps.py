"""One step of an event's life, written the one way: its ``event_transition`` row (actor,
time, note, detail) and its audit row, always together."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.privacy import audit


def record_step(
    session: Session, actor: audit.Actor, event_id: int, action: str, *, from_status: str | None, to_status: str,
    note: str = "", detail: dict[str, object] | None = None, audit_detail: dict[str, object] | None = None,
) -> datetime:
    """Write the transition and the audit row (action ``event.<action>``); returns the transition's time.

    ``detail`` may name people (it is read with the event); ``audit_detail`` must not (audit.record)."""
    at = session.execute(text("""
        INSERT INTO event_transition (event_id, action, from_status, to_status, actor, note, detail)
        VALUES (:e, :a, CAST(:f AS event_status), CAST(:t AS event_status), :who, :note, CAST(:d AS jsonb))
        RETURNING at"""), {"e": event_id, "a": action, "f": from_status, "t": to_status, "who": actor.username,
                           "note": note, "d": None if detail is None else json.dumps(detail, ensure_ascii=False,
                                                                                     default=str)}).scalar_one()
    audit.record(session, actor, action=f"event.{action}", entity="event", entity_id=event_id, detail=audit_detail)
    return at
