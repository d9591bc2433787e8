"""Checks of the state an import would leave: overlaps within a net, gaps in a 不重不漏 layer.

Both run on ``imp_final``, a TEMP table of what the net would be after the import — the file's good
rows (with the stored shape where a row is unchanged) and the stored areas the file neither
replaces nor retires — so a row is checked against the other rows and against what stays alike.
Only what the import touches is judged: a pair of which one side is new or reshaped, a territory in
which something is created, reshaped or retired. A net's old faults that the file leaves alone are
the topology report's (geo/grids/topology.py), not a reason to refuse the file.

As in geo/grids/topology.py, an overlap is found with ``ST_Relate(a, b, '2********')`` (interiors
share an area), never ``ST_Overlaps``, which misses a grid inside another. What is left of an
overlap or a gap after moving its edges by the tolerance is the real thing; thinner is rounding.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from importers.load.areal_staging import TINY_M2
from importers.report import ImportReport, Problem

FINAL_SQL = """
DROP TABLE IF EXISTS imp_final;
CREATE TEMP TABLE imp_final (fid serial PRIMARY KEY, grp int, code text, division_id int, geom geometry,
                             row int, stored_id int, touched bool) ON COMMIT DROP;
"""


def create_final(session: Session) -> None:
    for statement in FINAL_SQL.strip().split(";"):
        if statement.strip():
            session.execute(text(statement))


def index_final(session: Session) -> None:
    session.execute(text("CREATE INDEX ON imp_final USING gist (geom)"))
    session.execute(text("ANALYZE imp_final"))


def overlaps(session: Session, report: ImportReport, groups: list[int], tol_deg: float, what: str) -> None:
    """Pairs of ``imp_final`` in one of ``groups`` (layers, levels) whose interiors share more than noise.

    The problem goes on the file's row (the later one when both are rows) and names both codes and the m².
    """
    if not groups:
        return
    rows = session.execute(text("""
        WITH pairs AS (
            SELECT a.row AS a_row, a.code AS a_code, b.row AS b_row, b.code AS b_code, a.geom AS ag, b.geom AS bg,
                   ST_Area(ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 3)::geography) AS area
              FROM imp_final a JOIN imp_final b ON a.grp = b.grp AND a.fid < b.fid AND a.geom && b.geom
             WHERE a.grp = ANY(:groups) AND (a.touched OR b.touched)
               AND ST_Intersects(a.geom, b.geom) AND ST_Relate(a.geom, b.geom, '2********'))
        SELECT a_row, a_code, b_row, b_code, area FROM pairs
         WHERE area > :tiny AND ST_Area(ST_CollectionExtract(ST_Intersection(
                   ST_Buffer(ag, -:tol), bg), 3)::geography) > :tiny
         ORDER BY coalesce(b_row, a_row), a_code"""), {"groups": groups, "tol": tol_deg, "tiny": TINY_M2}).all()
    for r in rows:
        def name(code: str, row: int | None) -> str:
            return f"{code} (row {row})" if row is not None else f"stored {code}"
        row = r.b_row if r.b_row is not None else r.a_row
        report.problems.append(Problem(row, "geometry", "overlap",
                                       f"{name(r.a_code, r.a_row)} and {name(r.b_code, r.b_row)} overlap by"
                                       f" {r.area:,.1f} m²: {what} may not overlap"))


def gaps(session: Session, report: ImportReport, layers: dict[int, str], tol_deg: float, tolerance_m2: float) -> None:
    """Parts of a touched territory that no grid of a full-cover layer would cover (不重不漏).

    The territories are the divisions the layer's touched grids belong to; each is compared with the union
    of the final grids over it. Parts thinner than the tolerance (rounding along edges) are not gaps.
    """
    if not layers:
        return
    rows = session.execute(text("""
        WITH regions AS (
            SELECT DISTINCT f.grp, f.division_id FROM imp_final f WHERE f.touched AND f.grp = ANY(:layers)
            UNION SELECT grp, division_id FROM imp_retired WHERE grp = ANY(:layers)),
        holes AS (
            SELECT r.grp, d.code, d.name, (ST_Dump(ST_CollectionExtract(ST_Difference(d.geom, coalesce(
                       (SELECT ST_Union(f.geom) FROM imp_final f
                         WHERE f.grp = r.grp AND f.geom && d.geom AND ST_Intersects(f.geom, d.geom)),
                       'SRID=4326;POLYGON EMPTY'::geometry)), 3))).geom AS gap
              FROM regions r JOIN division d ON d.id = r.division_id)
        SELECT grp, code, name, ST_Area(gap::geography) AS area, ST_X(ST_PointOnSurface(gap)) AS lon,
               ST_Y(ST_PointOnSurface(gap)) AS lat,
               (SELECT count(*) FROM household h WHERE h.geom && gap AND ST_Intersects(gap, h.geom)) AS households
          FROM holes
         WHERE ST_Area(gap::geography) > :tolerance AND NOT ST_IsEmpty(ST_Buffer(gap, -:tol))
         ORDER BY grp, code, area DESC"""), {"layers": list(layers), "tol": tol_deg, "tolerance": tolerance_m2}).all()
    for r in rows:
        report.problems.append(Problem(None, "geometry", "gap",
                                       f"{r.area:,.1f} m² of {r.name} ({r.code}) near {r.lon:.6f},{r.lat:.6f} would"
                                       f" lie in no grid of layer {layers[r.grp]}, which must cover its territory"
                                       f" (不重不漏); {r.households} households there"))
