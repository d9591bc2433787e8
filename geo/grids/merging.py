"""Which grids may be merged: the candidates for a grid, and the check a merge makes.

One rule serves both, so the map can refuse a pick at once for the same reason the server would:
grids merge when they are of the same layer, the same parent grid (micro-grids) and the same
village (division), and are adjacent — they share an edge of some length (touching at a point
is not enough: the union would be two pieces), or, in a layer that allows overlaps, overlap.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.errors import Conflict, NotFound

_ADJACENT = "(ST_Relate(a.geom, b.geom, '****1****') OR ST_Relate(a.geom, b.geom, '2********'))"


def _etag(grid_id: int, version: int) -> str:
    """The same as geo.grids.editing.etag (editing imports this module, so it cannot be imported here)."""
    return f'"g{grid_id}v{version}"'


def merge_candidates(session: Session, scope: Scope, grid_id: int) -> dict[str, Any]:
    """The grid and every grid in the caller's territory it may be merged with, with ETags and shapes."""
    if not (scope.everything or grid_id in scope.visible_grids):
        raise NotFound(f"no grid with id {grid_id}", pointer="id")
    grid = session.execute(text("SELECT id, code, name, version FROM grid WHERE id = :id"), {"id": grid_id}).first()
    if grid is None:
        raise NotFound(f"no grid with id {grid_id}", pointer="id")
    rows = session.execute(text(f"""
        SELECT b.id, b.code, b.name, b.version, ST_AsGeoJSON(b.geom_out, 7) AS geometry,
               ST_Length(ST_CollectionExtract(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom)), 2)
                         ::geography) AS shared_edge_m
          FROM grid a JOIN grid b ON b.layer_id = a.layer_id AND b.id <> a.id AND b.division_id = a.division_id
               AND b.parent_grid_id IS NOT DISTINCT FROM a.parent_grid_id AND b.geom && a.geom
         WHERE a.id = :id AND {_ADJACENT} AND (:all OR b.id = ANY(:visible))
         ORDER BY b.code"""),
        {"id": grid_id, "all": scope.everything, "visible": list(scope.visible_grids)}).all()
    return {"grid": {"id": grid.id, "code": grid.code, "name": grid.name, "version": grid.version,
                     "etag": _etag(grid.id, grid.version)},
            "candidates": [{"id": r.id, "code": r.code, "name": r.name, "version": r.version,
                            "etag": _etag(r.id, r.version), "shared_edge_m": round(r.shared_edge_m, 2),
                            "geometry": json.loads(r.geometry)} for r in rows]}


def check_mergeable(session: Session, grid_ids: list[int]) -> None:
    """Refuse (409) a merge of grids that are not candidates of each other, naming the grid and why.

    ``grid_ids`` in the caller's order: the first is the one the others are compared with, and the
    pointer (``grids/<i>``) says which entry of the request is refused.
    """
    rows = {r.id: r for r in session.execute(text("""
        SELECT g.id, g.code, g.layer_id, l.name AS layer, g.division_id, d.name AS division,
               g.parent_grid_id, p.code AS parent
          FROM grid g JOIN grid_layer l ON l.id = g.layer_id JOIN division d ON d.id = g.division_id
          LEFT JOIN grid p ON p.id = g.parent_grid_id
         WHERE g.id = ANY(:ids)"""), {"ids": grid_ids})}
    first = rows[grid_ids[0]]
    for i, gid in enumerate(grid_ids[1:], start=1):
        g = rows[gid]
        why = (f"it is in another layer ({g.layer}, not {first.layer})" if g.layer_id != first.layer_id else
               f"it is in another village ({g.division}, not {first.division})" if g.division_id != first.division_id
               else f"it has another parent grid ({g.parent or 'none'}, not {first.parent or 'none'})"
               if g.parent_grid_id != first.parent_grid_id else None)
        if why:
            raise Conflict(f"{g.code} cannot be merged with {first.code}: {why}", pointer=f"grids/{i}")
    pairs = session.execute(text(f"""
        SELECT a.id, b.id FROM grid a JOIN grid b ON a.id < b.id AND a.geom && b.geom
         WHERE a.id = ANY(:ids) AND b.id = ANY(:ids) AND {_ADJACENT}"""), {"ids": grid_ids}).all()
    reached = _connected(grid_ids[0], [(a, b) for a, b in pairs])
    for i, gid in enumerate(grid_ids):
        if gid not in reached:
            raise Conflict(f"{rows[gid].code} is not adjacent to {first.code} or the other grids merged with it:"
                           " it shares no edge with them (touching at a point is not enough)", pointer=f"grids/{i}")


def _connected(start: int, edges: list[tuple[int, int]]) -> set[int]:
    """The grids reachable from ``start`` through shared edges (at most 50 grids: a plain walk)."""
    reached, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for a, b in edges:
            other = b if a == here else a if b == here else None
            if other is not None and other not in reached:
                reached.add(other)
                todo.append(other)
    return reached
