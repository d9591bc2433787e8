"""GET /grids/{id}/merge-candidates, and POST /grids/merge refusing a grid that is not one, naming it."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.grids.merging import merge_candidates


def _grid(session: Session) -> int:
    """A comprehensive grid with at least two neighbours sharing an edge in its village."""
    return session.execute(text("""
        SELECT g.id FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
         WHERE (SELECT count(*) FROM grid n WHERE n.layer_id = g.layer_id AND n.division_id = g.division_id
                  AND n.id <> g.id AND ST_Relate(n.geom, g.geom, '****1****')) >= 2
         ORDER BY g.code LIMIT 1""")).scalar_one()


def test_candidates_are_the_edge_sharing_neighbours_of_the_village_with_etags(as_user, session: Session) -> None:  # noqa: ANN001,E501
    planner = as_user("planner")
    gid = _grid(session)
    r = planner.get(f"/grids/{gid}/merge-candidates")
    assert r.status_code == 200, r.text
    body = r.json()
    expected = set(session.execute(text("""
        SELECT n.id FROM grid g JOIN grid n ON n.layer_id = g.layer_id AND n.division_id = g.division_id
           AND n.id <> g.id AND n.parent_grid_id IS NOT DISTINCT FROM g.parent_grid_id
         WHERE g.id = :g AND ST_Length(ST_CollectionExtract(
                   ST_Intersection(ST_Boundary(n.geom), ST_Boundary(g.geom)), 2)::geography) > 0"""),
        {"g": gid}).scalars())
    assert len(expected) >= 2 and {c["id"] for c in body["candidates"]} == expected
    assert body["grid"]["id"] == gid and body["grid"]["etag"] == planner.get(f"/grids/{gid}").headers["etag"]
    for c in body["candidates"]:
        assert c["etag"] == planner.get(f"/grids/{c['id']}").headers["etag"]
        assert c["shared_edge_m"] > 0 and c["geometry"]["type"] == "MultiPolygon"
    # every candidate merges
    c = body["candidates"][0]
    r = planner.post("/grids/merge", params={"dry_run": "true"}, json={"grids": [gid, c["id"]]},
                     headers={"If-Match": f"{body['grid']['etag']}, {c['etag']}"})
    assert r.status_code == 200, r.text


def test_a_grid_touching_at_a_point_or_in_another_village_is_no_candidate_and_is_refused(as_user, session: Session) -> None:  # noqa: ANN001,E501
    planner = as_user("planner")
    a, b, code_b = session.execute(text("""
        SELECT a.id, b.id, b.code FROM grid a JOIN grid b ON a.layer_id = b.layer_id AND a.id <> b.id
          AND a.division_id <> b.division_id AND a.geom && b.geom
          JOIN grid_layer l ON l.id = a.layer_id AND l.code = 'comprehensive'
         WHERE ST_Relate(a.geom, b.geom, '****1****') ORDER BY a.code, b.code LIMIT 1""")).one()
    assert b not in {c["id"] for c in planner.get(f"/grids/{a}/merge-candidates").json()["candidates"]}
    tags = f"{planner.get(f'/grids/{a}').headers['etag']}, {planner.get(f'/grids/{b}').headers['etag']}"
    r = planner.post("/grids/merge", json={"grids": [a, b]}, headers={"If-Match": tags})
    assert r.status_code == 409 and code_b in r.json()["detail"] and "another village" in r.json()["detail"]
    assert r.json()["pointer"] == "grids/1"


def test_a_non_adjacent_grid_is_refused_naming_it(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    a, b, code_b = session.execute(text("""
        SELECT a.id, b.id, b.code FROM grid a JOIN grid b ON a.division_id = b.division_id AND a.layer_id = b.layer_id
           AND a.id < b.id AND a.parent_grid_id IS NOT DISTINCT FROM b.parent_grid_id
          JOIN grid_layer l ON l.id = a.layer_id AND l.code = 'comprehensive'
         WHERE NOT ST_Intersects(a.geom, b.geom) ORDER BY a.id LIMIT 1""")).one()
    assert b not in {c["id"] for c in planner.get(f"/grids/{a}/merge-candidates").json()["candidates"]}
    tags = f"{planner.get(f'/grids/{a}').headers['etag']}, {planner.get(f'/grids/{b}').headers['etag']}"
    r = planner.post("/grids/merge", params={"dry_run": "true"}, json={"grids": [a, b]}, headers={"If-Match": tags})
    assert r.status_code == 409 and code_b in r.json()["detail"] and "adjacent" in r.json()["detail"]
    assert r.json()["pointer"] == "grids/1"


def test_candidates_stay_inside_the_territory(as_user, session: Session) -> None:  # noqa: ANN001
    worker = as_user("worker1")
    assert worker.get("/grids/1/merge-candidates").status_code == 403
    planner = as_user("planner")
    outside = session.execute(text("SELECT max(id) + 1000 FROM grid")).scalar_one()
    assert planner.get(f"/grids/{outside}/merge-candidates").status_code == 404
    # A planner whose territory holds the grid and only one of its neighbours sees only that one.
    gid = _grid(session)
    everyone = merge_candidates(session, Scope(everything=True), gid)["candidates"]
    mine = Scope(everything=False, visible_grids=(gid, everyone[0]["id"]))
    assert [c["id"] for c in merge_candidates(session, mine, gid)["candidates"]] == [everyone[0]["id"]]
