"""Days since the last visit, per household of a grid (the map), and who is behind (a grid head).

Both answer from one SQL statement: the households come from ``grid_membership`` (no spatial scan),
and each one's last visit is one probe of the ``(household_id, at DESC)`` index. The target each
household is held to is the rule of geo/visits/rules.py. No names or phones: a household is its id
and its address (free text, masked); a worker is their staff id, role and grid, and a masked name.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, member_filter
from geo.errors import NotFound
from geo.privacy.pii import mask_free_text, mask_name
from geo.visits import rules

_LAST = """(SELECT max(v.at) FROM visit v WHERE v.household_id = h.id)"""
# Whole days since the last visit; never below 0: a visit logged in this very transaction (now() is its
# start) or from a phone whose clock runs a little ahead is "today", not "-1 days".
_DAYS = "greatest(0, floor(extract(epoch FROM (now() - lv.last_at)) / 86400))::int"


def grid_visit_status(session: Session, grid_id: int, *, scope: Scope) -> dict[str, Any]:
    """The grid's households as a GeoJSON FeatureCollection with ``days_since`` (null: never visited),
    ``target_days`` and ``behind``; NotFound when the grid is outside the territory."""
    grid = session.execute(text("SELECT id, code, name, layer_id FROM grid WHERE id = :g"), {"g": grid_id}).first()
    if grid is None or not (scope.everything or grid_id in scope.visible_grids):
        raise NotFound(f"no grid with id {grid_id}", pointer="id")
    clause, params = member_filter(scope, "household", "h")
    rows = session.execute(text(f"""
        SELECT h.id, h.address, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, lv.last_at,
               CASE WHEN lv.last_at IS NULL THEN NULL ELSE {_DAYS} END AS days_since,
               {rules.target_days_sql('h')} AS target_days
          FROM grid_membership m JOIN household h ON h.id = m.entity_id
          CROSS JOIN LATERAL (SELECT {_LAST} AS last_at) lv
         WHERE m.grid_id = :g AND m.kind = 'household' AND m.layer_id = :layer{clause}
         ORDER BY h.id"""), {"g": grid.id, "layer": grid.layer_id, **params, **rules.target_params()}).mappings().all()
    features = []
    for r in rows:
        behind = r["days_since"] is None or r["days_since"] > r["target_days"]
        features.append({"type": "Feature", "id": r["id"],
                         "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
                         "properties": {"id": r["id"], "address": mask_free_text(r["address"]),
                                        "last_visit_at": r["last_at"].isoformat() if r["last_at"] else None,
                                        "days_since": r["days_since"], "target_days": r["target_days"],
                                        "behind": behind}})
    return {"type": "FeatureCollection", "grid": {"id": grid.id, "code": grid.code, "name": grid.name},
            "rule": rules.describe(), "features": features,
            "summary": {"households": len(features), "behind": sum(f["properties"]["behind"] for f in features),
                        "never_visited": sum(f["properties"]["days_since"] is None for f in features)}}


def _division(session: Session, code: str | None, scope: Scope) -> Any:
    """The division asked for (default: the caller's own), NotFound outside the territory."""
    if code is None:
        if scope.everything:
            raise NotFound("name the division (division=…): the whole platform is too wide a list", pointer="division")
        if not scope.own_divisions:  # a grid's jurisdiction: its grid only
            return None
        row = session.execute(text("SELECT id, code, name FROM division WHERE id = ANY(:d) ORDER BY level, code LIMIT 1"),
                              {"d": list(scope.own_divisions)}).first()
        return row
    row = session.execute(text("SELECT id, code, name FROM division WHERE code = :c"), {"c": code}).first()
    if row is None or not (scope.everything or row.id in scope.own_divisions):
        raise NotFound(f"no division with code {code}", pointer="division")
    return row


def behind(session: Session, *, scope: Scope, division: str | None = None, limit: int = 100) -> dict[str, Any]:
    """Which workers and households of a division (or of the caller's grid) are behind the visit targets.

    Workers are the grid workers and assistants who serve each comprehensive grid; each is held to the
    households of their grid. Households most overdue first (never visited before all).
    """
    div = _division(session, division, scope)
    clause, params = member_filter(scope, "household", "h")
    if div is None:
        grid_filter = "AND m.grid_id = ANY(:grids)"
        params["grids"] = list(scope.grids)
    else:
        grid_filter = """AND g.division_id IN (WITH RECURSIVE down AS (SELECT id FROM division WHERE id = :div
                             UNION ALL SELECT c.id FROM division c JOIN down ON c.parent_id = down.id) SELECT id FROM down)"""
        params["div"] = div.id
    base = f"""
        WITH hh AS (
            SELECT h.id, h.address, m.grid_id, lv.last_at,
                   CASE WHEN lv.last_at IS NULL THEN NULL ELSE {_DAYS} END AS days_since,
                   {rules.target_days_sql('h')} AS target_days
              FROM grid_membership m
              JOIN grid_layer l ON l.id = m.layer_id AND l.code = 'comprehensive'
              JOIN grid g ON g.id = m.grid_id
              JOIN household h ON h.id = m.entity_id
              CROSS JOIN LATERAL (SELECT {_LAST} AS last_at) lv
             WHERE m.kind = 'household' {grid_filter}{clause}),
        late AS (SELECT *, days_since IS NULL OR days_since > target_days AS behind FROM hh)"""
    p = {**params, **rules.target_params()}
    totals = session.execute(text(base + """
        SELECT count(*) AS households, count(*) FILTER (WHERE behind) AS behind,
               count(*) FILTER (WHERE days_since IS NULL) AS never_visited FROM late"""), p).mappings().one()
    workers = session.execute(text(base + """,
        per_grid AS (SELECT grid_id, count(*) AS households, count(*) FILTER (WHERE behind) AS behind,
                            count(*) FILTER (WHERE days_since IS NULL) AS never_visited FROM late GROUP BY grid_id)
        SELECT s.id AS staff_id, s.name, s.role::text AS role, g.id AS grid_id, g.code AS grid_code, g.name AS grid_name,
               pg.households, pg.behind, pg.never_visited,
               (SELECT count(*) FROM visit v WHERE v.staff_id = s.id AND v.at >= now() - interval '30 days') AS visits_30d,
               (SELECT max(v.at) FROM visit v WHERE v.staff_id = s.id) AS last_visit_at
          FROM per_grid pg JOIN grid g ON g.id = pg.grid_id
          JOIN staff s ON s.grid_id = pg.grid_id AND s.role IN ('grid_worker', 'grid_assistant')
         ORDER BY pg.behind DESC, g.code, s.role DESC, s.id"""), p).mappings().all()
    households = session.execute(text(base + """
        SELECT l.id, l.address, g.id AS grid_id, g.code AS grid_code, l.last_at, l.days_since, l.target_days
          FROM late l JOIN grid g ON g.id = l.grid_id WHERE l.behind
         ORDER BY l.days_since IS NOT NULL, l.days_since - l.target_days DESC, l.id LIMIT :limit"""),
        {**p, "limit": limit}).mappings().all()
    return {
        "division": None if div is None else {"code": div.code, "name": div.name},
        "rule": rules.describe(), **dict(totals),
        "workers": [{**dict(w), "name": mask_name(w["name"])} for w in workers],
        "households": [{**dict(h), "address": mask_free_text(h["address"]),
                        "last_visit_at": h["last_at"], "never_visited": h["days_since"] is None}
                       for h in households],
        "households_limit": limit,
    }




def my_grid(session: Session, staff_id: int | None, *, scope: Scope) -> dict[str, Any]:
    """The grid a staff member serves (if inside the territory) and the rule, for the map's panel."""
    grid = None
    if staff_id is not None:
        row = session.execute(text("SELECT g.id, g.code, g.name FROM staff s JOIN grid g ON g.id = s.grid_id"
                                   " WHERE s.id = :s"), {"s": staff_id}).mappings().first()
        if row is not None and (scope.everything or row["id"] in scope.visible_grids):
            grid = dict(row)
    return {"staff_id": staff_id, "grid": grid, "rule": rules.describe()}
