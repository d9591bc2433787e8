"""The topology report of one layer: overlaps, gaps, slivers and grids outside their parent.

Gaps are allowed while planners edit; this report is how they are found and
closed. Every problem comes with its geometry, its area in square metres (on
the spheroid) and the households it touches. ST_Overlaps alone is not used: it
is false when one grid contains another; the DE-9IM pattern '2********' (the
interiors share an area) catches both.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFound
from geo.scope import Scope

MIN_AREA_M2 = 0.01  # smaller pieces are floating-point noise, not a planner's problem
SLIVER_AREA_M2 = 100.0
# Polsby-Popper 4πA/P²: 1 for a disc, 0.785 for a square, 0.02 for a 1:150 strip. Micro-grids along a
# village road are legitimately long; only strips thinner than about 1:150 are reported.
SLIVER_THINNESS = 0.02

_PROBLEMS_SQL = """
WITH RECURSIVE region AS (SELECT id FROM division WHERE id = :division
                          UNION ALL SELECT c.id FROM division c JOIN region r ON c.parent_id = r.id),
territory AS (SELECT geom FROM division WHERE id = :division),
grids AS (SELECT g.* FROM grid g WHERE g.layer_id = :layer AND g.division_id IN (SELECT id FROM region)),
overlap_pairs AS (
    SELECT 'overlap' AS kind, a.code || ' / ' || b.code AS codes,
           ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 3) AS geom
      FROM grids a JOIN grid b ON b.layer_id = a.layer_id AND a.id < b.id AND a.geom && b.geom
     WHERE NOT :allow_overlap AND ST_Relate(a.geom, b.geom, '2********')),  -- b from the table: its GiST index
gaps AS (
    SELECT 'gap' AS kind, NULL::text AS codes, (ST_Dump(ST_CollectionExtract(
               ST_Difference(t.geom, coalesce((SELECT ST_Union(geom) FROM grids), ST_GeomFromText('POLYGON EMPTY', 4326))),
               3))).geom AS geom
      FROM territory t WHERE :full_cover),
outside AS (
    SELECT 'outside_parent' AS kind, g.code AS codes,
           ST_CollectionExtract(ST_Difference(g.geom, coalesce(p.geom, d.geom)), 3) AS geom
      FROM grids g JOIN division d ON d.id = g.division_id LEFT JOIN grid p ON p.id = g.parent_grid_id
     WHERE NOT ST_CoveredBy(g.geom, coalesce(p.geom, d.geom))),
slivers AS (
    SELECT 'sliver' AS kind, g.code AS codes, g.geom
      FROM grids g
     WHERE ST_Area(g.geom::geography) < :sliver_area
        OR 4 * pi() * ST_Area(g.geom::geography) / power(ST_Perimeter(g.geom::geography), 2) < :thinness),
problems AS (SELECT * FROM overlap_pairs UNION ALL SELECT * FROM gaps UNION ALL SELECT * FROM outside
             UNION ALL SELECT * FROM slivers)
SELECT p.kind, p.codes, ST_Area(p.geom::geography) AS area_m2, ST_AsGeoJSON(p.geom, 7) AS geometry,
       (SELECT count(*) FROM household h WHERE h.geom && p.geom AND ST_Intersects(p.geom, h.geom)) AS households,
       CASE WHEN p.kind = 'sliver'
            THEN 4 * pi() * ST_Area(p.geom::geography) / power(ST_Perimeter(p.geom::geography), 2) END AS thinness
  FROM problems p
 WHERE NOT ST_IsEmpty(p.geom) AND (p.kind = 'sliver' OR ST_Area(p.geom::geography) > :min_area)
 ORDER BY area_m2 DESC
"""


def topology_report(session: Session, layer_code: str, division_code: str | None, scope: Scope) -> dict[str, Any]:
    """Every topology problem of a layer inside a division (default: the county)."""
    layer = session.execute(text(
        "SELECT id, code, allow_overlap, full_cover FROM grid_layer WHERE code = :c"), {"c": layer_code}
    ).mappings().first()
    if layer is None:
        raise NotFound(f"no grid layer {layer_code!r}", pointer="code")
    if division_code:
        division = session.execute(text("SELECT id FROM division WHERE code = :c"), {"c": division_code}).scalar()
    else:
        division = session.execute(text("SELECT id FROM division WHERE level = 'county' LIMIT 1")).scalar()
    if division is None or not (scope.everything or division in scope.own_divisions):
        raise NotFound(f"no division {division_code}", pointer="division")
    rows = session.execute(text(_PROBLEMS_SQL), {
        "layer": layer["id"], "division": division, "allow_overlap": layer["allow_overlap"],
        "full_cover": layer["full_cover"], "sliver_area": SLIVER_AREA_M2, "thinness": SLIVER_THINNESS,
        "min_area": MIN_AREA_M2}).mappings().all()
    problems = [{"kind": r["kind"], "grids": r["codes"].split(" / ") if r["codes"] else [],
                 "area_m2": round(r["area_m2"], 2), "households": r["households"],
                 **({"thinness": round(r["thinness"], 4)} if r["thinness"] is not None else {}),
                 "geometry": json.loads(r["geometry"])} for r in rows]
    summary: dict[str, dict[str, float]] = {}
    for p in problems:
        s = summary.setdefault(p["kind"], {"count": 0, "area_m2": 0.0, "households": 0})
        s["count"] += 1
        s["area_m2"] = round(s["area_m2"] + p["area_m2"], 2)
        s["households"] += p["households"]
    return {"layer": layer_code, "division": division_code, "summary": summary, "problems": problems}
