"""Grids the editing tests work on, picked from the test district, and their ETags."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session


def pick_grid(session: Session, layer: str = "comprehensive") -> dict:
    """A grid with households and a neighbour in the same village (deterministic)."""
    row = session.execute(text("""
        SELECT g.id, g.code, g.name, n.id AS nid, n.code AS ncode, g.division_id,
               ST_X(ST_Centroid(g.geom)) AS cx, ST_Y(ST_Centroid(g.geom)) AS cy,
               ST_XMin(g.geom) AS x0, ST_XMax(g.geom) AS x1
          FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = :layer
          JOIN grid n ON n.layer_id = g.layer_id AND n.division_id = g.division_id AND n.id <> g.id
               AND ST_Relate(n.geom, g.geom, '****1****')
         WHERE (SELECT count(*) FROM grid_membership m WHERE m.grid_id = g.id AND m.kind = 'household') > 20
           AND ST_Contains(g.geom, ST_Centroid(g.geom))
         ORDER BY g.code LIMIT 1"""), {"layer": layer}).mappings().one()
    return dict(row)


def crossing_line(g: dict) -> dict:
    """A west-east line through the grid's centroid that overshoots both sides, so it splits it in two."""
    return {"type": "LineString", "coordinates": [[g["x0"] - 0.01, g["cy"]], [g["x1"] + 0.01, g["cy"]]]}


def etag_of(client: TestClient, grid_id: int) -> str:
    r = client.get(f"/grids/{grid_id}")
    assert r.status_code == 200, r.text
    return r.headers["etag"]
