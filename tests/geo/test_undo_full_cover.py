"""Undo in the domain: a create on a full-cover layer (不重不漏) is undone by handing its area to a neighbour."""

from __future__ import annotations

from shapely import wkb
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.grids import edit_log, editing, undo
from geo.privacy.audit import Actor

PLANNER = Actor(None, "planner-t")


def test_undoing_a_create_on_a_full_cover_layer_leaves_no_gap(session: Session) -> None:
    row = session.execute(text("""
        SELECT g.id, d.code AS division, ST_AsEWKB(ST_Buffer(ST_PointOnSurface(g.geom)::geography, 40)::geometry) AS hole
          FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
          JOIN division d ON d.id = g.division_id
         WHERE ST_Area(g.geom::geography) > 100000 ORDER BY g.code LIMIT 1""")).one()
    # A hole in the layer (as an import might leave one), and a planner's grid drawn into it.
    session.execute(text("UPDATE grid SET geom = ST_ForcePolygonCCW(ST_Multi(ST_Difference(geom, ST_GeomFromEWKB(:h)))) WHERE id = :g"),
                    {"h": bytes(row.hole), "g": row.id})
    around = session.execute(text("SELECT ST_Area(geom) FROM grid WHERE id = :g"), {"g": row.id}).scalar_one()
    created = editing.create_grid(session, PLANNER, Scope.platform(), layer_code="comprehensive",
                                  geometry=wkb.loads(bytes(row.hole)), name="新网格", division_code=row.division)
    new_id = created.grids[0]["id"]
    edit = edit_log.edits(session, actor=PLANNER.username, divisions=None, limit=1)[0]
    assert edit.operation == "create" and [g.id for g in edit.created] == [new_id]

    result, _ = undo.undo_edit(session, PLANNER, Scope.platform(), edit.id, reason="drawn by mistake")
    assert result.retired == [created.grids[0]["code"]] and [g["id"] for g in result.grids] == [row.id]
    assert session.execute(text("SELECT count(*) FROM grid WHERE id = :n"), {"n": new_id}).scalar_one() == 0
    # the neighbour around it took the area back: no gap
    grown = session.execute(text("SELECT ST_Area(geom) FROM grid WHERE id = :g"), {"g": row.id}).scalar_one()
    hole = session.execute(text("SELECT ST_Area(ST_GeomFromEWKB(:h))"), {"h": bytes(row.hole)}).scalar_one()
    assert abs(grown - around - hole) / hole < 1e-6
    log = edit_log.edits(session, actor=PLANNER.username, divisions=None, limit=1)[0]
    assert (log.operation, log.undoes, log.reason) == ("undo", edit.id, f"undo of edit {edit.id}: drawn by mistake")
    assert session.execute(text("SELECT reason FROM grid_version WHERE grid_id = :g ORDER BY version DESC LIMIT 1"),
                           {"g": row.id}).scalar_one() == f"undo of edit {edit.id}: drawn by mistake"
