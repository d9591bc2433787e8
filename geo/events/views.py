"""Events as the API shows them: where, in which grids, with whom, how late."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, member_filter
from geo.db import PreparedStatement, register_prepared
from geo.errors import NotFound
from geo.events.lifecycle import allowed_actions
from geo.models.events import NOT_OPEN_SQL, EventStatus
from geo.privacy import audit
from geo.privacy.audit import Actor
from geo.privacy.pii import check_purpose, mask_free_text, mask_free_text_fields

# Columns of the detail query that hold what people wrote (a reporter's words, an address as typed, a
# link they pasted); the answers to a category's questions (``attributes``) are free text too.
FREE_TEXT = ("description", "address", "media_url")
OVERDUE = f"(e.status::text NOT IN {NOT_OPEN_SQL} AND e.due_at < now())"

_DETAIL = f"""
    SELECT e.id, e.category, c.name AS category_name, c.triage::text AS triage, e.description,
           e.status::text AS status, {OVERDUE} AS overdue, e.source, e.reported_at, e.due_at, e.handled_at,
           e.closed_at, e.updated_at, e.media_url, e.attributes, e.address, e.household_id, e.duplicate_of,
           e.escalated_to,
           ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat,
           e.assignee_kind::text AS assignee_kind, s.id AS staff_id, s.name AS staff_name,
           s.role::text AS staff_role, d.id AS division_id, d.name AS division_name,
           p.code AS department_code, p.name AS department_name,
           (SELECT jsonb_object_agg(l.code, g.code) FROM grid_membership m JOIN grid g ON g.id = m.grid_id
            JOIN grid_layer l ON l.id = m.layer_id WHERE m.kind = 'event' AND m.entity_id = e.id) AS grids
    FROM event e
    JOIN event_category c ON c.code = e.category
    LEFT JOIN staff s ON s.id = e.assignee_staff_id
    LEFT JOIN division d ON d.id = e.assignee_division_id
    LEFT JOIN department p ON p.code = e.assignee_department
    WHERE e.id = :id AND (:s_all OR EXISTS (
        SELECT 1 FROM grid_membership sm WHERE sm.kind = 'event' AND sm.entity_id = e.id
           AND sm.layer_id = :s_layer AND sm.grid_id = ANY(:s_grids)))
"""
# Prepared: the joins and the grids sub-select took longer to plan than to run.
_DETAIL_STATEMENT = register_prepared(PreparedStatement(
    name="gridmap_event_detail",
    params=(("id", "bigint"), ("s_all", "bool"), ("s_layer", "int"), ("s_grids", "int[]")),
    sql=_DETAIL,
))


def event_detail(session: Session, event_id: int, *, scope: Scope, history: bool = False,
                 unmasked: bool = False) -> dict[str, object]:
    """One event as staff see it. Free text (description, address, notes) has ID and phone numbers
    masked unless ``unmasked``, which the caller grants only with pii:read and a purpose, audited
    (``unmasked_event_detail``)."""
    row = _DETAIL_STATEMENT.execute(session, {"id": event_id, "s_all": scope.everything,
                                              "s_layer": scope.layer_id or 0, "s_grids": list(scope.grids)}
                                    ).mappings().first()
    if row is None:
        raise NotFound(f"event {event_id} does not exist or lies outside your territory")
    out = _shape(dict(row) if unmasked else _masked(dict(row)))
    if history:
        out["transitions"] = [dict(r) if unmasked else mask_free_text_fields(dict(r), ("note",))
                              for r in session.execute(text("""
            SELECT action, from_status::text AS "from", to_status::text AS "to", actor, at, note, detail
            FROM event_transition WHERE event_id = :id ORDER BY at, id"""), {"id": event_id}).mappings()]
    return out


def _masked(row: dict[str, object]) -> dict[str, object]:
    """The row with its free text masked: the text columns, and every written answer in ``attributes``
    (a "string" or "text" question takes anything, a pole number as readily as a phone number)."""
    out = mask_free_text_fields(row, FREE_TEXT)
    answers = row.get("attributes")
    if isinstance(answers, dict):
        out["attributes"] = {code: mask_answer(v) for code, v in answers.items()}
    return out


def mask_answer(value: object) -> object:
    """One attribute answer with ID and phone numbers masked (lists answer by element)."""
    if isinstance(value, str):
        return mask_free_text(value)
    if isinstance(value, list):
        return [mask_answer(v) for v in value]
    return value


def record_unmasked_read(session: Session, *, actor: Actor, event_id: int, purpose: str, surface: str) -> None:
    """The audit row of a look at an event's free text as written (``purpose`` already checked)."""
    audit.record(session, actor, action="pii.read", entity="event", entity_id=event_id, purpose=purpose,
                 detail={"free_text": surface})


def unmasked_event_detail(session: Session, event_id: int, *, scope: Scope, actor: Actor, purpose: str | None,
                          history: bool = False) -> dict[str, object]:
    """The event with its free text as written, for a stated purpose; the read is audited in the
    same transaction (the caller has checked pii:read, as for residents)."""
    purpose = check_purpose(purpose)
    out = event_detail(session, event_id, scope=scope, history=history, unmasked=True)
    record_unmasked_read(session, actor=actor, event_id=event_id, purpose=purpose,
                         surface="history" if history else "detail")
    return out


def _shape(r: dict[str, object]) -> dict[str, object]:
    assignee: dict[str, object] | None = None
    if r["assignee_kind"] == "staff":
        assignee = {"kind": "staff", "id": r["staff_id"], "name": r["staff_name"], "role": r["staff_role"]}
    elif r["assignee_kind"] == "division":
        assignee = {"kind": "division", "id": r["division_id"], "name": r["division_name"]}
    elif r["assignee_kind"] == "department":
        assignee = {"kind": "department", "code": r["department_code"], "name": r["department_name"]}
    return {
        "id": r["id"],
        "category": {"code": r["category"], "name": r["category_name"], "triage": r["triage"]},
        "description": r["description"],
        "status": r["status"],
        "overdue": r["overdue"],
        "allowed_actions": allowed_actions(EventStatus(r["status"])),
        "source": r["source"],
        "reported_at": r["reported_at"], "due_at": r["due_at"], "handled_at": r["handled_at"],
        "closed_at": r["closed_at"], "updated_at": r["updated_at"],
        "attributes": r["attributes"] or {},  # answers to the category's questions (Open311 attribute[code])
        "location": {"lon": r["lon"], "lat": r["lat"], "crs": "wgs84", "address": r["address"],
                     "household_id": r["household_id"]},
        "grids": r["grids"] or {},
        "assignee": assignee,
        "escalated_to": r["escalated_to"],
        "duplicate_of": r["duplicate_of"],
        "media_url": r["media_url"],
    }


def overdue(session: Session, *, scope: Scope, limit: int) -> dict[str, object]:
    """Open events past their deadline, most overdue first, and how many there are in all."""
    clause, params = member_filter(scope, "event", "e")
    count = session.execute(text(f"SELECT count(*) FROM event e WHERE {OVERDUE} {clause}"), params).scalar_one()
    items = [dict(r) for r in session.execute(text(f"""
        SELECT e.id, e.category, e.status::text AS status, e.reported_at, e.due_at,
               round(extract(epoch FROM now() - e.due_at) / 3600)::int AS hours_overdue,
               e.assignee_kind::text AS assignee_kind, e.assignee_staff_id, e.assignee_division_id,
               e.assignee_department, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat
        FROM event e WHERE {OVERDUE} {clause}
        ORDER BY e.due_at, e.id LIMIT :n"""), {"n": limit, **params}).mappings()]
    return {"count": count, "items": items}
