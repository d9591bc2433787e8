"""Visits 入户走访 and patrols 巡查 through the API, on the demo district: distances and the far flag on
real household geometry, territory, the visit status and the behind list, masking, and the purge."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from pyproj import Geod
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.spatial.crs import wgs84_to_gcj02
from geo.visits import retention

GEOD = Geod(ellps="WGS84")


@pytest.fixture
def home(session: Session) -> dict:
    """worker1's staff id, grid, and a household in that grid with its WGS84 point."""
    row = session.execute(text("""
        SELECT u.staff_id, u.grid_id, h.id AS household_id, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat
          FROM app_user u JOIN grid_membership m ON m.grid_id = u.grid_id AND m.kind = 'household'
          JOIN household h ON h.id = m.entity_id WHERE u.username = 'worker1' ORDER BY h.id LIMIT 1""")).mappings().one()
    return dict(row)


def _at(minutes_ago: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def _problem(r, status: int) -> dict:  # noqa: ANN001
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()


def test_distance_and_far_flag_on_real_geometry(as_user, home: dict, session: Session) -> None:  # noqa: ANN001
    phone = as_user("worker1")
    at = _at(1)
    r = phone.post("/visits", json={"household_id": home["household_id"], "lon": home["lon"], "lat": home["lat"],
                                    "accuracy_m": 6, "at": at, "note": "老人身体好"})
    assert r.status_code == 201, r.text
    assert r.json()["distance_m"] < 0.5 and r.json()["far"] is False and r.json()["staff_id"] == home["staff_id"]
    assert r.json()["grid_id"] == home["grid_id"] and r.json()["position_shown"]  # one's own position
    again = phone.post("/visits", json={"household_id": home["household_id"], "lon": home["lon"], "lat": home["lat"],
                                        "accuracy_m": 6, "at": at})
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"] and not again.json()["created"]
    # 450 m to the north-east, sent in GCJ-02 as a phone would: the distance is the spheroid's
    lon, lat, _ = GEOD.fwd(home["lon"], home["lat"], 45, 450)
    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    far = phone.post("/visits", json={"household_id": home["household_id"], "lon": glon, "lat": glat, "crs": "gcj02",
                                      "at": _at(2), "kind": "verify"})
    assert far.status_code == 201, far.text
    assert abs(far.json()["distance_m"] - 450) < 0.5 and far.json()["far"] is True  # flagged, not refused
    stored = session.execute(text("SELECT count(*), bool_or(far), max(distance_m) FROM visit WHERE household_id = :h"
                                  " AND staff_id = :s AND recorded_at > now() - interval '1 minute'"),
                             {"h": home["household_id"], "s": home["staff_id"]}).one()
    assert stored[0] == 2 and stored[1] is True and abs(stored[2] - 450) < 0.5


def test_bad_input_and_territory(as_user, home: dict, session: Session) -> None:  # noqa: ANN001
    before = session.execute(text("SELECT count(*) FROM visit")).scalar_one()
    outside = session.execute(text("""
        SELECT h.id, ST_X(h.geom), ST_Y(h.geom) FROM household h JOIN grid_membership m
            ON m.entity_id = h.id AND m.kind = 'household' AND m.layer_id = (SELECT layer_id FROM grid WHERE id = :g)
         WHERE m.grid_id <> :g ORDER BY h.id LIMIT 1"""), {"g": home["grid_id"]}).one()
    phone = as_user("worker1")
    p = _problem(phone.post("/visits", json={"household_id": outside[0], "lon": outside[1], "lat": outside[2]}), 404)
    assert "household" in p["detail"]
    p = _problem(phone.post("/visits", json={"household_id": home["household_id"], "lon": home["lon"],
                                             "lat": home["lat"], "note": "很" * 501}), 422)
    assert "note" in p["detail"]
    p = _problem(phone.post("/visits", json={"household_id": home["household_id"], "lon": 0, "lat": 0}), 422)
    assert "no fix" in p["detail"]
    p = _problem(phone.post("/visits", json={"household_id": home["household_id"], "lon": home["lon"],
                                             "lat": home["lat"], "kind": "party"}), 422)
    assert "kind" in p["detail"]
    p = _problem(phone.post("/visits", json={"household_id": home["household_id"], "lon": home["lon"],
                                             "lat": home["lat"], "at": _at(-60)}), 422)
    assert "future" in p["detail"]
    p = _problem(phone.post("/visits", json={"household_id": home["household_id"], "lon": home["lon"],
                                             "lat": home["lat"], "at": "1900-01-01T08:00:00+08:00"}), 422)
    assert "a year ago" in p["detail"]
    p = _problem(phone.post("/visits", json={"household_id": home["household_id"], "lon": -180, "lat": -90,
                                             "crs": "gcj02"}), 422)
    assert "only defined over China" in p["detail"]
    assert as_user("viewer").post("/visits", json={"household_id": home["household_id"], "lon": home["lon"],
                                                   "lat": home["lat"]}).status_code == 403
    _problem(as_user("worker1").get(f"/grids/{outside_grid(session, home)}/visit-status"), 404)
    assert session.execute(text("SELECT count(*) FROM visit")).scalar_one() == before  # nothing stored half-way


def outside_grid(session: Session, home: dict) -> int:
    return session.execute(text("SELECT id FROM grid WHERE layer_id = (SELECT layer_id FROM grid WHERE id = :g)"
                                " AND id <> :g ORDER BY id LIMIT 1"), {"g": home["grid_id"]}).scalar_one()


def test_visit_status_and_behind_list_follow_a_visit(as_user, home: dict, session: Session) -> None:  # noqa: ANN001
    status = as_user("worker1").get(f"/grids/{home['grid_id']}/visit-status")
    assert status.status_code == 200, status.text
    features = status.json()["features"]
    assert features and status.json()["rule"]["target_days"] == 30 and "30天" in status.json()["rule"]["text"]
    assert all(set(f["properties"]) == {"id", "address", "last_visit_at", "days_since", "target_days", "behind"}
               for f in features)  # no names, no phones
    late = next(f for f in features if f["properties"]["behind"])
    head_before = as_user("head1").get("/visits/behind?limit=1000").json()
    assert head_before["behind"] >= 1 and late["id"] in [h["id"] for h in head_before["households"]]
    mine = [w for w in head_before["workers"] if w["staff_id"] == home["staff_id"]]
    assert mine and mine[0]["grid_id"] == home["grid_id"] and "*" in mine[0]["name"]  # masked name
    lon, lat = late["geometry"]["coordinates"]
    r = as_user("worker1").post("/visits", json={"household_id": late["id"], "lon": lon, "lat": lat})
    assert r.status_code == 201, r.text
    after = {f["id"]: f["properties"] for f in as_user("worker1").get(f"/grids/{home['grid_id']}/visit-status")
             .json()["features"]}
    assert after[late["id"]]["days_since"] == 0 and after[late["id"]]["behind"] is False
    head_after = as_user("head1").get("/visits/behind?limit=1000").json()
    assert head_after["behind"] == head_before["behind"] - 1
    assert late["id"] not in [h["id"] for h in head_after["households"]]
    assert [w for w in head_after["workers"] if w["staff_id"] == home["staff_id"]][0]["behind"] == mine[0]["behind"] - 1
    # the rule, computed independently: a household's target is 7 days when it needs care, else 30
    care = session.execute(text("""
        SELECT h.id FROM household h JOIN grid_membership m ON m.entity_id = h.id AND m.kind = 'household'
         WHERE m.grid_id = :g AND (cardinality(h.needs_help) > 0 OR h.id IN (SELECT head_household_id
               FROM linked_household_group))"""), {"g": home["grid_id"]}).scalars().all()
    assert {i for i, p in after.items() if p["target_days"] == 7} == set(care)
    division = session.execute(text("SELECT d.code FROM division d JOIN grid g ON g.division_id <> d.id"
                                    " WHERE d.level = 'village' AND g.id = :g ORDER BY d.code LIMIT 1"),
                               {"g": home["grid_id"]}).scalar_one()
    _problem(as_user("worker1").get(f"/visits/behind?division={division}"), 404)  # outside their grid


def test_positions_masked_for_others_and_audited_unmasked(as_user, home: dict, session: Session) -> None:  # noqa: ANN001
    as_user("worker1").post("/visits", json={"household_id": home["household_id"], "lon": home["lon"],
                                             "lat": home["lat"], "note": "回电13812345678"})
    listed = as_user("head1").get(f"/visits?household={home['household_id']}").json()["visits"]
    assert listed and all("position" not in v and not v["position_shown"] for v in listed)
    assert "13812345678" not in str(listed) and "138****5678" in listed[0]["note"]
    assert as_user("head1").get(f"/visits?household={home['household_id']}&unmasked=true").status_code == 422
    full = as_user("head1").get(f"/visits?household={home['household_id']}&unmasked=true&purpose=核查走访真实性")
    assert full.status_code == 200 and abs(full.json()["visits"][0]["position"]["lon"] - home["lon"]) < 1e-9
    assert session.execute(text("SELECT count(*) FROM audit_log WHERE action = 'pii.read' AND entity = 'visit'"
                                " AND username = 'head1'")).scalar_one() == 1
    assert as_user("planner").get("/visits?unmasked=true&purpose=看看位置").status_code == 403


def test_patrol_track_checkin_end(as_user, home: dict, session: Session) -> None:  # noqa: ANN001
    phone = as_user("worker1")
    start = phone.post("/patrols", json={"at": _at(10)})
    assert start.status_code == 201, start.text
    pid = start.json()["id"]
    assert start.json()["grid_id"] == home["grid_id"]  # the grid they serve
    pts = [GEOD.fwd(home["lon"], home["lat"], 90, d)[:2] for d in (0, 100, 250)]
    batch = [{"lon": x, "lat": y, "accuracy_m": 5, "at": _at(9 - i)} for i, (x, y) in enumerate(pts)]
    r = phone.post(f"/patrols/{pid}/track", json={"points": batch})
    assert r.status_code == 200 and r.json()["accepted"] == 3, r.text
    retry = phone.post(f"/patrols/{pid}/track", json={"points": batch[::-1]})
    assert retry.json()["accepted"] == 0 and retry.json()["duplicates"] == 3 and retry.json()["points"] == 3
    bad = _problem(phone.post(f"/patrols/{pid}/track", json={"points": [{**batch[0], "at": _at(60)}]}), 422)
    assert bad["detail"].startswith("point 0") and "before the patrol started" in bad["detail"]
    at_c = _at(8)
    checkin = {"lon": pts[1][0], "lat": pts[1][1], "at": at_c, "household_id": home["household_id"],
               "place": "村委会门口"}
    c = phone.post(f"/patrols/{pid}/checkins", json=checkin)
    assert c.status_code == 201 and c.json()["position"] is not None, c.text
    again = phone.post(f"/patrols/{pid}/checkins", json=checkin)  # a retry: stored once
    assert again.status_code == 200 and again.json()["id"] == c.json()["id"]
    assert as_user("worker2").post(f"/patrols/{pid}/track", json={"points": batch}).status_code == 404
    phone = as_user("worker1")
    ended = phone.post(f"/patrols/{pid}/end", json={})
    assert ended.status_code == 200, ended.text
    assert abs(ended.json()["length_m"] - 250) < 0.5 and ended.json()["track_shown"]
    assert ended.json()["track"]["type"] == "LineString" and len(ended.json()["track_points"]) == 3
    assert phone.post(f"/patrols/{pid}/end", json={}).json()["ended_at"] == ended.json()["ended_at"]  # once
    other = as_user("head1").get(f"/patrols/{pid}").json()
    assert other["track_shown"] is False and "track" not in other and "position" not in other["checkins"][0]
    assert other["length_m"] == ended.json()["length_m"] and other["points"] == 3


def test_purge_clears_positions_keeps_the_record(as_user, home: dict, session: Session) -> None:  # noqa: ANN001
    phone = as_user("worker1")
    v = phone.post("/visits", json={"household_id": home["household_id"], "lon": home["lon"] + 0.001,
                                    "lat": home["lat"], "at": _at(5)}).json()
    pid = phone.post("/patrols", json={"at": _at(5)}).json()["id"]
    phone.post(f"/patrols/{pid}/track", json={"points": [{"lon": home["lon"], "lat": home["lat"], "at": _at(4)}]})
    phone.post(f"/patrols/{pid}/checkins", json={"lon": home["lon"], "lat": home["lat"], "at": _at(4)})
    # time passes: 40 days
    for table, col in (("visit", "at"), ("patrol_point", "at"), ("patrol_checkin", "at"), ("patrol", "started_at")):
        session.execute(text(f"UPDATE {table} SET {col} = {col} - interval '40 days' WHERE "
                             + ("id = :v" if table == "visit" else "patrol_id = :p" if table != "patrol" else "id = :p")),
                        {"v": v["id"], "p": pid})
    done = retention.purge(session, retention_days=30)
    assert done.visit_positions >= 1 and done.track_points >= 1 and done.checkin_positions >= 1
    row = session.execute(text("SELECT position, accuracy_m, distance_m, far FROM visit WHERE id = :v"),
                          {"v": v["id"]}).one()
    assert row.position is None and row.accuracy_m is None and abs(row.distance_m - v["distance_m"]) < 0.1
    assert session.execute(text("SELECT count(*) FROM patrol_point WHERE patrol_id = :p"), {"p": pid}).scalar_one() == 0
    assert session.execute(text("SELECT count(*) FROM visit WHERE position IS NOT NULL AND at < :c"),
                           {"c": done.cutoff}).scalar_one() == 0
    # a visit logged late, past the retention already, is stored without the position
    late = phone.post("/visits", json={"household_id": home["household_id"], "lon": home["lon"], "lat": home["lat"],
                                       "at": (datetime.now(UTC) - timedelta(days=45)).isoformat()})
    assert late.status_code == 201 and late.json()["position"] is None and late.json()["distance_m"] < 0.5


def test_purge_command_as_a_user_runs_it(small: Engine) -> None:
    """``gridmap positions purge`` (a subprocess, committing on its own database) clears visits' positions too."""
    with small.begin() as c:
        vid = c.execute(text("""
            INSERT INTO visit (county_code, household_id, staff_id, at, position, accuracy_m, distance_m, far)
            SELECT h.county_code, h.id, (SELECT min(id) FROM staff), now() - interval '20 years', h.geom, 5, 0, false
              FROM household h ORDER BY h.id LIMIT 1 RETURNING id""")).scalar_one()
    env = {**os.environ, "GRIDMAP_DATABASE_URL": small.url.render_as_string(hide_password=False)}
    r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "gridmap"), "positions", "purge", "--days",
                        "3650"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "cleared 1 visit positions" in r.stdout
    with small.connect() as c:
        assert c.execute(text("SELECT position IS NULL AND distance_m = 0 FROM visit WHERE id = :v"),
                         {"v": vid}).scalar_one()
