"""The emergency-response API end to end: a phone reports, dispatch finds, the command centre looks around."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.spatial.crs import wgs84_to_gcj02


@pytest.fixture
def worker(session: Session) -> dict:
    """worker1's staff record and a household's place in their grid (WGS84 and GCJ-02)."""
    staff_id, lon, lat = session.execute(text("""
        SELECT u.staff_id, ST_X(h.geom), ST_Y(h.geom) FROM app_user u
          JOIN grid_membership m ON m.grid_id = u.grid_id AND m.kind = 'household'
          JOIN household h ON h.id = m.entity_id
         WHERE u.username = 'worker1' ORDER BY h.id LIMIT 1""")).one()
    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    session.execute(text("UPDATE staff SET availability = 'available' WHERE id = :s"), {"s": staff_id})
    return {"id": staff_id, "lon": lon, "lat": lat, "glon": glon, "glat": glat}


def _problem(r) -> dict:  # noqa: ANN001
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()


def test_phone_reports_in_gcj02_and_dispatch_finds_it(as_user, worker: dict, session: Session) -> None:  # noqa: ANN001
    phone = as_user("worker1")
    r = phone.post("/staff/me/position", json={"lon": worker["glon"], "lat": worker["glat"], "crs": "gcj02",
                                               "accuracy_m": 8})
    assert r.status_code == 200, r.text
    assert r.json()["moved"] and abs(r.json()["current"]["lon"] - worker["lon"]) < 1e-8
    q = f"/responders/nearest?lon={worker['glon']}&lat={worker['glat']}&crs=gcj02&k=3"
    found = as_user("emergency").get(q).json()["responders"]
    assert found[0]["id"] == worker["id"] and found[0]["distance_m"] == 100  # in 100 m steps
    assert found[0]["position_coarsened"] and "****" in found[0]["phone"]  # emergency has no pii:read
    full = as_user("admin").get(q).json()["responders"][0]
    assert "position_coarsened" not in full and abs(full["lon"] - worker["lon"]) < 1e-8 and full["distance_m"] < 0.01
    assert session.execute(text("SELECT count(*) FROM audit_log WHERE action = 'pii.read' AND entity = 'staff'"
                                " AND username = 'admin'")).scalar_one() >= 1  # exact positions read: audited
    assert as_user("viewer").get(q).status_code == 403


def test_batch_out_of_order_and_its_errors(as_user, worker: dict, session: Session) -> None:  # noqa: ANN001
    phone = as_user("worker1")
    now = datetime.now(UTC)
    fixes = [{"lon": worker["lon"], "lat": worker["lat"], "at": (now - timedelta(minutes=m)).isoformat()}
             for m in (5, 1, 9)]
    r = phone.post("/staff/me/positions", json={"fixes": fixes})
    assert r.status_code == 200 and r.json()["accepted"] == 3
    assert r.json()["current"]["at"].startswith((now - timedelta(minutes=1)).isoformat()[:16])
    before = session.execute(text("SELECT count(*) FROM staff_position WHERE staff_id = :s"),
                             {"s": worker["id"]}).scalar_one()
    p = _problem(phone.post("/staff/me/positions", json={"fixes": [fixes[0], {**fixes[1], "crs": "wgs85"}]}))
    assert p["errors"][0]["pointer"] == "body/fixes/1/crs"
    p = _problem(phone.post("/staff/me/positions", json={"fixes": [fixes[0], fixes[1], {**fixes[2], "lat": 91}]}))
    assert p["pointer"] == "/fixes/2/lat" and "fix 2" in p["detail"]
    future = (now + timedelta(minutes=30)).isoformat()
    assert _problem(phone.post("/staff/me/position", json={"lon": 106.6, "lat": 26.4, "at": future}))["pointer"] == "/at"
    too_many = {"fixes": [fixes[0]] * 501}
    assert _problem(phone.post("/staff/me/positions", json=too_many))["pointer"] == "/fixes"
    after = session.execute(text("SELECT count(*) FROM staff_position WHERE staff_id = :s"),
                            {"s": worker["id"]}).scalar_one()
    assert after == before  # nothing stored half-way
    r = as_user("admin").post("/staff/me/position", json={"lon": 106.6, "lat": 26.4})
    assert r.status_code == 404 and "not linked" in r.json()["detail"]


def test_availability_by_self_and_by_dispatch(as_user, worker: dict, session: Session) -> None:  # noqa: ANN001
    assert as_user("worker1").put("/staff/me/availability", json={"availability": "busy"}).json()["availability"] \
        == "busy"
    r = as_user("emergency").put(f"/staff/{worker['id']}/availability", json={"availability": "on_duty"})
    assert r.status_code == 200 and r.json()["previous"] == "busy"
    assert as_user("planner").put(f"/staff/{worker['id']}/availability",
                                  json={"availability": "busy"}).status_code == 403
    outside = session.execute(text("""
        SELECT s.id FROM staff s JOIN app_user u ON u.username = 'emergency'
         WHERE s.division_id <> u.division_id AND s.role = 'emergency_team' ORDER BY s.id LIMIT 1""")).scalar_one()
    assert as_user("emergency").put(f"/staff/{outside}/availability",
                                    json={"availability": "busy"}).status_code == 404
    assert _problem(as_user("worker1").put("/staff/me/availability", json={"availability": "asleep"}))
    who = session.execute(text("SELECT username, detail->>'by' FROM audit_log WHERE action = 'staff.availability'"
                               " AND entity_id = :s ORDER BY id"), {"s": str(worker["id"])}).all()
    assert [tuple(w) for w in who] == [("worker1", "self"), ("emergency", "dispatch")]


def test_event_responders_own_grid_first(as_user, session: Session) -> None:  # noqa: ANN001
    event_id, grid = session.execute(text("""
        SELECT m.entity_id, m.grid_id FROM grid_membership m JOIN grid_layer l ON l.id = m.layer_id
         WHERE m.kind = 'event' AND l.code = 'comprehensive' ORDER BY m.entity_id LIMIT 1""")).one()
    session.execute(text("UPDATE staff SET position_at = now(), position = home, availability = 'available'"))
    r = as_user("admin").get(f"/events/{event_id}/responders?k=5")
    assert r.status_code == 200
    rows = r.json()["responders"]
    flags = [x["own_grid"] for x in rows]
    assert flags == sorted(flags, reverse=True) and flags[0]
    grids = set(session.execute(text("SELECT grid_id FROM grid_membership WHERE kind = 'event' AND entity_id = :e"),
                                {"e": event_id}).scalars())
    assert grid in grids
    assert all((x["grid_id"] in grids) == x["own_grid"] for x in rows)
    assert as_user("admin").get("/events/99999999/responders").status_code == 404


def test_around_and_its_scope(as_user, worker: dict, session: Session) -> None:  # noqa: ANN001
    q = f"/around?lon={worker['lon']}&lat={worker['lat']}&radius=400&limit=5"
    body = as_user("worker1").get(q).json()
    assert body["households"]["count"] > 0 and body["grids"] and "cameras" in body and "events" in body
    assert all("*" in h["contact"]["name"] for h in body["households"]["items"] if h["contact"])
    assert as_user("viewer").get(q).status_code == 403
    far = session.execute(text("""
        SELECT ST_X(ST_PointOnSurface(d.geom)), ST_Y(ST_PointOnSurface(d.geom)) FROM division d
          JOIN app_user u ON u.username = 'emergency' WHERE d.level = 'township' AND d.id <> u.division_id
         ORDER BY d.code DESC LIMIT 1""")).one()
    assert as_user("emergency").get(f"/around?lon={far[0]}&lat={far[1]}").status_code == 404
    assert as_user("admin").get(f"/around?lon={far[0]}&lat={far[1]}").status_code == 200


def test_rollcall(as_user, worker: dict, session: Session) -> None:  # noqa: ANN001
    as_user("worker1").post("/staff/me/position", json={"lon": worker["lon"], "lat": worker["lat"]})
    grid = session.execute(text("""
        SELECT g.id FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'emergency'
         WHERE ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"""),
        {"lon": worker["lon"], "lat": worker["lat"]}).scalar_one()
    body = as_user("emergency").get(f"/grids/{grid}/rollcall?within_m=500").json()
    me = next(r for r in body["responders"] if r["id"] == worker["id"])
    assert me["distance_m"] == 0 and me["inside"] and not me["stale"]
    assert me["position_coarsened"] and "****" in me["phone"]  # emergency has no pii:read
    assert [r["distance_m"] for r in body["responders"]] == sorted(r["distance_m"] for r in body["responders"])
    assert all(r["distance_m"] <= 500 for r in body["responders"])
    hh = session.execute(text("SELECT count(*) FROM grid_membership WHERE grid_id = :g AND kind = 'household'"),
                         {"g": grid}).scalar_one()
    assert body["households"]["count"] == hh
    assert body["households"]["needs_help"] == []  # who needs help: counted, listed only with pii:read
    assert body["responders_total"] == sum(body["responders_by_state"].values()) >= len(body["responders"])
    one = as_user("admin").get(f"/grids/{grid}/rollcall?within_m=5000&limit=1").json()
    assert len(one["responders"]) == 1 and one["truncated"] == (one["responders_total"] > 1)
    assert one["responders_total"] >= body["responders_total"]  # counted in full, not from the listed page
    comprehensive = session.execute(text("SELECT grid_id FROM app_user WHERE username = 'worker1'")).scalar_one()
    assert "emergency grids" in _problem(as_user("admin").get(f"/grids/{comprehensive}/rollcall"))["detail"]
    _problem(as_user("admin").get(f"/grids/{grid}/rollcall?within_m=-1"))


def test_position_history_masking(as_user, worker: dict) -> None:  # noqa: ANN001
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    fixes = [{"lon": worker["lon"], "lat": worker["lat"], "at": (now - timedelta(minutes=m)).isoformat()}
             for m in (3, 2, 1)]  # a masked cell needs at least 3 fixes
    assert as_user("worker1").post("/staff/me/positions", json={"fixes": fixes}).json()["accepted"] == 3
    again = as_user("worker1").post("/staff/me/positions", json={"fixes": fixes}).json()
    assert again["accepted"] == 0 and again["duplicates"] == 3  # a re-sent buffer is not stored twice
    coarse = as_user("emergency").get(f"/staff/{worker['id']}/positions").json()
    assert coarse["masked"] and coarse["fixes"] >= 3 and "at" not in coarse["cells"][0]
    assert as_user("emergency").get(f"/staff/{worker['id']}/positions?unmasked=true&purpose=rescue").status_code \
        == 403
    full = as_user("head1").get(f"/staff/{worker['id']}/positions?unmasked=true&purpose=rescue+work").json()
    assert not full["masked"] and full["fixes"][-1]["lon"] == pytest.approx(worker["lon"])


@pytest.mark.parametrize("url", [
    "/responders/nearest?lon=106.6&lat=26.4&k=0",
    "/responders/nearest?lon=106.6&lat=26.4&k=101",
    "/responders/nearest?lon=206.6&lat=26.4",
    "/responders/nearest?lon=106.6&lat=26.4&crs=gcj03",
    "/responders/nearest?lon=106.6&lat=26.4&role=king",
    "/responders/nearest?lon=106.6&lat=26.4&max_m=0",
    "/around?lon=106.6&lat=26.4&radius=0",
    "/around?lon=106.6&lat=26.4&radius=50000",
    "/around?lon=nan&lat=26.4",
])
def test_bad_queries_are_422_problems(client: TestClient, url: str) -> None:
    p = _problem(client.get(url))
    assert p["errors"][0]["where"].startswith("query parameter")
