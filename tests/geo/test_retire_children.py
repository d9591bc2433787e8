"""When an edit retires a grid, each of its child grids goes to the successor that overlaps that child most.

A split of a comprehensive grid used to hand every micro-grid to the same successor (the one that
overlapped the old parent most), so half of them ended up inside the other half's parent.
"""

from __future__ import annotations

from shapely.geometry import LineString
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.grids import editing
from geo.privacy.audit import Actor


def test_a_split_hands_each_child_to_the_piece_it_lies_in(session: Session) -> None:
    g = session.execute(text("""
        SELECT g.id, g.version, ST_XMin(g.geom) x0, ST_XMax(g.geom) x1, ST_Y(ST_Centroid(g.geom)) cy,
               array_agg(c.id) AS children
          FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
          JOIN grid c ON c.parent_grid_id = g.id
         WHERE ST_Contains(g.geom, ST_Centroid(g.geom))
         GROUP BY g.id HAVING count(*) >= 6 ORDER BY count(*) DESC, g.id LIMIT 1""")).mappings().one()
    line = LineString([(g["x0"] - 0.01, g["cy"]), (g["x1"] + 0.01, g["cy"])])
    result = editing.split_grid(session, Actor(None, "test"), Scope.county(), g["id"], g["version"], line)
    pieces = [p["id"] for p in result.grids]
    assert len(pieces) == 2
    rows = session.execute(text("""
        SELECT c.id, c.parent_grid_id,
               (SELECT s.id FROM grid s WHERE s.id = ANY(:pieces)
                 ORDER BY ST_Area(ST_Intersection(s.geom, c.geom)) DESC, s.id LIMIT 1) AS best
          FROM grid c WHERE c.id = ANY(:children)"""), {"pieces": pieces, "children": g["children"]}).all()
    assert {r.parent_grid_id for r in rows} == set(pieces), "the children lie on both sides of the line"
    assert all(r.parent_grid_id == r.best for r in rows), [(r.id, r.parent_grid_id, r.best) for r in rows]
