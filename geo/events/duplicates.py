"""Possible duplicates: open reports of the same category, near in space and time.

The radius and time window are per category (a burst water main is reported
by many people across a street; a neighbour dispute by one household). The
geometry bounding box only narrows the search; the radius is tested in metres
on the spheroid.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.models.events import CLOSED_STATES
from geo.scope import Scope

_SQL = """
    SELECT o.id, o.category, o.status::text AS status, o.reported_at,
           round(ST_Distance(o.geom::geography, e.geom::geography)::numeric, 1)::float AS distance_m
    FROM event e
    JOIN event_category c ON c.code = e.category
    JOIN event o ON o.category = e.category AND o.id <> e.id AND o.duplicate_of IS NULL
         AND o.status::text <> ALL(:closed)
         AND o.reported_at BETWEEN e.reported_at - make_interval(hours => c.duplicate_window_hours)
                               AND e.reported_at + make_interval(hours => c.duplicate_window_hours)
         AND o.geom && ST_Expand(e.geom, c.duplicate_radius_m * 1.05 / (111320 * cos(radians(ST_Y(e.geom)))),
                                 c.duplicate_radius_m * 1.05 / 110574)
         AND ST_DWithin(o.geom::geography, e.geom::geography, c.duplicate_radius_m)
    WHERE e.id = :id {scope}
    ORDER BY distance_m, o.id
    LIMIT :n
"""


def suggest(session: Session, event_id: int, *, scope: Scope, limit: int = 10) -> list[dict[str, object]]:
    """Open events that may report the same matter as ``event_id``, nearest first (within ``scope``)."""
    clause, params = "", {"id": event_id, "n": limit, "closed": list(CLOSED_STATES)}
    if not scope.everything:
        clause = """AND EXISTS (SELECT 1 FROM grid_membership m WHERE m.kind = 'event' AND m.entity_id = o.id
                                AND m.layer_id = :sl AND m.grid_id = ANY(:sg))"""
        params |= {"sl": scope.layer_id, "sg": list(scope.grids)}
    return [dict(r) for r in session.execute(text(_SQL.format(scope=clause)), params).mappings()]
