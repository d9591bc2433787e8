"""Grid history: every version with its validity period, the net as it was at a moment, lineage."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.errors import NotFound
from geo.privacy.pii import mask_free_text
from geo.spatial.features import Page


def _check_visible(session: Session, grid_id: int, scope: Scope) -> None:
    """Current grids by the scope's grid list; retired ones by the division they belonged to."""
    if scope.everything or grid_id in scope.visible_grids:
        return
    division = session.execute(text(
        "SELECT division_id FROM grid_version WHERE grid_id = :g ORDER BY version DESC LIMIT 1"),
        {"g": grid_id}).scalar()
    retired = session.execute(text("SELECT NOT EXISTS (SELECT 1 FROM grid WHERE id = :g)"), {"g": grid_id}).scalar()
    if not (retired and division in scope.own_divisions):
        raise NotFound(f"no grid with id {grid_id}", pointer="id")


def grid_history(session: Session, grid_id: int, scope: Scope) -> list[dict[str, Any]]:
    """Every version of a grid, oldest first — also of a retired grid."""
    _check_visible(session, grid_id, scope)
    rows = session.execute(text("""
        SELECT v.version, v.code, v.name, l.code AS layer, d.code AS division_code, v.valid_from, v.valid_to,
               v.author, v.reason, ST_Area(v.geom::geography) AS area_m2, ST_AsGeoJSON(v.geom_out, 7) AS geometry
          FROM grid_version v JOIN grid_layer l ON l.id = v.layer_id JOIN division d ON d.id = v.division_id
         WHERE v.grid_id = :g ORDER BY v.version"""), {"g": grid_id}).mappings().all()
    if not rows:
        raise NotFound(f"no grid with id {grid_id}", pointer="id")
    # the reason is free text: ID and phone numbers masked (the audit log keeps it as written)
    return [{**r, "reason": mask_free_text(r["reason"]), "area_m2": round(r["area_m2"], 2),
             "geometry": json.loads(r["geometry"])} for r in rows]


def grids_at(
    session: Session, at: datetime, *, layer: str | None, limit: int, after: int, scope: Scope
) -> Page:
    """The grids as they were at ``at``: one version per grid whose validity period contains it."""
    rows = session.execute(text("""
        SELECT v.id, json_build_object('type', 'Feature', 'id', v.grid_id,
               'geometry', ST_AsGeoJSON(v.geom_out, 7)::json,  -- reduced to the 7-decimal grid: exact
               'properties', json_build_object('id', v.grid_id, 'code', v.code, 'name', v.name, 'layer', l.code,
                   'version', v.version, 'valid_from', v.valid_from, 'valid_to', v.valid_to))::text
          FROM grid_version v JOIN grid_layer l ON l.id = v.layer_id
         WHERE v.valid_from <= :at AND (v.valid_to IS NULL OR v.valid_to > :at)
           AND (CAST(:layer AS text) IS NULL OR l.code = :layer) AND v.id > :after
           AND (:all OR v.grid_id = ANY(:grids))
         ORDER BY v.id LIMIT :limit"""),
        {"at": at, "layer": layer, "after": after, "limit": limit + 1, "all": scope.everything,
         "grids": list(scope.visible_grids)}).all()
    more = len(rows) > limit
    rows = rows[:limit]
    matched = len(rows) if not more and after == 0 else session.execute(text("""
        SELECT count(*) FROM grid_version v JOIN grid_layer l ON l.id = v.layer_id
         WHERE v.valid_from <= :at AND (v.valid_to IS NULL OR v.valid_to > :at)
           AND (CAST(:layer AS text) IS NULL OR l.code = :layer) AND (:all OR v.grid_id = ANY(:grids))"""),
        {"at": at, "layer": layer, "all": scope.everything, "grids": list(scope.visible_grids)}).scalar_one()
    return Page([r[1] for r in rows], rows[-1][0] if more else None, matched)


def lineage(session: Session, grid_id: int, scope: Scope) -> dict[str, list[dict[str, Any]]]:
    """Ancestors (what the grid came from) and descendants (what it became), each with the operation."""
    _check_visible(session, grid_id, scope)
    out: dict[str, list[dict[str, Any]]] = {}
    for direction, step, back in (("ancestors", "parent_id", "child_id"), ("descendants", "child_id", "parent_id")):
        rows = session.execute(text(f"""
            WITH RECURSIVE walk(id, operation, at, depth) AS (
                SELECT {step}, operation, at, 1 FROM grid_lineage WHERE {back} = :g
                UNION ALL
                SELECT l.{step}, l.operation, l.at, w.depth + 1 FROM grid_lineage l JOIN walk w ON l.{back} = w.id
                 WHERE w.depth < 50)
            SELECT DISTINCT ON (w.id) w.id, w.operation, w.at, w.depth, v.code, v.name
              FROM walk w JOIN grid_version v ON v.grid_id = w.id
             ORDER BY w.id, v.version DESC"""), {"g": grid_id}).mappings().all()
        out[direction] = sorted((dict(r) for r in rows), key=lambda r: (r["depth"], r["id"]))
    return out
