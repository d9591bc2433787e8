"""?dry_run=true on every grid edit: the real edit's checks and outcome, and nothing stored (docs/web.md).

Each test takes a fingerprint of every table an edit writes (grids, history, lineage, the code counter,
memberships, staff and users' grids, events and their transitions, the audit log), runs the dry run,
checks the fingerprint is unchanged, then runs the real edit and checks the dry run predicted it.
"""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

_TABLES = {
    "grid": "SELECT md5(string_agg(concat_ws(':', id, code, version, name, notes, parent_grid_id, ST_AsEWKB(geom)),"
            " ',' ORDER BY id)) FROM grid",
    "grid_version": "SELECT count(*) FROM grid_version",
    "grid_lineage": "SELECT count(*) FROM grid_lineage",
    "grid_code_counter": "SELECT md5(string_agg(concat_ws(':', division_id, layer_id, last_seq), ','"
                         " ORDER BY division_id, layer_id)) FROM grid_code_counter",
    "grid_membership": "SELECT md5(string_agg(concat_ws(':', kind, entity_id, layer_id, grid_id), ','"
                       " ORDER BY kind, entity_id, layer_id)) FROM grid_membership",
    "staff": "SELECT md5(string_agg(concat_ws(':', id, grid_id), ',' ORDER BY id)) FROM staff",
    "app_user": "SELECT md5(string_agg(concat_ws(':', id, grid_id), ',' ORDER BY id)) FROM app_user",
    "event": "SELECT md5(string_agg(concat_ws(':', id, status, assignee_kind, assignee_staff_id,"
             " assignee_division_id), ',' ORDER BY id)) FROM event",
    "event_transition": "SELECT count(*) FROM event_transition",
    "audit_log": "SELECT count(*) FROM audit_log",
}


def _state(session: Session) -> dict[str, object]:
    return {table: session.execute(text(sql)).scalar() for table, sql in _TABLES.items()}


def _pick(session: Session) -> dict:
    """A comprehensive grid with households and a neighbour sharing an edge in the same village."""
    return dict(session.execute(text("""
        SELECT g.id, g.code, g.name, n.id AS nid, n.code AS ncode, g.division_id,
               ST_X(ST_Centroid(g.geom)) AS cx, ST_Y(ST_Centroid(g.geom)) AS cy,
               ST_XMin(g.geom) AS x0, ST_XMax(g.geom) AS x1
          FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
          JOIN grid n ON n.layer_id = g.layer_id AND n.division_id = g.division_id AND n.id <> g.id
               AND n.parent_grid_id IS NOT DISTINCT FROM g.parent_grid_id AND ST_Relate(n.geom, g.geom, '****1****')
         WHERE (SELECT count(*) FROM grid_membership m WHERE m.grid_id = g.id AND m.kind = 'household') > 20
           AND ST_Contains(g.geom, ST_Centroid(g.geom))
         ORDER BY g.code LIMIT 1""")).mappings().one())


def _etag(client: TestClient, grid_id: int) -> str:
    r = client.get(f"/grids/{grid_id}")
    assert r.status_code == 200, r.text
    return r.headers["etag"]


def _moves(body: dict) -> list[tuple]:
    return sorted((m["kind"], m["from"], m["to"], m["count"]) for m in body["moves"])


def _dry_then_real(client: TestClient, session: Session, method: str, url: str, *, json_body: dict,
                   headers: dict | None = None, status: int = 200) -> tuple[dict, dict]:
    """The dry run (which must store nothing), then the real edit; both answers."""
    before = _state(session)
    dry = client.request(method, url, params={"dry_run": "true"}, json=json_body, headers=headers or {})
    assert dry.status_code == 200, dry.text
    assert _state(session) == before, "a dry run stored something"
    body = dry.json()
    assert body["dry_run"] is True and set(body) >= {"grids", "retired", "clipped", "moves", "moved"}
    real = client.request(method, url, json=json_body, headers=headers or {})
    assert real.status_code == status, real.text
    assert "dry_run" not in real.json()
    return body, real.json()


def _same_outcome(dry: dict, real: dict) -> None:
    """The dry run named the grids the edit wrote (codes, names: a new grid's code is the one it got), their
    areas, the retired codes and every move."""
    assert [(g["code"], g["name"]) for g in dry["grids"]] == [(g["code"], g["name"]) for g in real["grids"]]
    assert sorted(dry["retired"]) == sorted(real["retired"])
    assert _moves(dry) == _moves(real) and dry["moved"] == real["moved"]
    for g in dry["grids"]:
        assert g["geometry"]["type"] == "MultiPolygon" and g["area_m2"] > 0


def _areas(session: Session, codes: list[str]) -> dict[str, float]:
    return dict(session.execute(text("SELECT code, ST_Area(geom::geography) FROM grid WHERE code = ANY(:c)"),
                                {"c": codes}).all())


def _names_of_moves(dry: dict) -> None:
    for m in dry["moves"]:
        assert m["from"] is None or m["from_name"], m
        assert m["to"] is None or m["to_name"], m


def test_split_dry_run_shows_the_parts_and_moves_and_stores_nothing(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = _pick(session)
    line = {"type": "LineString", "coordinates": [[g["x0"] - 0.01, g["cy"]], [g["x1"] + 0.01, g["cy"]]]}
    tag = _etag(planner, g["id"])
    dry, real = _dry_then_real(planner, session, "POST", f"/grids/{g['id']}/split",
                               json_body={"line": line, "reason": "太大"}, headers={"If-Match": tag}, status=201)
    _same_outcome(dry, real)
    assert len(dry["grids"]) >= 2 and all(p["new"] and p["id"] is None and p["version"] is None for p in dry["grids"])
    assert dry["retired"] == [g["code"]] and dry["clipped"] == []
    assert {m["from"] for m in dry["moves"]} == {g["code"]} and {m["from_name"] for m in dry["moves"]} == {g["name"]}
    assert {m["to"] for m in dry["moves"]} <= {p["code"] for p in dry["grids"]}
    assert {m["to_name"] for m in dry["moves"]} <= {p["name"] for p in dry["grids"]}
    real_areas = _areas(session, [p["code"] for p in real["grids"]])
    for p in dry["grids"]:
        assert abs(p["area_m2"] - real_areas[p["code"]]) < 0.01


def test_merge_and_retire_dry_runs(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = _pick(session)
    tags = f"{_etag(planner, g['id'])}, {_etag(planner, g['nid'])}"
    dry, real = _dry_then_real(planner, session, "POST", "/grids/merge",
                               json_body={"grids": [g["id"], g["nid"]], "name": "合并网格"}, headers={"If-Match": tags},
                               status=201)
    _same_outcome(dry, real)
    assert [p["name"] for p in dry["grids"]] == ["合并网格"] and dry["grids"][0]["new"]
    assert sorted(dry["retired"]) == sorted([g["code"], g["ncode"]])
    _names_of_moves(dry)
    merged = real["grids"][0]
    dry, real = _dry_then_real(planner, session, "POST", f"/grids/{merged['id']}/retire",
                               json_body={"reason": "村合并"}, headers={"If-Match": _etag(planner, merged["id"])})
    _same_outcome(dry, real)
    absorber = dry["grids"][0]
    assert not absorber["new"] and absorber["id"] == real["grids"][0]["id"]
    assert absorber["version"] == real["grids"][0]["version"] and dry["retired"] == [merged["code"]]
    assert {m["from"] for m in dry["moves"]} == {merged["code"]} and {m["to"] for m in dry["moves"]} == {absorber["code"]}
    _names_of_moves(dry)


def test_rename_dry_run(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = _pick(session)
    dry, real = _dry_then_real(planner, session, "PATCH", f"/grids/{g['id']}", json_body={"name": "新名字"},
                               headers={"If-Match": _etag(planner, g["id"])})
    _same_outcome(dry, real)
    assert dry["grids"][0]["name"] == "新名字" and dry["moves"] == [] and dry["grids"][0]["id"] == g["id"]
    assert session.execute(text("SELECT name FROM grid WHERE id = :i"), {"i": g["id"]}).scalar() == "新名字"


def test_partition_dry_run(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = _pick(session)
    parts = planner.get(f"/grids/{g['id']}/split-suggestion", params={"parts": 3}).json()["features"]
    dry, real = _dry_then_real(planner, session, "POST", f"/grids/{g['id']}/partition",
                               json_body={"parts": [p["geometry"] for p in parts]},
                               headers={"If-Match": _etag(planner, g["id"])}, status=201)
    _same_outcome(dry, real)
    assert len(dry["grids"]) == 3
    moved = {m["to"]: m["count"] for m in dry["moves"] if m["kind"] == "household"}
    assert sorted(moved.values()) == sorted(p["properties"]["households"] for p in parts) or \
        abs(sum(moved.values()) - sum(p["properties"]["households"] for p in parts)) <= 2


def _grown(session: Session, g: dict, metres: int) -> dict:
    return json.loads(session.execute(text(
        "SELECT ST_AsGeoJSON(ST_Intersection(ST_Buffer(geom::geography, :m)::geometry,"
        " (SELECT geom FROM division WHERE id = :d)), 15) FROM grid WHERE id = :g"),
        {"g": g["id"], "d": g["division_id"], "m": metres}).scalar_one())


def test_reshape_overlap_dry_run_is_the_409_with_geometry_and_trim_shows_the_clipped_pieces(as_user, session: Session) -> None:  # noqa: ANN001,E501
    planner = as_user("planner")
    g = _pick(session)
    shape = _grown(session, g, 30)
    tag = _etag(planner, g["id"])
    before = _state(session)
    r = planner.put(f"/grids/{g['id']}/geometry", params={"dry_run": "true"}, json={"geometry": shape},
                    headers={"If-Match": tag})
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json"), r.text
    conflicts = r.json()["conflicts"]
    assert g["ncode"] in [c["code"] for c in conflicts]
    assert all(c["area_m2"] > 0 and c["geometry"]["type"] in ("Polygon", "MultiPolygon") for c in conflicts)
    assert _state(session) == before

    dry, real = _dry_then_real(planner, session, "PUT", f"/grids/{g['id']}/geometry",
                               json_body={"geometry": shape, "overlap_mode": "trim"}, headers={"If-Match": tag})
    _same_outcome(dry, real)
    overlaps = [c for c in dry["clipped"] if c["why"] == "overlap"]
    assert overlaps and all(c["area_m2"] > 0 and c["geometry"]["type"] == "Polygon" for c in overlaps)
    # what was cut away is what the neighbours hold: about the overlap the 409 reported
    assert abs(sum(c["area_m2"] for c in overlaps) - sum(c["area_m2"] for c in conflicts)) \
        < 0.02 * sum(c["area_m2"] for c in conflicts)
    assert dry["grids"][0]["version"] == real["grids"][0]["version"] == int(tag.strip('"').split("v")[1]) + 1


def test_reshape_gap_dry_run_is_the_409_with_the_gap(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = _pick(session)
    shrunk = json.loads(session.execute(text(
        "SELECT ST_AsGeoJSON(ST_Difference(g.geom, ST_Buffer(n.geom::geography, 30)::geometry), 15)"
        " FROM grid g, grid n WHERE g.id = :g AND n.id = :n"), {"g": g["id"], "n": g["nid"]}).scalar_one())
    before = _state(session)
    r = planner.put(f"/grids/{g['id']}/geometry", params={"dry_run": "true"}, json={"geometry": shrunk},
                    headers={"If-Match": _etag(planner, g["id"])})
    assert r.status_code == 409, r.text
    gap = r.json()["gap"]
    assert gap["area_m2"] > 100 and gap["geometry"]["type"] == "MultiPolygon"
    assert _state(session) == before


def test_create_dry_run_clipped_to_the_parent(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    division, x, y = session.execute(text("""
        SELECT d.code, ST_X(ST_PointOnSurface(d.geom)), ST_Y(ST_PointOnSurface(d.geom))
          FROM division d JOIN grid g ON g.division_id = d.id WHERE d.level = 'village' ORDER BY d.code LIMIT 1""")).one()
    square = {"type": "Polygon", "coordinates": [[[x, y], [x + 0.2, y], [x + 0.2, y + 0.2], [x, y + 0.2], [x, y]]]}
    body = {"layer": "dedicated", "name": "大学城", "division": division, "geometry": square}
    before = _state(session)
    r = planner.post("/grids", params={"dry_run": "true"}, json=body)
    assert r.status_code == 409 and "outside its parent" in r.json()["detail"]
    assert _state(session) == before
    dry, real = _dry_then_real(planner, session, "POST", "/grids", json_body={**body, "parent_mode": "clip"},
                               status=201)
    _same_outcome(dry, real)
    new = dry["grids"][0]
    assert new["new"] and new["id"] is None and new["layer"] == "dedicated"
    outside = [c for c in dry["clipped"] if c["why"] == "parent"]
    drawn_m2 = session.execute(text("SELECT ST_Area(ST_GeomFromGeoJSON(:g)::geography)"),
                               {"g": json.dumps(square)}).scalar_one()
    assert outside and abs(sum(c["area_m2"] for c in outside) + new["area_m2"]
                           + sum(c["area_m2"] for c in dry["clipped"] if c["why"] == "overlap") - drawn_m2) \
        < 0.001 * drawn_m2


def test_dry_run_with_a_stale_etag_is_412(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    g = _pick(session)
    tag = _etag(planner, g["id"])
    assert planner.patch(f"/grids/{g['id']}", json={"notes": "n"}, headers={"If-Match": tag}).status_code == 200
    before = _state(session)
    r = planner.post(f"/grids/{g['id']}/retire", params={"dry_run": "true"}, json={}, headers={"If-Match": tag})
    assert r.status_code == 412 and g["code"] in r.json()["detail"]
    assert planner.post(f"/grids/{g['id']}/retire", params={"dry_run": "true"}, json={}).status_code == 428
    assert _state(session) == before


def test_fusion_apply_dry_run(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    report = planner.get("/fusion", params={"layers": "comprehensive,party"}).json()
    fix = sorted((s for s in report["suggestions"] if s["kind"] == "regroup"), key=lambda s: s["grid"])[0]
    headers = {"If-Match": ", ".join(sorted({a["etag"] for a in fix["affected"]}))}
    dry, real = _dry_then_real(planner, session, "POST", f"/fusion/suggestions/{fix['id']}/apply",
                               json_body={"reason": "双网合一"}, headers=headers)
    assert real["status"] == "applied" and dry["status"] == "applied"
    _same_outcome(dry, real)
    assert {g["code"] for g in dry["grids"]} == {a["code"] for a in fix["affected"]}
    _names_of_moves(dry)
