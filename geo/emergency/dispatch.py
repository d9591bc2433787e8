"""Dispatch 调度: send one responder to one event.

Why a function of its own rather than ``PUT /staff/{id}/availability``: setting someone "busy" said
nothing about what for, so the command map could not show whom an incident already has, and two
officers could send the same responder to two incidents in the same second. Here the responder's row
is locked, checked dispatchable (``available`` or ``on_duty``, as the nearest list defines it) and set
``busy`` with the event recorded (``staff.busy_event_id``, migration 0020), in one transaction with
the audit row ``responder.dispatched``. A responder already busy, off duty or out of service is a
409 naming their state, and nothing changes. The event must be open and inside the caller's
territory, the responder inside it too (404 otherwise: outside looks like absent, as everywhere).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.errors import Conflict, NotFound
from geo.models.events import CLOSED_STATES
from geo.models.people import Availability
from geo.privacy import audit
from geo.privacy.audit import Actor
from geo.spatial.features import get_feature

DISPATCHABLE = (Availability.AVAILABLE.value, Availability.ON_DUTY.value)
STATE_ZH = {"available": "空闲", "on_duty": "在岗", "busy": "忙碌", "off_duty": "下班", "out_of_service": "停用"}


def open_event(session: Session, event_id: int, scope: Scope) -> dict[str, Any]:
    """The event's id, status and WGS84 point if it is inside ``scope`` (else NotFound) and open (else Conflict)."""
    get_feature(session, "events", event_id, scope=scope)
    row = session.execute(text("SELECT id, status::text AS status, ST_X(geom) AS lon, ST_Y(geom) AS lat"
                               " FROM event WHERE id = :e"), {"e": event_id}).mappings().one()
    if row["status"] in CLOSED_STATES:
        raise Conflict(f"event {event_id} is {row['status']}, not open", pointer="event_id")
    return dict(row)


def dispatch(session: Session, event_id: int, staff_id: int, *, scope: Scope, actor: Actor) -> dict[str, Any]:
    """Set the responder busy for the event; audited. Only ``flush``-level writes: the request commits."""
    open_event(session, event_id, scope)
    try:
        get_feature(session, "staff", staff_id, scope=scope)
    except NotFound:
        raise NotFound(f"no responder with id {staff_id} in your territory", pointer="staff_id") from None
    before = session.execute(text("SELECT availability::text AS availability, busy_event_id FROM staff"
                                  " WHERE id = :s FOR UPDATE"), {"s": staff_id}).mappings().one()
    if before["availability"] not in DISPATCHABLE:
        busy = (f" (already sent to event {before['busy_event_id']})"
                if before["availability"] == "busy" and before["busy_event_id"] else "")
        raise Conflict(f"responder {staff_id} is {before['availability']}{busy}, not available to dispatch",
                       pointer="staff_id", availability=before["availability"])
    row = session.execute(text("""
        UPDATE staff SET availability = 'busy', availability_at = now(), busy_event_id = :e WHERE id = :s
        RETURNING availability::text AS availability, availability_at AS at"""),
        {"s": staff_id, "e": event_id}).mappings().one()
    audit.record(session, actor, action="responder.dispatched", entity="staff", entity_id=staff_id,
                 detail={"event_id": event_id, "from": before["availability"]})
    return {"staff_id": staff_id, "event_id": event_id, "availability": row["availability"],
            "previous": before["availability"], "at": row["at"]}


def dispatched_to(session: Session, event_id: int, scope: Scope) -> list[int]:
    """Ids of the responders busy for the event now (the event must be inside ``scope``)."""
    get_feature(session, "events", event_id, scope=scope)
    return list(session.execute(text("SELECT id FROM staff WHERE busy_event_id = :e AND availability = 'busy'"
                                     " ORDER BY id"), {"e": event_id}).scalars())
