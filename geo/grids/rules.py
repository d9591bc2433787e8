"""Geometry that cannot be right is refused: degenerate grids, split lines that do not cross, gaps in 不重不漏 layers.

Every edit that produces a grid passes its shape through ``ensure_meaningful``
before anything is written or a code is drawn from the counter, so a refused
edit stores nothing and burns no code. The limits are settings (GridRules).

Which edits can open a gap in a full-cover layer (不重不漏): a reshape and a
regroup (reshape_grids) can, and are checked with ``opened_gap``. A split and
a partition cannot: their pieces are made exact (geo/shaping.exact_pieces),
so they cover the old grid, and a partition whose parts do not tile it is
refused before that. A merge keeps the union, and a retirement hands the whole
area to a neighbour (refused on a full-cover layer when there is none).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import Conflict, GridmapError, InvalidInput
from geo.locating.assign import ENTITY_GEOMETRY
from geo.models.membership import MemberKind
from geo.settings import GridRules

# Measured per polygon part: a MultiPolygon whose big part passes must not carry a speck or a sliver as another
# part. Width in metres: the maximum inscribed circle of each part in a local equirectangular plane (metres east and
# north of the shape's centroid, about 0.5 % off at these sizes, plenty for a threshold).
_MEASURE_SQL = """
WITH g AS (SELECT ST_GeomFromEWKB(:g) AS g),
p AS (SELECT (ST_Dump(g)).geom AS p FROM g WHERE NOT ST_IsEmpty(g)),
m AS (SELECT p, ST_Centroid(p) AS c FROM p WHERE NOT ST_IsEmpty(p))
SELECT sum(ST_Area(p::geography)) AS area, min(ST_Area(p::geography)) AS smallest,
       min(2 * (ST_MaximumInscribedCircle(ST_Scale(ST_Translate(p, -ST_X(c), -ST_Y(c)),
                                                   111320 * cos(radians(ST_Y(c))), 110574))).radius) AS width
  FROM m
"""


@dataclass(frozen=True)
class Measure:
    area_m2: float  # the whole shape
    width_m: float  # the narrowest part's widest point
    smallest_m2: float = 0.0  # the smallest part


def measure(session: Session, geom: bytes) -> Measure:
    """Area (m², on the spheroid), narrowest part's width (m) and smallest part's area of an EWKB shape; zero
    when empty."""
    row = session.execute(text(_MEASURE_SQL), {"g": geom}).first()
    if row is None or row.area is None:
        return Measure(0.0, 0.0, 0.0)
    return Measure(float(row.area), float(row.width), float(row.smallest))


def ensure_meaningful(session: Session, geom: bytes, rules: GridRules, *, what: str, pointer: str,
                      error: type[GridmapError] = InvalidInput) -> Measure:
    """Refuse a grid shape under the minimum area or nowhere wider than the minimum width.

    ``what`` names the shape in the message ("the drawn shape", "part 2"); ``error`` is InvalidInput (422)
    for what the caller drew, Conflict (409) for what is left after trimming against the current net.
    """
    m = measure(session, geom)
    if m.area_m2 < rules.grid_min_area_m2:
        raise error(f"{what} is {m.area_m2:.2f} m²: a grid must have at least {rules.grid_min_area_m2:g} m²",
                    pointer=pointer, area_m2=round(m.area_m2, 2), width_m=round(m.width_m, 2))
    if m.smallest_m2 < rules.grid_min_area_m2:
        raise error(f"{what} has a part of {m.smallest_m2:.2f} m²: every part of a grid must have at least "
                    f"{rules.grid_min_area_m2:g} m²", pointer=pointer, area_m2=round(m.area_m2, 2),
                    part_m2=round(m.smallest_m2, 2))
    if m.width_m < rules.grid_min_width_m:
        raise error(f"{what} is a sliver of {m.area_m2:.2f} m², nowhere wider than {m.width_m:.2f} m: a grid must be"
                    f" at least {rules.grid_min_width_m:g} m wide somewhere", pointer=pointer,
                    area_m2=round(m.area_m2, 2), width_m=round(m.width_m, 2))
    return m


def ensure_fitted_meaningful(session: Session, drawn: bytes, fitted: bytes, rules: GridRules) -> None:
    """The drawing itself must be a grid (422); what clipping and trimming leave of it too (409)."""
    ensure_meaningful(session, drawn, rules, what="the drawn shape", pointer="geometry")
    try:
        ensure_meaningful(session, fitted, rules, what="what is left", pointer="geometry", error=Conflict)
    except Conflict as exc:
        exc.detail = "nothing meaningful is left of the shape after clipping and trimming: " + exc.detail
        raise


def check_split_line(session: Session, grid: bytes, line: bytes, snap_m: float = 0.5) -> None:
    """A split line must cross the grid from edge to edge: not closed, not crossing itself, and both of its
    ends outside the grid (or on its boundary, within ``snap_m``). Slivers are refused per piece, later."""
    row = session.execute(text("""
        WITH x AS (SELECT ST_GeomFromEWKB(:g) AS g, ST_GeomFromEWKB(:l) AS l)
        SELECT ST_IsClosed(l) AS closed, ST_IsSimple(l) AS simple,
               ST_Contains(g, ST_StartPoint(l))
                   AND ST_Distance(ST_Boundary(g)::geography, ST_StartPoint(l)::geography) > :snap AS start_inside,
               ST_Contains(g, ST_EndPoint(l))
                   AND ST_Distance(ST_Boundary(g)::geography, ST_EndPoint(l)::geography) > :snap AS end_inside,
               ST_Intersects(g, l) AS touches
          FROM x"""), {"g": grid, "l": line, "snap": snap_m}).one()
    if row.closed:
        raise InvalidInput("the line is a closed loop: a split line must cross the grid from edge to edge",
                           pointer="line")
    if not row.simple:
        raise InvalidInput("the line crosses itself: a split line must cross the grid from edge to edge once",
                           pointer="line")
    ends = [name for name, inside in (("starts", row.start_inside), ("ends", row.end_inside)) if inside]
    if ends:
        raise InvalidInput(f"the line {' and '.join(ends)} inside the grid: a split line must cross the grid from"
                           " edge to edge", pointer="line")
    if not row.touches:
        raise InvalidInput("the line does not cross the grid: it must cross it from edge to edge", pointer="line")


@dataclass(frozen=True)
class Gap:
    geom: bytes  # EWKB
    area_m2: float
    geometry: dict[str, Any]  # GeoJSON, exact
    orphans: dict[str, int]  # kind -> count of entities that would lie in no grid of the layer


def opened_gap(session: Session, *, layer_id: int, old: list[bytes], new: list[bytes], exclude: list[int],
               rules: GridRules) -> Gap | None:
    """What an edit would leave uncovered in a full-cover layer: the part of the ``old`` shapes that neither
    the ``new`` shapes nor the layer's other grids (all but ``exclude``) cover; None below the tolerance.

    Two statements: the gap first (cheap), and only when there is one, what lies in it, with the gap bound
    as a constant so that PostGIS prepares it once for all the points (in one statement with the gap in a
    CTE, counting the households of a 1,388-household grid took 3.9 s; bound, milliseconds).
    """
    row = session.execute(text("""
        WITH old AS (SELECT ST_Union(ST_GeomFromEWKB(g)) AS g FROM unnest(CAST(:old AS bytea[])) g),
        new AS (SELECT ST_Union(ST_GeomFromEWKB(g)) AS g FROM unnest(CAST(:new AS bytea[])) g),
        lost AS (SELECT ST_Difference(old.g, coalesce(new.g, 'SRID=4326;POLYGON EMPTY'::geometry)) AS g
                   FROM old, new),
        others AS (SELECT ST_Union(n.geom) AS g FROM grid n, lost
                    WHERE n.layer_id = :l AND NOT n.id = ANY(:ex) AND n.geom && lost.g
                      AND ST_Intersects(n.geom, lost.g)),
        gap AS (SELECT ST_Multi(ST_CollectionExtract(ST_Difference(lost.g,
                         coalesce(others.g, 'SRID=4326;POLYGON EMPTY'::geometry)), 3)) AS g FROM lost, others)
        SELECT ST_AsEWKB(gap.g) AS geom, ST_Area(gap.g::geography) AS area FROM gap"""),
        {"old": old, "new": new, "l": layer_id, "ex": exclude}).one()
    if row.geom is None or row.area <= rules.gap_tolerance_m2:
        return None
    gap = bytes(row.geom)
    orphans = ", ".join(
        f"(SELECT count(*) FROM {table} x WHERE x.{column} && ST_GeomFromEWKB(:gap)"
        f" AND ST_Contains(ST_GeomFromEWKB(:gap), x.{column})) AS {kind.value}"
        for kind, (table, column) in ENTITY_GEOMETRY.items())
    counts = session.execute(text(f"SELECT ST_AsGeoJSON(ST_GeomFromEWKB(:gap), 15) AS geometry, {orphans}"),
                             {"gap": gap}).mappings().one()
    return Gap(gap, float(row.area), json.loads(counts["geometry"]), {k.value: int(counts[k.value]) for k in MemberKind})


def gap_conflict(gap: Gap, codes: list[str]) -> Conflict:
    """The 409 for an edit that would open a gap in a full-cover layer: where, how big, what it orphans."""
    orphaned = ", ".join(f"{n} {kind}{'s' if n != 1 and kind != 'staff' else ''}"
                         for kind, n in gap.orphans.items() if n) or "nothing registered yet"
    return Conflict(
        f"the edit of {', '.join(codes)} would leave {gap.area_m2:.1f} m² of a layer that must cover its territory"
        f" (不重不漏) in no grid, orphaning {orphaned}; draw the shape to the neighbours' edges, or name a"
        " neighbour to take the gap (fill_gap_into)",
        pointer="geometry", gap={"area_m2": round(gap.area_m2, 2), "geometry": gap.geometry, "orphans": gap.orphans})
