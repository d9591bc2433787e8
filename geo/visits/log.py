"""Logging a household visit 入户走访 and listing visits.

A visit is checked against the household's point: the distance in metres on the spheroid
(geography) is stored with the visit, and a visit farther than the rule's threshold is flagged
``far`` (geo/visits/rules.py), never refused. The household must lie in the caller's territory
(geo/access/scope.py), else it does not exist for them (404). The worker's position is their
personal data: listed only with ``unmasked`` (granted by the route for ``pii:read`` and a purpose,
audited); the distance and the flag are the work record and always shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, member_filter
from geo.errors import InvalidInput, NotFound
from geo.privacy import audit
from geo.privacy.audit import Actor
from geo.privacy.pii import check_purpose, mask_free_text
from geo.visits import fixes, rules
from geo.visits.fixes import Spot

KINDS = ("routine", "care", "verify", "mediation", "other")  # 日常走访, 关爱帮扶, 信息核实, 矛盾调解, 其他
NOTE_MAX = 500


@dataclass(frozen=True)
class Logged:
    visit: dict[str, Any]
    created: bool  # False: the same visit (staff, household, time) was already stored: a retry


def household_in_scope(session: Session, household_id: int, scope: Scope) -> Any:
    """The household's id, county and comprehensive grid, or NotFound (also outside the territory)."""
    clause, params = member_filter(scope, "household", "h")
    row = session.execute(text(f"""
        SELECT h.id, h.county_code,
               (SELECT m.grid_id FROM grid_membership m JOIN grid_layer l ON l.id = m.layer_id
                 WHERE m.kind = 'household' AND m.entity_id = h.id AND l.code = 'comprehensive') AS grid_id
          FROM household h WHERE h.id = :h{clause}"""), {"h": household_id, **params}).first()
    if row is None:
        raise NotFound(f"no household with id {household_id}", pointer="/household_id")
    return row


def check_note(note: str, pointer: str = "/note") -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise InvalidInput(f"the note may have at most {NOTE_MAX} characters, got {len(note)}", pointer=pointer)
    return note


def log_visit(
    session: Session, *, staff_id: int, household_id: int, spot: Spot, kind: str, note: str, scope: Scope,
    actor: Actor, retention_days: int, now: datetime | None = None,
) -> Logged:
    """Store one visit with its distance to the household and the ``far`` flag; idempotent on (staff, household, at).

    A visit logged late, already past the position retention period, is stored without the position
    (the purge would clear it at once), with its distance and flag."""
    now = now or fixes.utcnow()
    fixes.check([spot], now)
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}, got {kind!r}", pointer="/kind")
    note = check_note(note)
    house = household_in_scope(session, household_id, scope)
    (lon,), (lat,) = fixes.to_storage([spot])
    at = spot.at or now
    s = rules.settings()
    row = session.execute(text("""
        WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g),
             d AS (SELECT p.g, ST_Distance(p.g::geography, h.geom::geography) AS m FROM p, household h WHERE h.id = :h)
        INSERT INTO visit (county_code, household_id, staff_id, grid_id, at, kind, note, position, accuracy_m,
                           distance_m, far, created_by)
        SELECT :county, :h, :s, :grid, :at, CAST(:kind AS visit_kind), :note,
               CASE WHEN :keep THEN d.g END, CASE WHEN :keep THEN CAST(:acc AS float8) END, d.m, d.m > :far_m, :u
          FROM d
        ON CONFLICT (staff_id, household_id, at) DO NOTHING
        RETURNING id"""),
        {"lon": lon, "lat": lat, "h": house.id, "county": house.county_code, "s": staff_id, "grid": house.grid_id,
         "at": at, "kind": kind, "note": note, "acc": spot.accuracy_m, "far_m": s.visit_far_m,
         "u": actor.user_id, "keep": at >= now - timedelta(days=retention_days)}).first()
    created = row is not None
    visit_id = row.id if created else session.execute(text(
        "SELECT id FROM visit WHERE staff_id = :s AND household_id = :h AND at = :at"),
        {"s": staff_id, "h": house.id, "at": at}).scalar_one()
    if created:
        audit.record(session, actor, action="visit.log", entity="visit", entity_id=visit_id,
                     detail={"household_id": house.id})
    return Logged(get_visit(session, visit_id, own_staff_id=staff_id), created)


_COLUMNS = """v.id, v.household_id, v.staff_id, v.grid_id, g.code AS grid_code, v.at, v.recorded_at,
              v.kind::text AS kind, v.note, v.distance_m, v.far, v.accuracy_m,
              ST_X(v.position) AS lon, ST_Y(v.position) AS lat"""


def _shown(row: Any, *, exact: bool) -> dict[str, Any]:
    """A visit as answered: the note masked (free text), the position only when ``exact``."""
    out = dict(row._mapping)
    out["note"] = mask_free_text(out["note"])
    out["distance_m"] = None if out["distance_m"] is None else round(out["distance_m"], 1)
    lon, lat = out.pop("lon"), out.pop("lat")
    if exact:
        out["position"] = None if lon is None else {"lon": lon, "lat": lat}
    else:
        out.pop("accuracy_m")
    out["position_shown"] = exact
    return out


def get_visit(session: Session, visit_id: int, *, own_staff_id: int | None = None) -> dict[str, Any]:
    row = session.execute(text(f"SELECT {_COLUMNS} FROM visit v LEFT JOIN grid g ON g.id = v.grid_id WHERE v.id = :v"),
                          {"v": visit_id}).one()
    return _shown(row, exact=own_staff_id is not None and row.staff_id == own_staff_id)


def list_visits(
    session: Session, *, scope: Scope, actor: Actor, grid_id: int | None = None, household_id: int | None = None,
    staff_id: int | None = None, since: datetime | None = None, limit: int = 100, offset: int = 0,
    own_staff_id: int | None = None, unmasked: bool = False, purpose: str | None = None,
) -> dict[str, Any]:
    """Visits inside ``scope``, newest first. The worker's own visits show their positions to them; others'
    only ``unmasked`` with a purpose (audited as ``pii.read``)."""
    if unmasked:
        purpose = check_purpose(purpose)
    clause, params = member_filter(scope, "household", "h")
    rows = session.execute(text(f"""
        SELECT {_COLUMNS} FROM visit v JOIN household h ON h.id = v.household_id LEFT JOIN grid g ON g.id = v.grid_id
         WHERE (CAST(:g AS integer) IS NULL OR v.grid_id = :g) AND (CAST(:hh AS integer) IS NULL OR v.household_id = :hh)
           AND (CAST(:st AS integer) IS NULL OR v.staff_id = :st) AND (CAST(:since AS timestamptz) IS NULL OR v.at >= :since)
           {clause}
         ORDER BY v.at DESC, v.id DESC LIMIT :limit OFFSET :offset"""),
        {"g": grid_id, "hh": household_id, "st": staff_id, "since": since, "limit": limit + 1, "offset": offset,
         **params}).all()
    more = len(rows) > limit
    rows = rows[:limit]
    shown = [_shown(r, exact=unmasked or (own_staff_id is not None and r.staff_id == own_staff_id)) for r in rows]
    if unmasked:
        audit.record(session, actor, action="pii.read", entity="visit", purpose=purpose,
                     detail={"visits": len(shown)})
    return {"visits": shown, "limit": limit, "offset": offset, "more": more}
