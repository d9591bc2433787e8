"""Multi-net fusion on the demo district: the generator's misalignments found, fixes applied safely."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

PARTY = ["comprehensive", "party"]


def _report(client: TestClient, **params: str) -> dict:
    r = client.get("/fusion", params={"layers": ",".join(PARTY), **params})
    assert r.status_code == 200, r.text
    return r.json()


def _regroups(report: dict) -> dict[str, dict]:
    return {s["grid"]: s for s in report["suggestions"] if s["kind"] == "regroup"}


def _if_match(suggestions: list[dict]) -> dict[str, str]:
    return {"If-Match": ", ".join(sorted({a["etag"] for s in suggestions for a in s["affected"]}))}


def _iou_with_whole_grids(session: Session, code: str) -> float:
    """IoU of a party grid with the comprehensive grids lying (98%+) inside it, measured in PostGIS."""
    return session.execute(text("""
        WITH p AS (SELECT geom FROM grid WHERE code = :c),
        w AS (SELECT ST_Union(g.geom) AS geom FROM grid g, p JOIN grid_layer l ON l.code = 'comprehensive'
               WHERE g.layer_id = l.id AND g.geom && p.geom
                 AND ST_Area(ST_Intersection(g.geom, p.geom)) >= 0.98 * ST_Area(g.geom))
        SELECT coalesce(ST_Area(ST_Intersection(p.geom, w.geom)) / ST_Area(ST_Union(p.geom, w.geom)), 0)
          FROM p, w"""), {"c": code}).scalar_one()


def test_every_deliberate_misalignment_is_found(as_user, district) -> None:  # noqa: ANN001
    report = _report(as_user("planner"))
    cut = {p["grids"][0] for p in report["problems"] if p["kind"] == "misalignment"}
    assert cut == set(district.misaligned_party_grids) and len(cut) == 16
    assert {p["kind"] for p in report["problems"]} == {"misalignment"}  # the generated layers are otherwise clean
    assert set(_regroups(report)) == cut
    assert report["townships"][0]["area_score"] <= report["townships"][-1]["area_score"]  # worst first
    assert 0.99 < report["score"]["area_score"] < 1
    # Emergency grids are made of whole villages in the demo: that rule holds.
    full = as_user("planner").get("/fusion").json()
    village_rule = next(c for c in full["containment"] if c["fine"] == "level:village")
    assert village_rule["nests"] and village_rule["units"] > 100


def test_applying_a_suggestion_aligns_the_grid_and_keeps_the_layer_clean(as_user, session: Session) -> None:  # noqa: ANN001,E501
    planner = as_user("planner")
    report = _report(planner)
    grid, fix = sorted(_regroups(report).items())[0]
    village = grid[:12]
    assert 0 < fix["iou_before"] <= fix["iou_after"] <= 1
    before = _iou_with_whole_grids(session, grid)
    r = planner.post(f"/fusion/suggestions/{fix['id']}/apply", json={"reason": "双网合一"}, headers=_if_match([fix]))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "applied" and {g["code"] for g in r.json()["grids"]} == {a["code"] for a in fix["affected"]}
    after = _iou_with_whole_grids(session, grid)
    assert before < after and after > 0.9999
    again = _report(planner, division=village)
    assert not [p for p in again["problems"] if set(p["grids"]) & {a["code"] for a in fix["affected"]}]
    topology = planner.get("/layers/party/topology", params={"division": village}).json()
    assert topology["problems"] == []  # no overlap or gap created
    # Households follow: every household of a moved comprehensive grid is in its new party grid.
    stray = session.execute(text("""
        SELECT count(*) FROM grid_membership c JOIN grid cg ON cg.id = c.grid_id
          JOIN grid_membership p ON p.kind = 'household' AND p.entity_id = c.entity_id AND p.layer_id = (
               SELECT id FROM grid_layer WHERE code = 'party')
          JOIN grid pg ON pg.id = p.grid_id
         WHERE c.kind = 'household' AND cg.code = ANY(:units) AND NOT ST_Covers(pg.geom, cg.geom)"""),
        {"units": [m["unit"] for m in fix["moves"]]}).scalar_one()
    assert stray == 0


def test_a_stale_suggestion_is_refused(as_user) -> None:  # noqa: ANN001
    planner = as_user("planner")
    fix = sorted(_regroups(_report(planner)).items())[0][1]
    other = fix["affected"][-1]
    r = planner.patch(f"/grids/{other['id']}", json={"notes": "edited meanwhile"}, headers={"If-Match": other["etag"]})
    assert r.status_code == 200, r.text
    r = planner.post(f"/fusion/suggestions/{fix['id']}/apply", headers=_if_match([fix]))
    assert r.status_code == 412, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    r = planner.post(f"/fusion/suggestions/{fix['id']}/apply")
    assert r.status_code == 428


def test_a_batch_is_all_or_nothing(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    fixes = [s for _, s in sorted(_regroups(_report(planner)).items())]
    versions = lambda: dict(session.execute(text("SELECT code, version FROM grid WHERE code = ANY(:c)"),  # noqa: E731
                                            {"c": [a["code"] for f in fixes for a in f["affected"]]}).all())
    start = versions()
    headers = _if_match(fixes)
    first = fixes[0]
    second = next(f for f in fixes if not {a["id"] for a in f["affected"]} & {a["id"] for a in first["affected"]})
    stale_tag = second["affected"][0]["etag"]
    stale = headers["If-Match"].replace(stale_tag, stale_tag[:-1] + "99\"")
    r = planner.post("/fusion/suggestions/apply", json={"suggestions": [first["id"], second["id"]]},
                     headers={"If-Match": stale})
    assert r.status_code == 412, r.text
    assert second["affected"][0]["code"] in r.json()["detail"]  # refused at the second, after the first was done
    assert versions() == start  # ... and the first was rolled back with it
    r = planner.post("/fusion/suggestions/apply", json={"suggestions": [f["id"] for f in fixes]}, headers=headers)
    assert r.status_code == 200, r.text
    statuses = [x["status"] for x in r.json()["results"]]
    assert statuses.count("applied") == 8 and statuses.count("superseded") == 8  # two suggestions per site
    left = _report(planner)
    assert not [p for p in left["problems"] if p["kind"] == "misalignment"]
    assert planner.get("/layers/party/topology").json()["problems"] == []


def test_exports(as_user) -> None:  # noqa: ANN001
    planner = as_user("planner")
    report = _report(planner)
    r = planner.get("/fusion", params={"layers": ",".join(PARTY)}, headers={"Accept": "application/geo+json"})
    assert r.headers["content-type"] == "application/geo+json"
    body = r.json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == len(report["problems"])
    assert body["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    r = planner.get("/fusion", params={"layers": ",".join(PARTY), "f": "csv"})
    assert r.headers["content-type"].startswith("text/csv") and r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][0] == "rank" and len(rows) == len(report["problems"]) + 1
    assert all(row[-1].startswith("regroup-") for row in rows[1:])


def test_pairs_give_shares_of_area_and_households(as_user, district) -> None:  # noqa: ANN001
    code = district.misaligned_party_grids[0]
    r = as_user("planner").get("/fusion/pairs", params={"a": "layer:party", "b": "layer:comprehensive",
                                                        "division": code[:12]})
    assert r.status_code == 200, r.text
    touches = {t["fine"]: t for g in r.json()["grids"] for t in g["touches"]}
    shares: dict[str, float] = {}
    for g in r.json()["grids"]:
        for t in g["touches"]:
            shares[t["fine"]] = shares.get(t["fine"], 0) + t["share_area"]
    assert all(abs(s - 1) < 1e-6 for s in shares.values())  # the party net covers every comprehensive grid
    assert any(0.02 < t["share_area"] < 0.98 for t in touches.values())


def test_rules_are_configuration(as_user) -> None:  # noqa: ANN001
    planner = as_user("planner")
    rules = planner.get("/fusion/rules").json()
    party = next(r for r in rules if r["fine"] == "layer:comprehensive" and r["coarse"] == "layer:party")
    r = planner.patch(f"/fusion/rules/{party['id']}", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert not [p for p in _report(planner)["problems"] if p["kind"] == "misalignment"]
    r = planner.patch(f"/fusion/rules/{party['id']}", json={"enabled": True, "min_share": 0.99})
    assert r.status_code == 422 and "min_share" in r.json()["detail"]
    r = planner.post("/fusion/rules", json={"fine": "layer:comprehensive", "coarse": "layer:party"})
    assert r.status_code == 409
    r = planner.post("/fusion/rules", json={"fine": "layer:dedicated", "coarse": "level:village"})
    assert r.status_code == 201 and r.json()["coarse"] == "level:village"
    assert as_user("viewer").patch(f"/fusion/rules/{party['id']}", json={"enabled": True}).status_code == 403


def test_bad_input_is_a_clear_422(as_user) -> None:  # noqa: ANN001
    planner = as_user("planner")
    for params, pointer in (({"layers": "nosuch"}, "layers"), ({"division": "12"}, "division"),
                            ({"f": "xml"}, "f")):
        r = planner.get("/fusion", params=params)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), params
        assert pointer in r.text
    r = planner.post("/fusion/suggestions/not-a-suggestion/apply", headers={"If-Match": '"g1v1"'})
    assert r.status_code == 422 and "not a suggestion id" in r.json()["detail"]
    r = planner.post("/fusion/rules", json={"fine": "layer:comprehensive", "coarse": "planet:mars"})
    assert r.status_code == 422 and r.json()["pointer"] == "coarse"
    r = planner.get("/fusion/pairs", params={"a": "layer:party", "b": "layer:party"})
    assert r.status_code == 422


def test_fusion_is_scoped(as_user, session: Session) -> None:  # noqa: ANN001
    assert as_user("worker1").get("/fusion").status_code == 404  # a grid is no division to analyse
    village = session.execute(text(
        "SELECT d.code FROM app_user u JOIN division d ON d.id = u.division_id WHERE u.username = 'head1'")).scalar_one()
    r = as_user("head1").get("/fusion")  # defaults to the caller's own village
    assert r.status_code == 200 and r.json()["division"] == village
    assert as_user("head1").get("/fusion", params={"division": village[:9] + "000"}).status_code == 404


def test_only_a_county_wide_planner_changes_rules(app, anonymous, session) -> None:  # noqa: ANN001
    from geo.access.permissions import Role
    from geo.access.security import create_user, issue_tokens

    town = session.execute(text("SELECT code FROM division WHERE level = 'township' ORDER BY code LIMIT 1")).scalar_one()
    user = create_user(session, username="town_planner", password="a-long-enough-password", role=Role.PLANNER,
                       division_code=town)
    session.flush()
    anonymous.headers["Authorization"] = f"Bearer {issue_tokens(user, app.state.token_settings)['access_token']}"
    rule = anonymous.get("/fusion/rules").json()[0]
    assert anonymous.patch(f"/fusion/rules/{rule['id']}", json={"enabled": False}).status_code == 403
    assert anonymous.post("/fusion/rules", json={"fine": "layer:dedicated", "coarse": "level:village"}
                          ).status_code == 403
    assert anonymous.get("/fusion/pairs", params={"a": "layer:party", "b": "layer:comprehensive"}).status_code == 200
