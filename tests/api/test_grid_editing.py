"""Grid editing through the API: split, merge, retire, reshape, create; topology rules, ETags, history."""

from __future__ import annotations

from edit_grids import crossing_line, etag_of, pick_grid
from sqlalchemy import text
from sqlalchemy.orm import Session


def _area(session: Session, ids: list[int]) -> float:
    """Area in the storage plane, where edits must conserve it exactly (see test_editing_concurrency)."""
    return session.execute(text("SELECT sum(ST_Area(geom)) FROM grid WHERE id = ANY(:i)"),
                           {"i": ids}).scalar_one()


def _households(session: Session, ids: list[int]) -> set[int]:
    return set(session.execute(text(
        "SELECT entity_id FROM grid_membership WHERE kind = 'household' AND grid_id = ANY(:i)"), {"i": ids}).scalars())


def _no_overlaps(session: Session, division_id: int) -> None:
    n = session.execute(text("""
        SELECT count(*) FROM grid a JOIN grid b ON a.id < b.id AND a.layer_id = b.layer_id AND a.geom && b.geom
        JOIN grid_layer l ON l.id = a.layer_id AND NOT l.allow_overlap
        WHERE a.division_id = :d AND ST_Relate(a.geom, b.geom, '2********')
          AND ST_Area(ST_Intersection(a.geom, b.geom)::geography) > 0.01"""), {"d": division_id}).scalar_one()
    assert n == 0


def test_split_by_line(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    area, homes = _area(session, [g["id"]]), _households(session, [g["id"]])
    r = planner.post(f"/grids/{g['id']}/split", json={"line": crossing_line(g), "reason": "too many households"},
                     headers={"If-Match": etag_of(planner, g["id"])})
    assert r.status_code == 201, r.text
    body = r.json()
    parts = [p["id"] for p in body["grids"]]
    assert len(parts) >= 2 and body["retired"] == [g["code"]]
    assert abs(_area(session, parts) - area) / area < 1e-9
    assert _households(session, parts) == homes
    assert body["moved"] == len(homes) + sum(  # every household (and camera, event, staff) under it moved
        m["count"] for m in body["moves"] if m["kind"] != "household")
    assert all(m["from"] == g["code"] for m in body["moves"])
    old_seq = int(g["code"][-3:])
    assert all(p["code"][:14] == g["code"][:14] and int(p["code"][-3:]) > old_seq for p in body["grids"])
    assert planner.get(f"/grids/{g['id']}").status_code == 404
    history = planner.get(f"/grids/{g['id']}/history").json()
    assert history[-1]["valid_to"] is not None and history[-1]["reason"]
    lineage = planner.get(f"/grids/{parts[0]}/lineage").json()
    assert [a["code"] for a in lineage["ancestors"]] == [g["code"]]
    _no_overlaps(session, g["division_id"])


def test_split_needs_a_line_across(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    inside = {"type": "LineString", "coordinates": [[g["cx"], g["cy"]], [g["cx"] + 1e-5, g["cy"]]]}
    r = planner.post(f"/grids/{g['id']}/split", json={"line": inside}, headers={"If-Match": etag_of(planner, g["id"])})
    assert r.status_code == 422 and "edge to edge" in r.json()["detail"]


def test_merge_and_retire(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    area = _area(session, [g["id"], g["nid"]])
    homes = _households(session, [g["id"], g["nid"]])
    tags = f'{etag_of(planner, g["id"])}, {etag_of(planner, g["nid"])}'
    r = planner.post("/grids/merge", json={"grids": [g["id"], g["nid"]], "name": "合并网格"}, headers={"If-Match": tags})
    assert r.status_code == 201, r.text
    merged = r.json()["grids"][0]
    assert abs(_area(session, [merged["id"]]) - area) / area < 1e-9
    assert _households(session, [merged["id"]]) == homes
    assert sorted(r.json()["retired"]) == sorted([g["code"], g["ncode"]])

    # Retire the merged grid: its neighbour with the longest shared border takes it over.
    r = planner.post(f"/grids/{merged['id']}/retire", json={"reason": "village merger"},
                     headers={"If-Match": r.headers["etag"]})
    assert r.status_code == 200, r.text
    absorber = r.json()["grids"][0]
    assert absorber["version"] >= 2
    assert homes <= _households(session, [absorber["id"]])
    _no_overlaps(session, g["division_id"])


def test_merge_refuses_non_adjacent_grids(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    a, b = session.execute(text("""
        SELECT a.id, b.id FROM grid a JOIN grid b ON a.division_id = b.division_id AND a.layer_id = b.layer_id
        AND a.id < b.id JOIN grid_layer l ON l.id = a.layer_id AND l.code = 'comprehensive'
        WHERE NOT ST_Intersects(a.geom, b.geom) ORDER BY a.id LIMIT 1""")).one()
    r = planner.post("/grids/merge", json={"grids": [a, b]},
                     headers={"If-Match": f"{etag_of(planner, a)} {etag_of(planner, b)}"})
    assert r.status_code == 409 and "adjacent" in r.json()["detail"]


def test_reshape_overlap_is_refused_with_the_overlap_or_trimmed(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    grown = session.execute(text(
        "SELECT ST_AsGeoJSON(ST_Intersection(ST_Buffer(geom::geography, 30)::geometry,"
        " (SELECT geom FROM division WHERE id = :d))) FROM grid WHERE id = :g"),
        {"g": g["id"], "d": g["division_id"]}).scalar_one()
    import json

    shape = json.loads(grown)
    r = planner.put(f"/grids/{g['id']}/geometry", json={"geometry": shape}, headers={"If-Match": etag_of(planner, g["id"])})
    assert r.status_code == 409, r.text
    conflicts = r.json()["conflicts"]
    assert g["ncode"] in [c["code"] for c in conflicts]
    assert all(c["area_m2"] > 0 and c["geometry"]["type"] in ("Polygon", "MultiPolygon") for c in conflicts)
    r = planner.put(f"/grids/{g['id']}/geometry", json={"geometry": shape, "overlap_mode": "trim"},
                    headers={"If-Match": etag_of(planner, g["id"])})
    assert r.status_code == 200, r.text
    _no_overlaps(session, g["division_id"])


def test_outside_parent_strict_or_clip(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    division, code, x, y = session.execute(text("""
        SELECT d.code, g.code, ST_X(ST_PointOnSurface(d.geom)), ST_Y(ST_PointOnSurface(d.geom))
        FROM division d JOIN grid g ON g.division_id = d.id WHERE d.level = 'village' ORDER BY d.code LIMIT 1""")).one()
    square = {"type": "Polygon", "coordinates": [[[x, y], [x + 0.2, y], [x + 0.2, y + 0.2], [x, y + 0.2], [x, y]]]}
    body = {"layer": "dedicated", "name": "大学城", "division": division, "geometry": square}
    r = planner.post("/grids", json=body)
    assert r.status_code == 409 and "outside its parent" in r.json()["detail"] and r.json()["area_m2"] > 0
    r = planner.post("/grids", json={**body, "parent_mode": "clip"})
    assert r.status_code == 201, r.text
    new = r.json()["grids"][0]
    assert new["code"].startswith(division + "04") and r.headers["etag"]


def test_etags_protect_against_lost_updates(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    assert planner.patch(f"/grids/{g['id']}", json={"name": "新名"}).status_code == 428
    tag = etag_of(planner, g["id"])
    assert planner.patch(f"/grids/{g['id']}", json={"name": "新名"}, headers={"If-Match": tag}).status_code == 200
    stale = planner.patch(f"/grids/{g['id']}", json={"name": "另一个名"}, headers={"If-Match": tag})
    assert stale.status_code == 412 and g["code"] in stale.json()["detail"]


def test_history_and_the_net_at_a_moment(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    r = planner.patch(f"/grids/{g['id']}", json={"name": "改名", "reason": "survey"},
                      headers={"If-Match": etag_of(planner, g["id"])})
    assert r.status_code == 200
    versions = planner.get(f"/grids/{g['id']}/history").json()
    assert [v["version"] for v in versions][-2:] == [1, 2] and versions[-1]["author"] == "planner"
    # The transaction's now() is the same for the load and the edit here, so "at" a moment before the
    # test transaction shows version 1 only if it committed earlier: use the version-1 row's own start.
    at = versions[0]["valid_from"]
    old = planner.get("/grids", params={"at": at, "layer": "comprehensive", "limit": 1000}).json()["features"]
    assert any(f["id"] == g["id"] for f in old)


def test_planner_cannot_edit_outside_and_workers_cannot_edit(as_user, session: Session) -> None:  # noqa: ANN001
    g = pick_grid(session)
    r = as_user("worker1").patch(f"/grids/{g['id']}", json={"name": "x"}, headers={"If-Match": '"g1v1"'})
    assert r.status_code == 403


def test_balanced_split_suggest_then_apply(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    homes = _households(session, [g["id"]])
    suggestion = planner.get(f"/grids/{g['id']}/split-suggestion", params={"parts": 3})
    assert suggestion.status_code == 200, suggestion.text
    parts = suggestion.json()["features"]
    counts = [p["properties"]["households"] for p in parts]
    assert len(parts) == 3 and sum(counts) == len(homes) and max(counts) - min(counts) <= 1
    area = _area(session, [g["id"]])
    r = planner.post(f"/grids/{g['id']}/partition", json={"parts": [p["geometry"] for p in parts]},
                     headers={"If-Match": etag_of(planner, g["id"])})
    assert r.status_code == 201, r.text
    new = [p["id"] for p in r.json()["grids"]]
    assert abs(_area(session, new) - area) / area < 1e-9
    assert _households(session, new) == homes
    got = sorted(len(_households(session, [i])) for i in new)
    assert max(got) - min(got) <= 2  # a household on a boundary may fall to the neighbour (smallest code)
    _no_overlaps(session, g["division_id"])


def test_partition_must_tile_the_grid(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    parts = planner.get(f"/grids/{g['id']}/split-suggestion", params={"parts": 2}).json()["features"]
    r = planner.post(f"/grids/{g['id']}/partition", json={"parts": [parts[0]["geometry"], parts[0]["geometry"]]},
                     headers={"If-Match": etag_of(planner, g["id"])})
    assert r.status_code == 409 and "cover the grid exactly" in r.json()["detail"]


# -- geometry that cannot be right is refused, stores nothing and burns no code ----------------------------------

def _counter(session: Session, division_id: int, layer: str) -> int | None:
    return session.execute(text(
        "SELECT c.last_seq FROM grid_code_counter c JOIN grid_layer l ON l.id = c.layer_id"
        " WHERE c.division_id = :d AND l.code = :l"), {"d": division_id, "l": layer}).scalar()


def _grid_count(session: Session) -> int:
    return session.execute(text("SELECT count(*) FROM grid")).scalar_one()


def _village_tip(session: Session) -> dict:
    """A village and its easternmost vertex: shapes there are partly outside it."""
    return dict(session.execute(text("""
        SELECT d.id, d.code, ST_XMax(d.geom) AS x, p.y FROM division d,
               LATERAL (SELECT ST_Y(q.geom) AS y FROM ST_DumpPoints(d.geom) q
                         ORDER BY ST_X(q.geom) DESC LIMIT 1) p
         WHERE d.level = 'village' AND EXISTS (SELECT 1 FROM grid g WHERE g.division_id = d.id)
         ORDER BY d.code LIMIT 1""")).mappings().one())


def test_degenerate_drawings_are_refused_without_burning_a_code(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    v = _village_tip(session)
    x, y = session.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM division"
                                " WHERE id = :d) s"), {"d": v["id"]}).one()
    m = 1 / 111_000  # about a metre of latitude in degrees
    shapes = {
        "collinear": [[x, y], [x + 100 * m, y], [x + 50 * m, y + 1e-9], [x, y]],  # a 0.05 m² triangle
        "small": [[x, y], [x + 5 * m, y], [x + 5 * m, y + 5 * m], [x, y + 5 * m], [x, y]],  # 25 m²
        "sliver": [[x, y], [x + 300 * m, y], [x + 300 * m, y + m], [x, y + m], [x, y]],  # 300 m², 1 m wide
    }
    before, counter = _grid_count(session), _counter(session, v["id"], "dedicated")
    for what, ring in shapes.items():
        r = planner.post("/grids", json={"layer": "dedicated", "name": what, "division": v["code"],
                                         "geometry": {"type": "Polygon", "coordinates": [ring]}})
        assert r.status_code == 422, (what, r.text)
        body = r.json()
        assert r.headers["content-type"].startswith("application/problem+json") and body["pointer"] == "geometry"
        assert ("sliver" in body["detail"]) == (what == "sliver"), body["detail"]
        assert body["area_m2"] < 301
    assert _grid_count(session) == before and _counter(session, v["id"], "dedicated") == counter


def test_clip_that_leaves_nothing_meaningful_is_refused(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    v = _village_tip(session)
    x0, x1, y0, y1 = v["x"] - 2e-5, v["x"] + 0.01, v["y"] - 0.005, v["y"] + 0.005  # about 2 m reaches inside
    square = {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}
    before, counter = _grid_count(session), _counter(session, v["id"], "dedicated")
    r = planner.post("/grids", json={"layer": "dedicated", "name": "边角", "division": v["code"], "geometry": square,
                                     "parent_mode": "clip"})
    assert r.status_code == 409, r.text
    body = r.json()
    assert "nothing meaningful is left" in body["detail"] and (body["area_m2"] < 50 or body["width_m"] < 3)
    assert _grid_count(session) == before and _counter(session, v["id"], "dedicated") == counter


def test_split_lines_that_do_not_cross_are_refused(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    cx, cy, west = g["cx"], g["cy"], g["x0"] - 0.01
    d = 2e-4
    lines = {
        "closed loop": [[cx - d, cy - d], [cx + d, cy - d], [cx + d, cy + d], [cx - d, cy + d], [cx - d, cy - d]],
        "ends inside": [[west, cy], [cx, cy]],
        "crosses itself": [[west, cy], [cx + d, cy], [cx, cy + d], [cx, cy - d], [g["x1"] + 0.01, cy - d]],
        "sliver": [[west, cy], [cx, cy], [west, cy + 3e-5]],  # out and back: a wedge about a metre wide
        "small": [[west, cy], [cx, cy], [west, cy + 1e-8]],  # out and back along the same path
    }
    counter, version = _counter(session, g["division_id"], "comprehensive"), etag_of(planner, g["id"])
    details = {}
    for what, coords in lines.items():
        r = planner.post(f"/grids/{g['id']}/split", json={"line": {"type": "LineString", "coordinates": coords}},
                         headers={"If-Match": version})
        assert r.status_code == 422 and r.json()["pointer"] == "line", (what, r.text)
        details[what] = r.json()["detail"]
    assert "closed loop" in details["closed loop"]
    assert "ends inside" in details["ends inside"] and "edge to edge" in details["ends inside"]
    assert "crosses itself" in details["crosses itself"]
    assert "sliver of" in details["sliver"] and "m²" in details["sliver"]
    assert "m²: a grid must have" in details["small"] or "does not cut" in details["small"]
    assert etag_of(planner, g["id"]) == version  # the grid is untouched
    assert _counter(session, g["division_id"], "comprehensive") == counter


def test_partition_with_a_crumb_is_refused(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    crumb, rest = session.execute(text("""
        WITH c AS (SELECT geom, ST_Intersection(geom, ST_Buffer(ST_PointN(ST_ExteriorRing(ST_GeometryN(geom, 1)), 1)
                                                        ::geography, 3)::geometry) AS crumb FROM grid WHERE id = :g)
        SELECT ST_AsGeoJSON(crumb, 15), ST_AsGeoJSON(ST_Difference(geom, crumb), 15) FROM c"""),
        {"g": g["id"]}).one()
    import json

    counter = _counter(session, g["division_id"], "comprehensive")
    r = planner.post(f"/grids/{g['id']}/partition", json={"parts": [json.loads(rest), json.loads(crumb)]},
                     headers={"If-Match": etag_of(planner, g["id"])})
    assert r.status_code == 422, r.text
    assert r.json()["pointer"] == "parts/1" and "part 2 is" in r.json()["detail"]
    assert planner.get(f"/grids/{g['id']}").status_code == 200
    assert _counter(session, g["division_id"], "comprehensive") == counter


def test_reshape_that_opens_a_gap_in_a_full_cover_layer_is_refused_or_filled(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    import json

    # Pull the grid's edge 30 m back from its neighbour: the strip between them would be in no grid.
    shrunk = json.loads(session.execute(text(
        "SELECT ST_AsGeoJSON(ST_Difference(g.geom, ST_Buffer(n.geom::geography, 30)::geometry), 15)"
        " FROM grid g, grid n WHERE g.id = :g AND n.id = :n"), {"g": g["id"], "n": g["nid"]}).scalar_one())
    strip_households = session.execute(text("""
        SELECT count(*) FROM household h, grid g, grid n WHERE g.id = :g AND n.id = :n
           AND ST_Contains(g.geom, h.geom) AND ST_DWithin(n.geom::geography, h.geom::geography, 30)"""),
        {"g": g["id"], "n": g["nid"]}).scalar_one()
    area = _area(session, [g["id"], g["nid"]])
    tag, ntag = etag_of(planner, g["id"]), etag_of(planner, g["nid"])
    r = planner.put(f"/grids/{g['id']}/geometry", json={"geometry": shrunk}, headers={"If-Match": tag})
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    gap = r.json()["gap"]
    assert gap["area_m2"] > 100 and gap["geometry"]["type"] == "MultiPolygon"
    assert set(gap["orphans"]) == {"household", "camera", "event", "staff"}
    assert abs(gap["orphans"]["household"] - strip_households) <= 2  # a household right on the 30 m line
    assert "不重不漏" in r.json()["detail"] and etag_of(planner, g["id"]) == tag

    # Naming the neighbour without its ETag is a 428; with it, the neighbour takes the strip.
    r = planner.put(f"/grids/{g['id']}/geometry", json={"geometry": shrunk, "fill_gap_into": g["nid"]},
                    headers={"If-Match": tag})
    assert r.status_code == 428
    homes = _households(session, [g["id"], g["nid"]])
    r = planner.put(f"/grids/{g['id']}/geometry", json={"geometry": shrunk, "fill_gap_into": g["nid"]},
                    headers={"If-Match": f"{tag}, {ntag}"})
    assert r.status_code == 200, r.text
    assert sorted(x["id"] for x in r.json()["grids"]) == sorted([g["id"], g["nid"]])
    assert abs(_area(session, [g["id"], g["nid"]]) - area) / area < 1e-9
    assert _households(session, [g["id"], g["nid"]]) == homes
    assert etag_of(planner, g["nid"]) != ntag
    _no_overlaps(session, g["division_id"])
