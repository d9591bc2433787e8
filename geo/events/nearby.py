"""Open reports near a place, for a citizen about to report the same thing ("已经有人报过了？").

Before a citizen submits, the report page asks which open reports of the same
category lie within that category's duplicate radius (metres, on the spheroid)
and time window of the chosen place. The answer is the public view of each
(geo/events/public.py: no names, location to ~100 m, the words withheld for
residents' private matters) plus how many people have joined it and a distance
rounded to 50 m (an exact distance from a known point would give the report's
exact place back).

Joining ("加入它") stores the citizen's report as usual and then marks it a
duplicate of the chosen one through the state machine (geo/events/lifecycle.py,
action ``duplicate``), in the same transaction: the new report follows the
original's progress, and the original's ``me_too`` count (its duplicates) rises
by one. Only a report the page could have offered may be joined: open, same
category, within the radius and window of the new report's place.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.errors import InvalidInput
from geo.events import lifecycle, public
from geo.models.events import NOT_OPEN_SQL
from geo.privacy import audit

DISTANCE_STEP_M = 50
MAX_NEARBY = 5

_NEARBY = f"""
    WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:x, :y), 4326) AS g)
    SELECT o.id, (round(ST_Distance(o.geom::geography, p.g::geography) / {DISTANCE_STEP_M}) * {DISTANCE_STEP_M})::int
                 AS distance_m,
           (SELECT count(*) FROM event d WHERE d.duplicate_of = o.id)::int AS me_too
    FROM p, event_category c
    JOIN event o ON o.category = c.code AND o.duplicate_of IS NULL AND o.status::text NOT IN {NOT_OPEN_SQL}
    WHERE c.code = :c AND o.id <> :exclude
      AND o.reported_at >= now() - make_interval(hours => c.duplicate_window_hours)
      AND o.geom && ST_Expand(p.g, c.duplicate_radius_m * 1.05 / (111320 * cos(radians(:y))),
                              c.duplicate_radius_m * 1.05 / 110574)
      AND ST_DWithin(o.geom::geography, p.g::geography, c.duplicate_radius_m)
    ORDER BY ST_Distance(o.geom::geography, p.g::geography), o.id
    LIMIT :n
"""


def open_nearby(session: Session, *, category: str, lon: float, lat: float, exclude: int = 0,
                limit: int = MAX_NEARBY) -> list[dict[str, object]]:
    """Open reports of ``category`` near (lon, lat) WGS-84, nearest first, as the public may see them."""
    found = session.execute(text(_NEARBY), {"c": category, "x": lon, "y": lat, "exclude": exclude,
                                            "n": limit}).mappings().all()
    if not found:
        return []
    shown = {r["id"]: r for r in public.requests(session, ids=[f["id"] for f in found])}
    out = []
    for f in found:
        r = shown[f["id"]]
        out.append({"id": r["id"], "category": r["category"], "service_name": r["service_name"],
                    "status": r["status"], "reported_at": r["reported_at"], "due_at": r["due_at"],
                    "village": r["village"], "lon": r["lon"], "lat": r["lat"],
                    "description": None if r["triage"] == "civil" else r["description"],
                    "distance_m": f["distance_m"], "me_too": f["me_too"]})
    return out


def join(session: Session, event_id: int, original_id: int, *, actor: audit.Actor) -> dict[str, object]:
    """Make the new report ``event_id`` a duplicate of ``original_id`` (which must be one open_nearby
    offers for it); returns the original's new ``me_too`` count."""
    ev = session.execute(text("SELECT category, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM event WHERE id = :e"),
                         {"e": event_id}).mappings().one()
    offered = {r["id"] for r in open_nearby(session, category=ev["category"], lon=ev["lon"], lat=ev["lat"],
                                            exclude=event_id, limit=50)}
    if original_id not in offered:
        raise InvalidInput(f"report {original_id} is not an open report of this category near this place; "
                           "it cannot be joined (submit without join)", pointer="join")
    lifecycle.perform(session, event_id, "duplicate",
                      lifecycle.Step(note="市民选择加入已有报告", duplicate_of=original_id),
                      scope=Scope.county(), actor=actor)
    me_too = session.execute(text("SELECT count(*) FROM event WHERE duplicate_of = :o"), {"o": original_id}).scalar()
    return {"joined": original_id, "me_too": int(me_too or 0)}
