"""The topology report of one layer: overlaps, gaps, slivers and grids outside their parent.

Gaps are allowed while planners edit; this report is how they are found and
closed. Every problem comes with its geometry, its area in square metres (on
the spheroid) and the households it touches. ST_Overlaps alone is not used: it
is false when one grid contains another; the DE-9IM pattern '2********' (the
interiors share an area) catches both.

Gaps are found per parent (village, township or parent grid) rather than by
subtracting the union of the whole layer from the territory: ST_Union of
10,000 grids took most of the 2.5 s the first version of this report needed
per layer on the benchmark district. A parent is certified gap-free without
any union when the areas of its grids add up to its own area and none of them
overlaps another or leaves the parent; only the parents that fail that test
get the exact ST_Difference. The same statement serves the fusion analysis
(geo/fusion), which runs it for several layers.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.errors import InvalidInput, NotFound

MIN_AREA_M2 = 0.01  # smaller pieces are floating-point noise, not a planner's problem
SLIVER_AREA_M2 = 100.0
# Polsby-Popper 4πA/P²: 1 for a disc, 0.785 for a square, 0.02 for a 1:150 strip. Micro-grids along a
# village road are legitimately long; only strips thinner than about 1:150 are reported.
SLIVER_THINNESS = 0.02

_PROBLEMS_SQL = """
WITH grids AS MATERIALIZED (  -- planar areas (degrees²): enough to compare sums, 20× cheaper than geography
    SELECT g.id, g.code, g.division_id, g.parent_grid_id, g.geom, ST_Area(g.geom) AS area,
           ST_Perimeter(g.geom) AS perimeter
      FROM grid g WHERE g.layer_id = :layer AND g.division_id = ANY(:region)),
overlap_pairs AS MATERIALIZED (
    SELECT 'overlap' AS kind, ARRAY[a.code, b.code] AS codes, a.division_id, a.id AS a_id, b.id AS b_id,
           ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 3) AS geom
      FROM grids a JOIN grid b ON b.layer_id = :layer AND a.id < b.id AND a.geom && b.geom
     -- b from the table: its GiST index. ST_Intersects first: with a prepared once per outer row it drops
     -- the pairs whose boxes overlap but which do not touch (a third of the cost, measured).
     WHERE NOT :allow_overlap AND ST_Intersects(a.geom, b.geom) AND ST_Relate(a.geom, b.geom, '2********')),
outside AS MATERIALIZED (  -- sorted by parent so that each parent is prepared once (PostGIS caches it)
    SELECT 'outside_parent' AS kind, ARRAY[s.code] AS codes, s.division_id, s.id,
           ST_CollectionExtract(ST_Difference(s.geom, s.parent), 3) AS geom
      FROM (SELECT g.*, coalesce(p.geom, d.geom) AS parent FROM grids g JOIN division d ON d.id = g.division_id
              LEFT JOIN grid p ON p.id = g.parent_grid_id ORDER BY coalesce(p.id, -d.id) OFFSET 0) s
     WHERE NOT ST_CoveredBy(s.geom, s.parent)),
parents AS MATERIALIZED (  -- the territories the layer must cover: divisions at the level its grids belong to
    SELECT d.id, d.geom, ST_Area(d.geom) AS area FROM division d
     WHERE :full_cover AND d.id = ANY(:region)
       AND (d.level::text = ANY(:levels) OR (cardinality(CAST(:levels AS text[])) = 0 AND d.id = :division))),
covered AS (SELECT division_id, sum(area) AS area FROM grids GROUP BY division_id),
flawed AS (SELECT g.division_id FROM overlap_pairs o JOIN grids g ON g.id IN (o.a_id, o.b_id)
           UNION SELECT division_id FROM outside),
suspect AS (
    SELECT p.* FROM parents p LEFT JOIN covered c ON c.division_id = p.id
     WHERE abs(p.area - coalesce(c.area, 0)) > 1e-9 * p.area
        OR p.id IN (SELECT division_id FROM flawed)),
gaps AS (
    SELECT 'gap' AS kind, ARRAY[]::text[] AS codes, s.id AS division_id, (ST_Dump(ST_CollectionExtract(
               ST_Difference(s.geom, coalesce((SELECT ST_Union(g.geom) FROM grid g WHERE g.layer_id = :layer
                                                  AND g.geom && s.geom AND ST_Intersects(g.geom, s.geom)),
                                              'SRID=4326;POLYGON EMPTY'::geometry)), 3))).geom AS geom
      FROM suspect s),
slivers AS (  -- candidates in degrees with a wide margin (east-west shrinks by cos(latitude)), then exact
    SELECT 'sliver' AS kind, ARRAY[g.code] AS codes, g.division_id, g.geom FROM grids g
     WHERE (g.area < 4 * :sliver_area / (111320.0 ^ 2 * cos(radians(ST_Y(ST_StartPoint(ST_ExteriorRing(
                                          ST_GeometryN(g.geom, 1)))))))
            OR 4 * pi() * g.area / power(g.perimeter, 2) < 4 * :thinness)
       AND (ST_Area(g.geom::geography) < :sliver_area
            OR 4 * pi() * ST_Area(g.geom::geography) / power(ST_Perimeter(g.geom::geography), 2) < :thinness)),
problems AS (SELECT kind, codes, division_id, geom FROM overlap_pairs UNION ALL
             SELECT kind, codes, division_id, geom FROM outside UNION ALL SELECT * FROM gaps
             UNION ALL SELECT * FROM slivers)
SELECT p.kind, p.codes, p.division_id, ST_Area(p.geom::geography) AS area_m2, ST_AsGeoJSON(p.geom, 15) AS geometry,
       (SELECT count(*) FROM household h WHERE h.geom && p.geom AND ST_Intersects(p.geom, h.geom)) AS households,
       CASE WHEN p.kind = 'sliver'
            THEN 4 * pi() * ST_Area(p.geom::geography) / power(ST_Perimeter(p.geom::geography), 2) END AS thinness
  FROM problems p
 WHERE NOT ST_IsEmpty(p.geom) AND (p.kind = 'sliver' OR ST_Area(p.geom::geography) > :min_area)
 ORDER BY area_m2 DESC
"""


def region_of(session: Session, division_id: int) -> list[int]:
    """The division and every division below it."""
    return list(session.execute(text("""
        WITH RECURSIVE region AS (SELECT id FROM division WHERE id = :d
                                  UNION ALL SELECT c.id FROM division c JOIN region r ON c.parent_id = r.id)
        SELECT id FROM region"""), {"d": division_id}).scalars())


def resolve_division(session: Session, division_code: str | None, scope: Scope) -> int:
    """The division asked for (default: the county, when the database holds one), if the caller's
    territory holds it. With several counties the platform must name one: a default that picks one
    county would hide the others."""
    if division_code:
        division = session.execute(text("SELECT id FROM division WHERE county_code = left(:c, 6) AND code = :c"),
                                   {"c": division_code}).scalar()
    else:
        counties = session.execute(text("SELECT id FROM division WHERE level = 'county' LIMIT 2")).scalars().all()
        if len(counties) > 1:
            raise InvalidInput("this database holds several counties: name the division (a county code"
                               " + 000000, or a township or village)", pointer="division")
        division = counties[0] if counties else None
    if division is None or not (scope.everything or division in scope.own_divisions):
        raise NotFound(f"no division {division_code}", pointer="division")
    return division


def layer_problems(session: Session, layer: dict[str, Any], division_id: int, region: list[int]) -> list[dict[str, Any]]:
    """Every problem of one layer (a ``grid_layer`` row as a dict) inside ``region``, largest first.

    Each problem carries ``division_id``: the division of its grid, or for a gap the division left
    uncovered, so a caller can file it under its township.
    """
    levels = list(session.execute(text(
        "SELECT DISTINCT d.level::text FROM grid g JOIN division d ON d.id = g.division_id WHERE g.layer_id = :l"),
        {"l": layer["id"]}).scalars())
    rows = session.execute(text(_PROBLEMS_SQL), {
        "layer": layer["id"], "region": region, "division": division_id, "levels": levels,
        "allow_overlap": layer["allow_overlap"], "full_cover": layer["full_cover"] and not layer["parent_layer_id"],
        "sliver_area": SLIVER_AREA_M2, "thinness": SLIVER_THINNESS, "min_area": MIN_AREA_M2}).mappings().all()
    return [{"kind": r["kind"], "layer": layer["code"], "grids": list(r["codes"]), "division_id": r["division_id"],
             "area_m2": round(r["area_m2"], 2), "households": r["households"],
             **({"thinness": round(r["thinness"], 4)} if r["thinness"] is not None else {}),
             "geometry": orjson.loads(r["geometry"])} for r in rows]


def get_layer_row(session: Session, layer_code: str) -> dict[str, Any]:
    layer = session.execute(text(
        "SELECT id, code, allow_overlap, full_cover, parent_layer_id FROM grid_layer WHERE code = :c"),
        {"c": layer_code}).mappings().first()
    if layer is None:
        raise NotFound(f"no grid layer {layer_code!r}", pointer="code")
    return dict(layer)


def summarise(problems: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    summary: dict[str, dict[str, float]] = {}
    for p in problems:
        s = summary.setdefault(p["kind"], {"count": 0, "area_m2": 0.0, "households": 0})
        s["count"] += 1
        s["area_m2"] = round(s["area_m2"] + p["area_m2"], 2)
        s["households"] += p["households"]
    return summary


def topology_report(session: Session, layer_code: str, division_code: str | None, scope: Scope) -> dict[str, Any]:
    """Every topology problem of a layer inside a division (default: the county)."""
    layer = get_layer_row(session, layer_code)
    division = resolve_division(session, division_code, scope)
    problems = layer_problems(session, layer, division, region_of(session, division))
    for p in problems:
        del p["division_id"], p["layer"]
    return {"layer": layer_code, "division": division_code, "summary": summarise(problems), "problems": problems}
