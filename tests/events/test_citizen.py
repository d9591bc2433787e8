"""The citizen's public endpoints (/citizen/*): address matching as people write, nearby reports and
joining one, the report with its tracking number, the status in plain Chinese; no personal data."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.events.addresses import chinese_number, normalise, split_landmark
from geo.spatial.crs import Crs, from_wgs84

PERSONAL = re.compile(r"1[3-9]\d{9}|\d{17}[\dXx]")  # a phone or an ID number anywhere in an answer


def _household(session: Session) -> dict:
    """A household of a village whose name is unique, with its address split into county+township, village, rest."""
    row = session.execute(text("""
        SELECT h.id, h.address, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, v.id AS village_id, v.name AS village,
               t.name AS township
        FROM household h JOIN division v ON v.id = h.division_id JOIN division t ON t.id = v.parent_id
        WHERE h.address ~ '\\d+组1[0-9]号$'
          AND (SELECT count(*) FROM division o WHERE o.name = v.name) = 1
        ORDER BY h.id LIMIT 1""")).mappings().one()
    return dict(row)


def _county_name(session: Session) -> str:
    return session.execute(text("SELECT name FROM division WHERE level = 'county' ORDER BY code LIMIT 1")).scalar_one()


def match(client: TestClient, address: str):  # noqa: ANN201
    return client.post("/citizen/address-match", json={"address": address})


def test_numerals_are_read_by_cn2an_and_landmarks_split_off() -> None:
    assert [chinese_number(s) for s in ("二十三", "十一", "一百零五", "三", "2十3")] == [23, 11, 105, 3, 23]
    assert normalise("花岭社区十一组二十三号") == "花岭社区11组23号"
    assert normalise("三岔村3组") == "三岔村3组"  # a place name's own numeral stays
    assert split_landmark("花岭社区1组门口") == ("花岭社区1组", "门口")
    assert split_landmark("花岭社区1组") == ("花岭社区1组", None)


def test_county_kept_township_left_out_and_mixed_numerals_find_the_household(
        anonymous: TestClient, session: Session) -> None:
    h = _household(session)
    group, number = re.search(r"(\d+)组(\d+)号$", h["address"]).groups()
    spoken = f"{_county_name(session)}{h['village']}{group}组{'十' + ('' if number == '10' else '一二三四五六七八九'[int(number) - 11])}号"
    r = match(anonymous, spoken)
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["level"] == "house" and m["quality"] in ("normalised", "anchored") and m["score"] >= 0.95
    assert m["usable"] and m["place"] == f"{h['township']}{h['village']}"  # never the house number back
    assert abs(m["lon"] - h["lon"]) <= 0.0006 and abs(m["lat"] - h["lat"]) <= 0.0006  # ~100 m, not the door
    assert "household_id" not in m and h["address"] not in r.text


def test_a_landmark_at_a_group_is_the_groups_place_with_its_quality(anonymous: TestClient, session: Session) -> None:
    h = _household(session)
    group = re.search(r"(\d+)组\d+号$", h["address"]).group(1)
    r = match(anonymous, f"{h['village']}{group}组门口")
    assert r.status_code == 200, r.text
    m = r.json()
    assert (m["quality"], m["level"], m["near"], m["quality_zh"]) == ("group", "group", "门口", "匹配到村民小组")
    assert m["place"] == f"{h['township']}{h['village']}{group}组" and m["usable"] and 0 < m["score"] < 0.95
    centre = session.execute(text("""SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Collect(geom)) c
        FROM household WHERE division_id = :v AND address LIKE '%' || :g) s"""),
                             {"v": h["village_id"], "g": f"{h['village']}{group}组%"}).one()
    assert abs(m["lon"] - centre[0]) < 0.001 and abs(m["lat"] - centre[1]) < 0.001
    village = match(anonymous, f"{h['village']}村委会旁边").json()
    assert village["level"] == "village" and village["usable"]
    township = match(anonymous, f"{h['township']}政府对面").json()
    assert township["level"] == "township" and not township["usable"] and township["score"] < village["score"]


def test_a_report_by_a_landmark_address_is_placed_at_the_group(anonymous: TestClient, session: Session) -> None:
    h = _household(session)
    group = re.search(r"(\d+)组\d+号$", h["address"]).group(1)
    r = anonymous.post("/citizen/reports", json={
        "category": "environment.garbage", "description": "垃圾没人清", "location": {"address": f"{h['village']}{group}组门口"}})
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["location"]["match_quality"] == "group" and got["location"]["match_score"] == 0.8
    stored = session.execute(text("SELECT household_id, address FROM event WHERE id = :e"), {"e": got["number"]}).one()
    assert stored.household_id is None and stored.address == f"{h['village']}{group}组门口"
    r = anonymous.post("/citizen/reports", json={"category": "environment.garbage",
                                                 "location": {"address": f"{h['township']}政府对面"}})
    assert r.status_code == 422 and r.json()["pointer"] == "address" and r.json()["match"]["level"] == "township"
    assert session.execute(text("SELECT count(*) FROM event WHERE address LIKE '%政府对面'")).scalar() == 0


def _point(session: Session) -> tuple[float, float]:
    return session.execute(text("""SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM division
        WHERE level = 'village' ORDER BY code LIMIT 1) s""")).one()


def test_report_track_join_and_staff_actions_in_plain_chinese(
        anonymous: TestClient, as_user, session: Session) -> None:  # noqa: ANN001
    lon, lat = _point(session)
    gx, gy = from_wgs84(lon, lat, Crs.GCJ02)  # a phone's map app: GCJ-02
    body = {"category": "environment.garbage", "description": "垃圾堆了三天，电话13812345678",
            "location": {"lon": float(gx), "lat": float(gy), "crs": "gcj02"}, "phone": "13912345678"}
    first = anonymous.post("/citizen/reports", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    receipt = first.json()
    assert receipt["number"] == receipt["id"] and len(receipt["token"]) == 36 and receipt["joined"] is None
    assert receipt["track_url"] == "/report/track#" + receipt["token"]
    assert not PERSONAL.search(first.text)
    again = anonymous.post("/citizen/reports", json=body, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["number"] == receipt["number"]
    stored = session.execute(text("SELECT ST_X(geom), ST_Y(geom), source FROM event WHERE id = :e"),
                             {"e": receipt["number"]}).one()
    assert abs(stored[0] - lon) < 1e-6 and abs(stored[1] - lat) < 1e-6 and stored[2] == "web"

    near = anonymous.get("/citizen/nearby", params={"category": "environment.garbage", "lon": lon, "lat": lat})
    assert near.status_code == 200, near.text
    offered = {r["id"]: r for r in near.json()["reports"]}
    assert receipt["number"] in offered and not PERSONAL.search(near.text)
    mine = offered[receipt["number"]]
    assert mine["me_too"] == 0 and mine["distance_m"] % 50 == 0 and mine["lon"] == round(mine["lon"], 3)
    other = session.execute(text("""SELECT code FROM event_category c WHERE code <> 'environment.garbage'
        AND NOT EXISTS (SELECT 1 FROM event_category k WHERE k.parent_code = c.code) ORDER BY code LIMIT 1""")).scalar()
    elsewhere = anonymous.get("/citizen/nearby", params={"category": other, "lon": lon, "lat": lat}).json()["reports"]
    assert receipt["number"] not in {r["id"] for r in elsewhere}  # another category is another matter

    joined = anonymous.post("/citizen/reports", json={**body, "description": "我也看到了", "join": receipt["number"]})
    assert joined.status_code == 201, joined.text
    assert joined.json()["joined"] == {"joined": receipt["number"], "me_too": 1}
    far = anonymous.post("/citizen/reports", json={"category": other, "location": {"lon": lon, "lat": lat},
                                                   "join": receipt["number"]})
    assert far.status_code == 422 and far.json()["pointer"] == "join"

    track = anonymous.get(f"/citizen/reports/{receipt['token']}")
    assert track.status_code == 200 and track.headers["cache-control"] == "no-store"
    t = track.json()
    assert (t["status"], t["status_zh"], t["reporters"]) == ("reported", "已上报，待受理", 2)
    assert [s["text"] for s in t["steps"]] == ["您的报告已提交"] and t["due_at"]
    follower = anonymous.get(f"/citizen/reports/{joined.json()['token']}").json()
    assert follower["merged_into"] == receipt["number"] and follower["status_zh"] == "已上报，待受理"

    staff = as_user("admin")
    assert staff.post(f"/events/{receipt['number']}/accept", json={"note": "网格员张三已核实"}).status_code == 200
    del staff.headers["Authorization"]
    t = anonymous.get(f"/citizen/reports/{receipt['token']}").json()
    assert t["status_zh"] == "已受理" and [s["text"] for s in t["steps"]] == ["您的报告已提交", "已受理"]
    assert "张三" not in str(t) and "admin" not in str(t) and not PERSONAL.search(str(t))
    assert anonymous.get("/citizen/reports/not-a-token").status_code == 404
    assert anonymous.get("/citizen/reports/00000000-0000-0000-0000-000000000000").status_code == 404


def test_bad_reports_are_4xx_and_store_nothing(anonymous: TestClient, session: Session) -> None:
    lon, lat = _point(session)
    before = session.execute(text("SELECT count(*) FROM event")).scalar()
    for body, pointer in (
            ({"category": "environment", "location": {"lon": lon, "lat": lat}}, "category"),
            ({"category": "environment.garbage", "location": {}}, "location"),
            ({"category": "environment.garbage", "location": {"lon": 0.0, "lat": 0.0}}, "location"),
            ({"category": "environment.garbage", "location": {"lon": lon, "lat": lat}, "photo_ids": ["a", "a"]},
             "photo_ids")):
        r = anonymous.post("/citizen/reports", json=body)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
        assert r.json().get("pointer") == pointer, (body, r.json())
    r = anonymous.post("/citizen/reports", json={"category": "environment.garbage", "location": {"lon": lon, "lat": lat},
                                                 "photo_ids": ["1", "2", "3", "4", "5"]})
    assert r.status_code == 422
    assert session.execute(text("SELECT count(*) FROM event")).scalar() == before


def test_places_and_categories_need_no_account(anonymous: TestClient, session: Session) -> None:
    places = anonymous.get("/citizen/places")
    assert places.status_code == 200
    levels = {f["properties"]["level"] for f in places.json()["features"]}
    assert levels == {"township", "village"}
    assert len(places.json()["features"]) == session.execute(
        text("SELECT count(*) FROM division WHERE level IN ('township', 'village')")).scalar()
    assert anonymous.get("/event-categories").status_code == 200


def test_control_characters_are_a_422_naming_the_field(anonymous: TestClient, session: Session) -> None:
    lon, lat = _point(session)
    r = match(anonymous, "花岭\x00村")
    assert r.status_code == 422 and r.json()["pointer"] == "address"
    r = anonymous.get("/citizen/nearby", params={"category": "environment\x00", "lon": lon, "lat": lat})
    assert r.status_code == 422 and r.json()["pointer"] == "category"
