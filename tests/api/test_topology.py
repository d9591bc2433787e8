"""The topology report on the demo district: clean as generated, exact when broken on purpose."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def _interior_grid(session: Session) -> tuple[int, str, str]:
    """A comprehensive grid that does not touch its village's boundary."""
    return session.execute(text("""
        SELECT g.id, g.code, d.code FROM grid g JOIN division d ON d.id = g.division_id
        JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
        WHERE NOT ST_Intersects(ST_Boundary(d.geom), ST_Buffer(g.geom, 0.0005))
          AND (SELECT count(*) FROM grid_membership m WHERE m.grid_id = g.id AND m.kind = 'household') > 10
        ORDER BY g.code LIMIT 1""")).one()


def test_generated_layers_are_clean(as_user) -> None:  # noqa: ANN001
    for layer in ("comprehensive", "party", "emergency", "dedicated"):
        r = as_user("planner").get(f"/layers/{layer}/topology")
        assert r.status_code == 200, r.text
        assert r.json()["problems"] == [], (layer, r.json()["summary"])


def test_a_gap_is_found_with_its_area_and_households(as_user, session: Session) -> None:  # noqa: ANN001
    gid, code, village = _interior_grid(session)
    before = session.execute(text("SELECT ST_Area(geom::geography) FROM grid WHERE id = :g"), {"g": gid}).scalar()
    # A legacy import shrinks a grid by 20 m, bypassing the editing rules.
    session.execute(text("UPDATE grid SET geom = ST_ForcePolygonCCW(ST_Multi(ST_Buffer(geom::geography, -20)::geometry))"
                         " WHERE id = :g"), {"g": gid})
    after = session.execute(text("SELECT ST_Area(geom::geography) FROM grid WHERE id = :g"), {"g": gid}).scalar()
    stranded = session.execute(text("""
        SELECT count(*) FROM household h JOIN grid_membership m ON m.entity_id = h.id AND m.kind = 'household'
        WHERE m.grid_id = :g AND NOT ST_Intersects((SELECT geom FROM grid WHERE id = :g), h.geom)"""),
        {"g": gid}).scalar()
    report = as_user("planner").get("/layers/comprehensive/topology", params={"division": village}).json()
    gaps = [p for p in report["problems"] if p["kind"] == "gap"]
    assert len(gaps) == 1
    assert abs(gaps[0]["area_m2"] - (before - after)) / (before - after) < 1e-3
    assert gaps[0]["households"] == stranded
    assert gaps[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_an_overlap_is_found_even_when_one_grid_contains_another(as_user, session: Session) -> None:  # noqa: ANN001
    gid, code, village = _interior_grid(session)
    session.execute(text("UPDATE grid SET geom = ST_ForcePolygonCCW(ST_Multi(ST_Buffer(geom::geography, 15)::geometry))"
                         " WHERE id = :g"), {"g": gid})
    expected = session.execute(text("""
        SELECT sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)) FROM grid a JOIN grid b
          ON b.layer_id = a.layer_id AND b.id <> a.id AND a.geom && b.geom
         WHERE a.id = :g AND ST_Relate(a.geom, b.geom, '2********')"""), {"g": gid}).scalar()
    report = as_user("planner").get("/layers/comprehensive/topology", params={"division": village}).json()
    overlaps = [p for p in report["problems"] if p["kind"] == "overlap"]
    assert overlaps and all(code in p["grids"] for p in overlaps)
    assert abs(sum(p["area_m2"] for p in overlaps) - expected) / expected < 1e-3

    # Containment: a copy of a grid inside it is an overlap too (ST_Overlaps alone would say no).
    session.execute(text("""
        INSERT INTO grid (code, layer_id, division_id, name, notes, geom, version)
        SELECT left(code, 14) || '999', layer_id, division_id, 'inner', '',
               ST_ForcePolygonCCW(ST_Multi(ST_Buffer(geom::geography, -50)::geometry)), 1
          FROM grid WHERE id = :g"""), {"g": gid})
    report = as_user("planner").get("/layers/comprehensive/topology", params={"division": village}).json()
    assert any(code[:14] + "999" in p["grids"] for p in report["problems"] if p["kind"] == "overlap")


def test_topology_is_scoped(as_user) -> None:  # noqa: ANN001
    assert as_user("worker1").get("/layers/comprehensive/topology").status_code == 404
