"""Dry runs of grid edits: what an edit would do, with nothing stored (docs/web.md, "the dry-run answer").

Why the real edit and not a second, read-only implementation of its checks: a preview that
reasons on its own would drift from the edit (a check added to one and not the other), and the
planner would confirm one thing and get another. So the edit itself runs, inside a SAVEPOINT,
with every check it makes (versions, parent, overlaps, gaps, minimum area and width,
territory); what it wrote is read back — the shapes, the names of the grids things move to,
the pieces of the drawing that were cut away — and the savepoint is rolled back. That undoes
every row the edit wrote: the grids, their history (trigger), lineage, the code counter, the
memberships, re-routed events and their transitions, and the audit row; ``set_config`` values
are undone with the savepoint too. Sequence values drawn (the ids of grids that would be new)
are not reused, which is harmless: a new grid's id is given as null, its code as the one it
would get if the edit were applied now.

A refused edit raises as the real one does (the same 409/412/422), after the rollback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from shapely import wkb
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.grids.editing import EditResult
from geo.grids.shaping import TINY_M2

_SHAPES_SQL = text("""
    SELECT g.id, g.code, g.name, l.code AS layer, g.version, ST_AsGeoJSON(g.geom_out, 7) AS geometry,
           ST_Area(g.geom::geography) AS area_m2
      FROM grid g JOIN grid_layer l ON l.id = g.layer_id WHERE g.id = ANY(:ids)""")

# What the edit cut away from a drawing: the drawn shape minus the grid it became, split into what lay
# outside the parent (division or parent grid) and what lay on neighbours. Slivers no wider than the
# snapping distance are the snapping itself, not something the planner drew and lost.
_CLIPPED_SQL = text("""
    WITH x AS (SELECT ST_GeomFromEWKB(:d) AS d, g.geom AS g, coalesce(pg.geom, dv.geom) AS p
                 FROM grid g JOIN division dv ON dv.id = g.division_id LEFT JOIN grid pg ON pg.id = g.parent_grid_id
                WHERE g.id = :id),
    t AS (SELECT greatest(:snap, 0.01) / (111320.0 * cos(radians(ST_Y(ST_Centroid(d))))) AS tol FROM x),
    cut AS (SELECT ST_Difference(d, g) AS c, p FROM x),
    pieces AS (
        SELECT 'parent' AS why, (ST_Dump(ST_CollectionExtract(ST_Difference(c, p), 3))).geom AS piece FROM cut
        UNION ALL
        SELECT 'overlap', (ST_Dump(ST_CollectionExtract(ST_Intersection(c, p), 3))).geom FROM cut)
    SELECT why, ST_AsGeoJSON(piece, 7) AS geometry, ST_Area(piece::geography) AS area_m2
      FROM pieces, t
     WHERE NOT ST_IsEmpty(ST_Buffer(piece, -tol)) AND ST_Area(piece::geography) > :tiny
     ORDER BY why, area_m2 DESC""")


def dry_run(session: Session, edit: Callable[[], EditResult], *, drawn: BaseGeometry | None = None,
            snap_m: float = 0.5) -> dict[str, Any]:
    """Run ``edit`` in a savepoint, describe what it wrote, roll it back; the dry-run answer.

    ``drawn`` is the planner's drawing (WGS84) for a create or reshape: the pieces of it that the
    edit cut away are reported as ``clipped``, measured against the first grid the edit wrote.
    """
    savepoint = session.begin_nested()
    try:
        result = edit()
        answer = _describe(session, result, drawn, snap_m)
    finally:
        savepoint.rollback()
    _after_rollback(session, answer)
    return answer


def _describe(session: Session, result: EditResult, drawn: BaseGeometry | None, snap_m: float) -> dict[str, Any]:
    """Read, inside the savepoint, what the edit wrote: shapes, names of the grids things move to, clipped pieces."""
    ids = list(dict.fromkeys(g["id"] for g in result.grids))
    rows = {r.id: r for r in session.execute(_SHAPES_SQL, {"ids": ids})}
    grids = [{"id": r.id, "code": r.code, "name": r.name, "layer": r.layer, "version": r.version,
              "geometry": json.loads(r.geometry), "area_m2": round(r.area_m2, 2)} for r in (rows[i] for i in ids)]
    clipped: list[dict[str, Any]] = []
    if drawn is not None and ids:
        clipped = [{"geometry": json.loads(r.geometry), "area_m2": round(r.area_m2, 2), "why": r.why}
                   for r in session.execute(_CLIPPED_SQL, {"d": wkb.dumps(drawn, srid=4326), "id": ids[0],
                                                           "snap": snap_m, "tiny": TINY_M2})]
    moves = [{"kind": m.kind, "from": m.from_code, "to": m.to_code, "count": m.count} for m in result.moves]
    names = _names(session, {m["to"] for m in moves})
    for m in moves:
        m["to_name"] = names.get(m["to"])
    return {"dry_run": True, "grids": grids, "retired": list(result.retired), "clipped": clipped,
            "moves": moves, "moved": sum(m["count"] for m in moves)}


def _after_rollback(session: Session, answer: dict[str, Any]) -> None:
    """Grids that no longer exist after the rollback would be new: no id or version yet. The names of the
    grids things move from are read now, when the grids an edit retires are back."""
    ids = [g["id"] for g in answer["grids"]]
    existing = set(session.execute(text("SELECT id FROM grid WHERE id = ANY(:ids)"), {"ids": ids}).scalars())
    for g in answer["grids"]:
        g["new"] = g["id"] not in existing
        if g["new"]:
            g["id"] = g["version"] = None
    names = _names(session, {m["from"] for m in answer["moves"]})
    for m in answer["moves"]:
        m["from_name"] = names.get(m["from"])


def _names(session: Session, codes: set[str | None]) -> dict[str, str]:
    wanted = sorted(c for c in codes if c)
    if not wanted:
        return {}
    return dict(session.execute(text("SELECT code, name FROM grid WHERE code = ANY(:c)"), {"c": wanted}).all())
