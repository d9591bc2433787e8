"""What the grid and division importers share: staging a file's polygons in PostgreSQL and judging them there.

Both kinds are areas (面) with a code, a name and a parent they must lie in. The file's rows are
COPYed into a TEMP table (``geo.bulk.copy_rows``) and every check is one statement over that
table: validity and what ``ST_MakeValid`` would make of a broken ring, the part outside the parent,
degenerate shapes, and whether a matched row really changed. No Python loop runs over rows except
the few candidates of the degenerate-shape rule, which is geo/grids/rules.py's own check, reused.

Unchanged must mean unchanged: an exported layer is written from ``geom_out`` (snap-rounded to
1e-7°, migration 0007), so a re-import compares the incoming shape, reduced the same way, with the
stored ``geom_out``, and accepts vertex order, ring start and centimetre rounding as equal: two
shapes are the same when their boundaries lie within ``TOLERANCE_M`` of each other (Hausdorff) and
their areas agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.bulk import copy_rows
from geo.errors import GridmapError
from geo.grids.rules import ensure_meaningful
from geo.settings import GridRules
from importers.files.source import SourceTable
from importers.load.cells import text_of
from importers.report import ImportReport, Problem

# Rounding to the 7-decimal GeoJSON grid moves a vertex by at most 0.8 cm; what lies within 5 cm of a
# parent's edge or a neighbour's is that noise (or a digitiser's), not a planner's intent.
TOLERANCE_M = 0.05
TINY_M2 = 0.01  # as geo/grids/shaping.py: below this an overlap or a bit outside is numeric noise
REDUCED = "ST_Multi(ST_ReducePrecision({g}, 1e-7))"  # the store's own reduction (migration 0007)



def column(table: SourceTable, field: str, *aliases: str) -> list[str] | None:
    """The column ``field`` (or the first alias the table has) as text, or None when the file has none."""
    for name in (field, *aliases):
        if name in table.columns:
            return [text_of(v) for v in table.columns[name]]
    return None


def new_report(table: SourceTable) -> ImportReport:
    return ImportReport(kind=table.kind, file=table.name, sha256=table.sha256, problems=list(table.problems),
                        warnings=list(table.warnings))


def stage(session: Session, name: str, table: SourceTable, columns: dict[str, list[str]]) -> None:
    """A TEMP table ``name`` (dropped at the end of the transaction) with ``row``, the text ``columns`` and
    ``g_in``, the file's geometry as read (NULL where a row has none), loaded with COPY."""
    n = len(table)
    geoms = table.geometry if table.geometry is not None else [None] * n
    arr = np.asarray(geoms, dtype=object)
    present = np.array([g is not None for g in geoms], dtype=bool)
    hexes = np.full(n, None, dtype=object)
    if present.any():
        hexes[present] = shapely.to_wkb(shapely.set_srid(arr[present], 4326), hex=True, include_srid=True)
    session.execute(text(f"DROP TABLE IF EXISTS {name}"))
    session.execute(text(
        f"CREATE TEMP TABLE {name} (row int PRIMARY KEY, {', '.join(f'{c} text' for c in columns)},"
        " g_in geometry, g geometry, bad bool NOT NULL DEFAULT false, parent geometry, clipped bool DEFAULT false,"
        " stored_id int, action text, gained double precision, lost double precision, detail text)"
        " ON COMMIT DROP"))
    values = [columns[c] for c in columns]
    copy_rows(session, name, ["row", *columns, "g_in"],
              ([table.rows[i], *(v[i] for v in values), hexes[i]] for i in range(n)))
    session.execute(text(f"ANALYZE {name}"))


def add(report: ImportReport, rows: Sequence[Any], code: str, field: str | None = "geometry",
        severity: str = "error") -> None:
    """Problems from ``rows`` of (row, message)."""
    report.problems += [Problem(r[0], field, code, r[1], severity) for r in rows]  # type: ignore[arg-type]


def check_geometry(session: Session, name: str, report: ImportReport) -> None:
    """Refuse rows with no shape, a shape that is not an area, coordinates that are not WGS84, or an invalid
    one (saying where and what ``ST_MakeValid`` would give); set ``g``, the shape to store: 2-D,
    MultiPolygon, rings counter-clockwise."""
    add(report, session.execute(text(
        f"UPDATE {name} SET bad = true WHERE g_in IS NULL OR ST_IsEmpty(g_in)"
        " RETURNING row, 'the row has no geometry'")).all(), "missing_geometry")
    add(report, session.execute(text(
        f"UPDATE {name} SET bad = true WHERE NOT bad AND ST_Dimension(g_in) <> 2"
        " RETURNING row, 'the geometry is a ' || GeometryType(g_in) || ', not an area (Polygon or MultiPolygon)'"
    )).all(), "not_polygon")
    add(report, session.execute(text(
        f"UPDATE {name} SET bad = true WHERE NOT bad AND (ST_XMin(g_in) < -180 OR ST_XMax(g_in) > 180"
        " OR ST_YMin(g_in) < -90 OR ST_YMax(g_in) > 90)"
        " RETURNING row, 'coordinates out of range for WGS84 longitude/latitude: was the file''s CRS declared?'"
    )).all(), "bad_coordinates")
    add(report, session.execute(text(f"""
        WITH broken AS (
            SELECT row, ST_IsValidDetail(ST_Force2D(g_in)) AS d, ST_Force2D(g_in) AS g FROM {name}
             WHERE NOT bad AND NOT ST_IsValid(g_in)),
        fixed AS (SELECT row, d, ST_CollectionExtract(ST_MakeValid(g), 3) AS m FROM broken),
        marked AS (UPDATE {name} s SET bad = true FROM fixed WHERE s.row = fixed.row RETURNING s.row)
        SELECT row, lower((d).reason) || coalesce(' near ' || to_char(ST_X((d).location), 'FM990.000000') || ','
                                                  || to_char(ST_Y((d).location), 'FM990.000000'), '')
                    || '; make_valid gives ' || ST_NumGeometries(m) || ' part'
                    || CASE WHEN ST_NumGeometries(m) = 1 THEN '' ELSE 's' END || ', '
                    || to_char(ST_Area(m::geography), 'FM999,999,999,990') || ' m²'
          FROM fixed ORDER BY row""")).all(), "invalid_geometry")
    session.execute(text(
        f"UPDATE {name} SET g = ST_ForcePolygonCCW(ST_Multi(ST_CollectionExtract(ST_Force2D(g_in), 3)))"
        " WHERE NOT bad"))


def clip_to_parent(session: Session, name: str, report: ImportReport, what: str, tol_deg: float) -> None:
    """Rows whose shape leaves ``parent`` by more than the tolerance are refused with the m² outside; what
    lies outside within the tolerance (rounding along a shared edge) is cut away, as editing does."""
    session.execute(text(
        f"UPDATE {name} SET clipped = true WHERE NOT bad AND action IS DISTINCT FROM 'unchanged'"
        " AND parent IS NOT NULL AND NOT ST_CoveredBy(g, parent)"))
    rows = session.execute(text(f"""
        WITH o AS (SELECT row, ST_Area(ST_CollectionExtract(ST_Difference(g, ST_Buffer(parent, :tol)), 3)::geography)
                              AS out, ST_Area(ST_CollectionExtract(ST_Difference(g, parent), 3)::geography) AS raw
                     FROM {name} WHERE clipped)
        SELECT row, out, raw FROM o WHERE out > :tiny ORDER BY row"""), {"tol": tol_deg, "tiny": TINY_M2}).all()
    add(report, [(r.row, f"{r.raw:,.1f} m² of the shape lies outside its parent {what}") for r in rows],
        "outside_parent")
    if rows:
        session.execute(text(f"UPDATE {name} SET bad = true WHERE row = ANY(:r)"), {"r": [r.row for r in rows]})
    session.execute(text(
        f"UPDATE {name} SET g = ST_ForcePolygonCCW(ST_Multi(ST_CollectionExtract(ST_MakeValid("
        "ST_Intersection(g, parent)), 3))) WHERE clipped AND NOT bad"))
    # cutting a rounded edge back to the parent's can leave crumbs (0.1-0.4 m² on the benchmark county, which
    # the minimum-area rule then refused): parts nowhere wider than the tolerance go
    session.execute(text(f"""
        UPDATE {name} s SET g = k.g FROM (
            SELECT row, ST_Multi(ST_Collect(p.geom)) AS g FROM {name}, ST_Dump(g) p
             WHERE clipped AND NOT bad AND ST_NumGeometries(g) > 1 AND NOT ST_IsEmpty(ST_Buffer(p.geom, -:tol))
             GROUP BY row) k
         WHERE k.row = s.row"""), {"tol": tol_deg})


def compare_exact(session: Session, name: str, stored: str) -> None:
    """``unchanged`` for the matched rows whose shape is the stored one as exported: equal to ``geom_out`` up to
    vertex order and ring start, as read or after the store's own reduction; ``created`` where nothing matched.
    Cheap, and it is what a round trip gives, so most rows of a re-import end here."""
    session.execute(text(f"UPDATE {name} SET action = 'created' WHERE NOT bad AND stored_id IS NULL"))
    session.execute(text(f"""
        UPDATE {name} s SET action = 'unchanged', g = t.geom FROM {stored} t
         WHERE t.id = s.stored_id AND NOT s.bad
           AND (ST_OrderingEquals(ST_Normalize(s.g), ST_Normalize(t.geom_out))
                OR ST_OrderingEquals(ST_Normalize({REDUCED.format(g='s.g')}), ST_Normalize(t.geom_out)))"""))


def compare(session: Session, name: str, stored: str, tol_deg: float) -> None:
    """``action`` of the matched rows ``compare_exact`` left open: unchanged when nothing of the difference
    between the shape and the stored one survives moving its edges in by the tolerance (rounding bands,
    zero-width spikes the reduction drops), else changed, with the area gained and lost (m², geodesic)."""
    session.execute(text(f"""
        WITH m AS (
            SELECT s.row, ST_Difference(s.g, t.geom) AS plus, ST_Difference(t.geom, s.g) AS minus
              FROM {name} s JOIN {stored} t ON t.id = s.stored_id WHERE NOT s.bad AND s.action IS NULL),
        j AS (
            SELECT row, ST_Area(plus::geography) AS gained, ST_Area(minus::geography) AS lost,
                   ST_IsEmpty(ST_Buffer(ST_CollectionExtract(plus, 3), -:tol))
                   AND ST_IsEmpty(ST_Buffer(ST_CollectionExtract(minus, 3), -:tol)) AS same
              FROM m)
        UPDATE {name} s SET action = CASE WHEN j.same THEN 'unchanged' ELSE 'changed' END,
               gained = CASE WHEN j.same THEN NULL ELSE j.gained END,
               lost = CASE WHEN j.same THEN NULL ELSE j.lost END
          FROM j WHERE j.row = s.row"""), {"tol": tol_deg})


def check_degenerate(session: Session, name: str, report: ImportReport, rules: GridRules) -> None:
    """geo/grids/rules.py's rule (minimum area, per part, and width) for the shapes that would be written.

    The rule measures the maximum inscribed circle, which costs; only candidates are measured: shapes
    with several parts, or small, or thin enough (area below width × perimeter: a shape whose widest
    point is w has area at most about w/2 × perimeter) that they could fail.
    """
    candidates = session.execute(text(f"""
        SELECT row, ST_AsEWKB(g) FROM {name}
         WHERE NOT bad AND (action = 'created' OR gained IS NOT NULL)  -- a shape that would be written
           AND (ST_NumGeometries(g) > 1 OR ST_Area(g::geography) < 2 * :area
                OR ST_Area(g::geography) < :width * ST_Perimeter(g::geography)) ORDER BY row"""),
        {"area": rules.grid_min_area_m2, "width": rules.grid_min_width_m}).all()
    bad = []
    for row, geom in candidates:  # few: most real grids are neither small nor thin
        try:
            ensure_meaningful(session, bytes(geom), rules, what="the shape", pointer="geometry")
        except GridmapError as exc:
            report.problems.append(Problem(row, "geometry", "degenerate", exc.detail))
            bad.append(row)
    if bad:
        session.execute(text(f"UPDATE {name} SET bad = true WHERE row = ANY(:r)"), {"r": bad})


def duplicates(session: Session, name: str, col: str, report: ImportReport, what: str) -> None:
    """Every row after the first with the same ``col`` is an error naming the first."""
    rows = session.execute(text(f"""
        SELECT row, first, {col} FROM (SELECT row, {col}, min(row) OVER (PARTITION BY {col}) AS first FROM {name}
                                        WHERE {col} <> '') d WHERE row <> first ORDER BY row""")).all()
    add(report, [(r.row, f"{what} {r[2]} is also on row {r.first}: each {what} may appear once") for r in rows],
        "duplicate_code", col)
    if rows:
        session.execute(text(f"UPDATE {name} SET bad = true WHERE row = ANY(:r)"), {"r": [r.row for r in rows]})


def tolerance_deg(session: Session, name: str) -> float:
    """``TOLERANCE_M`` in degrees of longitude at the file's latitude (the stricter axis)."""
    lat = session.execute(text(f"SELECT ST_Y(ST_Centroid(ST_Extent(g_in)::geometry)) FROM {name}")).scalar()
    return TOLERANCE_M / (111320.0 * max(0.1, math.cos(math.radians(lat or 0.0))))


def count(report: ImportReport, session: Session, name: str) -> None:
    """Counts and the per-row changes from ``action``; rows with errors are counted nowhere."""
    for action, n in session.execute(text(
            f"SELECT action, count(*) FROM {name} WHERE NOT bad AND action IS NOT NULL GROUP BY action")).all():
        report.counts[action] = report.counts.get(action, 0) + n
