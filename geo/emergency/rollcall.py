"""Emergency grid roll call 应急网格点名: who is in or near an emergency grid, and what it holds.

Responders are found by their current position (not their home): everyone
inside the grid (distance 0) or within ``within_m`` geodesic metres of its
boundary, whatever their state, with the state and whether the fix is stale —
a roll call is about who is there, dispatchable or not. Without ``pii:read`` their
positions are coarsened to ~100 m and phones masked. Households and cameras
inside come from the stored grid membership (one B-tree lookup, no spatial scan).
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, member_filter
from geo.emergency.around import M_PER_DEG_LAT, M_PER_DEG_LON_EQUATOR
from geo.errors import InvalidInput, NotFound
from geo.privacy.pii import mask_phone

ROLLCALL_LAYER = "emergency"


def rollcall(
    session: Session, grid_id: int, *, within_m: float, scope: Scope, stale_minutes: int, limit: int = 500,
    unmasked_staff: bool = False, households: bool = True, cameras: bool = True,
) -> dict[str, Any]:
    """Responders in or near an emergency grid (counted in full, listed up to ``limit``), and — for
    callers who may read them — its households and cameras. Which households need help is listed
    only with ``unmasked_staff`` (``pii:read``); otherwise counted."""
    grid = session.execute(text("""
        SELECT g.id, g.code, g.name, l.code AS layer, ST_XMin(g.geom) AS x0, ST_YMin(g.geom) AS y0,
               ST_XMax(g.geom) AS x1, ST_YMax(g.geom) AS y1,
               ST_Area(g.geom::geography) AS area_m2
          FROM grid g JOIN grid_layer l ON l.id = g.layer_id WHERE g.id = :g"""), {"g": grid_id}).mappings().first()
    if grid is None or not (scope.everything or grid_id in scope.visible_grids):
        raise NotFound(f"no grid with id {grid_id}", pointer="grid_id")
    if grid["layer"] != ROLLCALL_LAYER:
        raise InvalidInput(f"grid {grid['code']} is in the {grid['layer']} layer; a roll call is for emergency"
                           " grids 应急网格", pointer="grid_id")
    dlat = within_m / M_PER_DEG_LAT * 1.001
    top = min(89.9, max(abs(grid["y0"]), abs(grid["y1"])) + dlat)
    dlon = within_m / (M_PER_DEG_LON_EQUATOR * math.cos(math.radians(top))) * 1.001
    box = {"bx0": grid["x0"] - dlon, "by0": grid["y0"] - dlat, "bx1": grid["x1"] + dlon, "by1": grid["y1"] + dlat}
    scoped, sp = member_filter(scope, "staff", "s")
    near = f"""
          FROM staff s, g
         WHERE s.position && ST_MakeEnvelope(:bx0, :by0, :bx1, :by1, 4326)
           AND (ST_Covers(g.geom, s.position) OR ST_DWithin(s.position::geography, g.gg, :w)){scoped}"""
    params = {"g": grid_id, "stale": stale_minutes, "w": within_m, "limit": limit, **box, **sp}
    responders = [dict(r) for r in session.execute(text(f"""
        WITH g AS (SELECT geom, geom::geography AS gg FROM grid WHERE id = :g)
        SELECT s.id, s.name, s.role, s.phone, s.availability, s.position_at,
               s.position_accuracy_m AS accuracy_m, s.position_at < now() - make_interval(mins => :stale) AS stale,
               ST_X(s.position) AS lon, ST_Y(s.position) AS lat,
               CASE WHEN ST_Covers(g.geom, s.position) THEN 0.0 ELSE ST_Distance(s.position::geography, g.gg) END
                 AS distance_m
        {near}
         ORDER BY distance_m, s.id LIMIT :limit"""), params).mappings()]
    by_state = dict(session.execute(text(f"""
        WITH g AS (SELECT geom, geom::geography AS gg FROM grid WHERE id = :g)
        SELECT s.availability::text, count(*) {near} GROUP BY 1"""), params).all())
    for r in responders:
        r["inside"] = r["distance_m"] == 0
        if not unmasked_staff:  # as in nearest-responder answers: ~100 m positions and distances
            r["phone"] = mask_phone(r["phone"])
            r["lon"], r["lat"] = round(r["lon"], 3), round(r["lat"], 3)
            r["distance_m"] = round(r["distance_m"] / 100) * 100
            r["position_coarsened"] = True
    hh = session.execute(text("""
        SELECT count(*) AS count, coalesce(sum(h.residents), 0) AS residents,
               count(*) FILTER (WHERE cardinality(h.needs_help) > 0) AS needs_help_count
          FROM grid_membership m JOIN household h ON h.id = m.entity_id
         WHERE m.grid_id = :g AND m.kind = 'household'"""), {"g": grid_id}).mappings().one()
    needing = [dict(r) for r in session.execute(text("""
        SELECT h.id, h.address, h.residents, h.needs_help::text[] AS needs_help, ST_X(h.geom) AS lon,
               ST_Y(h.geom) AS lat
          FROM grid_membership m JOIN household h ON h.id = m.entity_id
         WHERE m.grid_id = :g AND m.kind = 'household' AND cardinality(h.needs_help) > 0
         ORDER BY h.id LIMIT :limit"""), {"g": grid_id, "limit": limit}).mappings()]
    camera_rows = [dict(r) for r in session.execute(text("""
        SELECT c.id, c.code, c.name, c.status, c.bearing, c.fov, c.range_m, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat
          FROM grid_membership m JOIN camera c ON c.id = m.entity_id
         WHERE m.grid_id = :g AND m.kind = 'camera' ORDER BY c.id LIMIT :limit"""),
        {"g": grid_id, "limit": limit}).mappings()]
    out: dict[str, Any] = {
        "grid": {"id": grid["id"], "code": grid["code"], "name": grid["name"], "area_m2": grid["area_m2"]},
        "within_m": within_m,
        "responders": responders,
        "responders_total": sum(by_state.values()),
        "responders_by_state": by_state,
        "truncated": sum(by_state.values()) > len(responders),
    }
    if households:
        out["households"] = {**dict(hh), "needs_help": needing if unmasked_staff else []}
    if cameras:
        out["cameras"] = camera_rows
    return out
