"""Undo of a planner's last grid edit through the API: every operation goes back, memberships and area
with it; someone else's later edit blocks it (409, naming the grid and who); an edit is undone once;
codes are never reused; the undo is audited and in the history."""

from __future__ import annotations

import json
from datetime import datetime

from edit_grids import etag_of, pick_grid
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session


def _shape(session: Session, grid_id: int) -> bytes:
    return bytes(session.execute(text("SELECT ST_AsEWKB(geom) FROM grid WHERE id = :i"), {"i": grid_id}).scalar_one())


def _same_shape(session: Session, grid_id: int, shape: bytes) -> bool:
    return session.execute(text("SELECT ST_Equals(geom, ST_GeomFromEWKB(:s)) FROM grid WHERE id = :i"),
                           {"i": grid_id, "s": shape}).scalar_one()


def _homes(session: Session, grid_id: int) -> set[int]:
    return set(session.execute(text(
        "SELECT entity_id FROM grid_membership WHERE kind = 'household' AND grid_id = :i"), {"i": grid_id}).scalars())


def _area(session: Session, grid_id: int) -> float:
    return session.execute(text("SELECT ST_Area(geom) FROM grid WHERE id = :i"), {"i": grid_id}).scalar_one()


def _last_edit(client: TestClient) -> dict:
    r = client.get("/grids/edits?mine=true")
    assert r.status_code == 200, r.text
    last = r.json()[0]
    assert "T" in last["at"] and datetime.fromisoformat(last["at"]).tzinfo is not None  # ISO 8601, with its offset
    return last


def _shrink_into_neighbour(planner: TestClient, session: Session, g: dict, reason: str = "road moved") -> dict:
    """Pull the grid's edge 30 m back from its neighbour, which takes the strip (a full-cover layer)."""
    shrunk = json.loads(session.execute(text(
        "SELECT ST_AsGeoJSON(ST_Difference(g.geom, ST_Buffer(n.geom::geography, 30)::geometry), 15)"
        " FROM grid g, grid n WHERE g.id = :g AND n.id = :n"), {"g": g["id"], "n": g["nid"]}).scalar_one())
    tags = f"{etag_of(planner, g['id'])}, {etag_of(planner, g['nid'])}"
    r = planner.put(f"/grids/{g['id']}/geometry", json={"geometry": shrunk, "fill_gap_into": g["nid"],
                                                         "reason": reason}, headers={"If-Match": tags})
    assert r.status_code == 200, r.text
    return r.json()


def _undo(client: TestClient, edit_id: int, **kw: object):  # noqa: ANN202
    return client.post(f"/grids/edits/{edit_id}/undo", json={"reason": kw.get("reason", "")},
                       params={"dry_run": "true"} if kw.get("dry_run") else None)


def test_reshape_is_undone_with_its_memberships_audited_and_in_the_history(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    shapes = {i: _shape(session, i) for i in (g["id"], g["nid"])}
    homes = {i: _homes(session, i) for i in (g["id"], g["nid"])}
    _shrink_into_neighbour(planner, session, g)
    assert not _same_shape(session, g["id"], shapes[g["id"]])
    edit = _last_edit(planner)
    assert edit["operation"] == "reshape" and edit["undoable"] and edit["why_not"] is None
    assert {(x["id"], x["after"] - x["before"]) for x in edit["grids"]} == {(g["id"], 1), (g["nid"], 1)}

    r = _undo(planner, edit["id"], reason="wrong road")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["undone"] == edit["id"] and body["retired"] == []
    assert all(m["to"] in (g["code"], g["ncode"]) for m in body["moves"])
    for i in (g["id"], g["nid"]):
        assert _same_shape(session, i, shapes[i]) and _homes(session, i) == homes[i]
    history = planner.get(f"/grids/{g['id']}/history").json()
    assert len(history) >= 3 and history[-1]["author"] == "planner"
    assert history[-1]["reason"] == f"undo of edit {edit['id']}: wrong road"
    assert history[-1]["area_m2"] == history[-3]["area_m2"]
    audit = session.execute(text("SELECT username, purpose FROM audit_log WHERE action = 'grid.undo'"
                                 " ORDER BY id DESC LIMIT 1")).one()
    assert audit.username == "planner" and audit.purpose.startswith(f"undo of edit {edit['id']}")

    # A second undo of the same edit is refused, and the undo itself is not undoable.
    r = _undo(planner, edit["id"])
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    assert "already undone" in r.json()["detail"]
    listed = {e["id"]: e for e in planner.get("/grids/edits").json()}
    assert not listed[edit["id"]]["undoable"] and listed[edit["id"]]["undone_by"] == body_undo_id(listed, edit)
    undo_row = listed[listed[edit["id"]]["undone_by"]]
    assert undo_row["operation"] == "undo" and undo_row["undoes"] == edit["id"] and not undo_row["undoable"]
    assert _undo(planner, undo_row["id"]).status_code == 409


def body_undo_id(listed: dict, edit: dict) -> int:
    return next(e["id"] for e in listed.values() if e["undoes"] == edit["id"])


def test_someone_elses_later_edit_blocks_the_undo(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    _shrink_into_neighbour(planner, session, g)
    edit = _last_edit(planner)
    admin = as_user("admin")
    r = admin.patch(f"/grids/{g['nid']}", json={"name": "改名", "reason": "survey"},
                    headers={"If-Match": etag_of(admin, g["nid"])})
    assert r.status_code == 200, r.text
    shape = _shape(session, g["id"])
    planner = as_user("planner")
    listed = _last_edit(planner)
    assert listed["id"] == edit["id"] and not listed["undoable"]
    assert g["ncode"] in listed["why_not"] and "admin" in listed["why_not"]
    r = _undo(planner, edit["id"])
    assert r.status_code == 409, r.text
    assert g["ncode"] in r.json()["detail"] and "admin" in r.json()["detail"]
    assert _same_shape(session, g["id"], shape)  # nothing stored half-way
    # ... and the admin cannot undo the planner's edit either, nor the planner the admin's.
    assert "only its author" in _undo(as_user("admin"), edit["id"]).json()["detail"]


def test_only_the_last_edit_can_be_undone(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    r = planner.patch(f"/grids/{g['id']}", json={"name": "第一次"}, headers={"If-Match": etag_of(planner, g["id"])})
    assert r.status_code == 200
    first = _last_edit(planner)
    r = planner.patch(f"/grids/{g['nid']}", json={"name": "第二次"}, headers={"If-Match": etag_of(planner, g["nid"])})
    assert r.status_code == 200
    r = _undo(planner, first["id"])
    assert r.status_code == 409 and "only your last edit" in r.json()["detail"]

    # The last one (a rename) goes back.
    second = _last_edit(planner)
    assert _undo(planner, second["id"]).status_code == 200
    assert planner.get(f"/grids/{g['nid']}").json()["properties"]["name"] != "第二次"
    assert session.execute(text("SELECT name FROM grid WHERE id = :i"), {"i": g["nid"]}).scalar_one() == \
        session.execute(text("SELECT name FROM grid_version WHERE grid_id = :i AND version = 1"),
                        {"i": g["nid"]}).scalar_one()


def test_split_is_undone_by_a_new_grid_with_a_new_code(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    area, homes = _area(session, g["id"]), _homes(session, g["id"])
    line = {"type": "LineString", "coordinates": [[g["x0"] - 0.01, g["cy"]], [g["x1"] + 0.01, g["cy"]]]}
    r = planner.post(f"/grids/{g['id']}/split", json={"line": line}, headers={"If-Match": etag_of(planner, g["id"])})
    assert r.status_code == 201, r.text
    parts = r.json()["grids"]
    edit = _last_edit(planner)
    assert edit["operation"] == "split"
    assert {x["code"] for x in edit["grids"] if x["before"] is None} == {p["code"] for p in parts}
    assert [x["code"] for x in edit["grids"] if x["after"] is None] == [g["code"]]

    dry = _undo(planner, edit["id"], dry_run=True)
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] and dry.json()["retired"] == sorted(p["code"] for p in parts)
    assert dry.json()["grids"][0]["id"] is None and dry.json()["grids"][0]["geometry"]["type"] == "MultiPolygon"
    assert _last_edit(planner)["id"] == edit["id"] and _last_edit(planner)["undoable"]  # nothing stored

    codes_before = set(session.execute(text("SELECT code FROM grid_version")).scalars())
    r = _undo(planner, edit["id"])
    assert r.status_code == 200, r.text
    (back,) = r.json()["grids"]
    assert sorted(r.json()["retired"]) == sorted(p["code"] for p in parts)
    assert back["code"] not in codes_before and back["code"][:14] == g["code"][:14]
    assert back["name"] == g["name"]
    assert abs(_area(session, back["id"]) - area) / area < 1e-9 and _homes(session, back["id"]) == homes
    for p in parts:
        assert planner.get(f"/grids/{p['id']}").status_code == 404
    history = planner.get(f"/grids/{back['id']}/history").json()
    assert f"restored from {g['code']}" in history[0]["reason"] and history[0]["author"] == "planner"
    lineage = planner.get(f"/grids/{back['id']}/lineage").json()
    direct = {a["code"]: a["operation"] for a in lineage["ancestors"] if a["depth"] == 1}
    assert direct == {**{p["code"]: "undo" for p in parts}, g["code"]: "restore"}
    became = planner.get(f"/grids/{g['id']}/lineage").json()["descendants"]
    assert back["code"] in {d["code"] for d in became}


def test_merge_is_undone_into_the_two_grids_again(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    areas = {g["code"]: _area(session, g["id"]), g["ncode"]: _area(session, g["nid"])}
    homes = {g["code"]: _homes(session, g["id"]), g["ncode"]: _homes(session, g["nid"])}
    tags = f"{etag_of(planner, g['id'])}, {etag_of(planner, g['nid'])}"
    r = planner.post("/grids/merge", json={"grids": [g["id"], g["nid"]], "name": "合并"}, headers={"If-Match": tags})
    assert r.status_code == 201, r.text
    merged = r.json()["grids"][0]
    r = _undo(planner, _last_edit(planner)["id"])
    assert r.status_code == 200, r.text
    assert r.json()["retired"] == [merged["code"]] and len(r.json()["grids"]) == 2
    assert planner.get(f"/grids/{merged['id']}").status_code == 404
    for new in r.json()["grids"]:
        old = next(c for c in areas if f"restored from {c}" in planner.get(f"/grids/{new['id']}/history").json()[0]
                   ["reason"])
        assert new["code"] not in (g["code"], g["ncode"], merged["code"])
        assert abs(_area(session, new["id"]) - areas[old]) / areas[old] < 1e-9
        assert _homes(session, new["id"]) == homes[old]


def test_retire_is_undone_and_the_absorber_shrinks_back(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = pick_grid(session)
    r = planner.post(f"/grids/{g['id']}/retire", json={"absorber": g["ncode"], "reason": "empty"},
                     headers={"If-Match": etag_of(planner, g["id"])})
    assert r.status_code == 200, r.text
    neighbour = _shape(session, g["nid"])
    r = _undo(planner, _last_edit(planner)["id"])
    assert r.status_code == 200, r.text
    codes = {x["code"] for x in r.json()["grids"]}
    assert g["ncode"] in codes and len(codes) == 2 and g["code"] not in codes
    assert not _same_shape(session, g["nid"], neighbour)
    assert session.execute(text(
        "SELECT ST_Equals(geom, (SELECT geom FROM grid_version WHERE grid_id = :n AND version = 1))"
        " FROM grid WHERE id = :n"), {"n": g["nid"]}).scalar_one()


def test_create_is_undone_by_retiring_it(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    v = session.execute(text("SELECT d.code, ST_AsGeoJSON(ST_Buffer(ST_PointOnSurface(d.geom)::geography, 60)::geometry)"
                             " AS g FROM division d WHERE d.level = 'village' ORDER BY d.code LIMIT 1")).one()
    r = planner.post("/grids", json={"layer": "dedicated", "name": "学校", "division": v.code,
                                     "geometry": json.loads(v.g)})
    assert r.status_code == 201, r.text
    created = r.json()["grids"][0]
    edit = _last_edit(planner)
    assert edit["operation"] == "create" and edit["grids"] == [
        {"id": created["id"], "code": created["code"], "before": None, "after": 1}]
    r = _undo(planner, edit["id"])
    assert r.status_code == 200, r.text
    assert r.json()["retired"] == [created["code"]] and r.json()["grids"] == []
    assert planner.get(f"/grids/{created['id']}").status_code == 404


def test_undo_needs_grids_edit(as_user) -> None:  # noqa: ANN001
    assert as_user("viewer").get("/grids/edits").status_code == 403
    assert as_user("viewer").post("/grids/edits/1/undo", json={}).status_code == 403
    assert as_user("planner").post("/grids/edits/2147483647/undo", json={}).status_code == 404


def test_a_grid_drawn_where_the_old_shape_was_blocks_the_undo(as_user, session: Session) -> None:  # noqa: ANN001
    """A micro-grid (not full-cover, no overlaps) shrunk by the planner; the admin draws a micro-grid in the
    freed half; the old shape cannot come back over it: 409 naming that grid and its author."""
    m = session.execute(text("""
        SELECT g.id, p.code AS parent, ST_AsGeoJSON(ST_Intersection(g.geom, ST_MakeEnvelope(
                   ST_XMin(g.geom), ST_YMin(g.geom), (ST_XMin(g.geom) + ST_XMax(g.geom)) / 2, ST_YMax(g.geom), 4326)),
                   15) AS kept,
               ST_AsGeoJSON(ST_Buffer(ST_Intersection(g.geom, ST_MakeEnvelope(
                   (ST_XMin(g.geom) + ST_XMax(g.geom)) / 2, ST_YMin(g.geom), ST_XMax(g.geom), ST_YMax(g.geom), 4326))
                   ::geography, -2)::geometry, 15) AS freed
          FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'micro' JOIN grid p ON p.id = g.parent_grid_id
         WHERE ST_Area(g.geom::geography) > 5000 ORDER BY g.code LIMIT 1""")).one()
    planner = as_user("planner")
    r = planner.put(f"/grids/{m.id}/geometry", json={"geometry": json.loads(m.kept), "reason": "half"},
                    headers={"If-Match": etag_of(planner, m.id)})
    assert r.status_code == 200, r.text
    edit = _last_edit(planner)
    admin = as_user("admin")
    r = admin.post("/grids", json={"layer": "micro", "name": "新微网格", "parent_grid": m.parent,
                                   "geometry": json.loads(m.freed)})
    assert r.status_code == 201, r.text
    drawn = r.json()["grids"][0]["code"]
    planner = as_user("planner")
    r = _undo(planner, edit["id"])
    assert r.status_code == 409, r.text
    assert drawn in r.json()["detail"] and "admin" in r.json()["detail"]
    assert r.json()["conflicts"][0]["code"] == drawn
