"""POST /events: every way of saying where, routing to the right person, bad input."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.spatial.crs import Crs, from_wgs84


def interior_point(session: Session, *, with_worker: bool = True) -> dict:
    """A point deep inside a comprehensive grid (≥ 150 m from its edge), its grid and its grid worker."""
    row = session.execute(text("""
        SELECT ST_X(p) AS lon, ST_Y(p) AS lat, g.id AS grid_id, g.code,
               (SELECT min(s.id) FROM staff s WHERE s.grid_id = g.id AND s.role = 'grid_worker') AS worker
        FROM (SELECT g.*, ST_PointOnSurface(g.geom) AS p FROM grid g
              JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive') g
        WHERE ST_Distance(p::geography, ST_Boundary(g.geom)::geography) > 150
          AND (SELECT count(*) FROM staff s WHERE s.grid_id = g.id AND s.role = 'grid_worker') > 0
        ORDER BY g.code LIMIT 1""")).mappings().one()
    return dict(row)


def report(client: TestClient, location: dict, **extra: object):  # noqa: ANN201
    body = {"category": "environment.garbage", "description": "垃圾堆放在路边", "location": location, **extra}
    return client.post("/events", json=body, headers=extra.pop("headers", None) if "headers" in extra else None)


@pytest.mark.parametrize("crs", list(Crs))
def test_a_point_in_any_datum_lands_in_the_same_grid_with_its_worker(
        client: TestClient, session: Session, crs: Crs) -> None:
    p = interior_point(session)
    x, y = from_wgs84(p["lon"], p["lat"], crs)
    r = report(client, {"lon": float(x), "lat": float(y), "crs": crs.value})
    assert r.status_code == 201, r.text
    ev = r.json()
    assert ev["grids"]["comprehensive"] == p["code"]
    assert set(ev["grids"]) >= {"comprehensive", "emergency"}  # every layer that covers the point
    assert ev["assignee"] == {"kind": "staff", "id": p["worker"], "name": ev["assignee"]["name"],
                              "role": "grid_worker"}
    assert ev["routed_to"] == "grid_worker" and ev["status"] == "reported"
    assert abs(ev["location"]["lon"] - p["lon"]) < 1e-7 and abs(ev["location"]["lat"] - p["lat"]) < 1e-7
    assert r.headers["location"] == f"/events/{ev['id']}"
    stored = session.execute(text("SELECT category, due_at - reported_at FROM event WHERE id = :i"),
                             {"i": ev["id"]}).one()
    assert stored[0] == "environment.garbage" and stored[1].total_seconds() == 48 * 3600  # the category deadline


def test_without_a_worker_the_head_then_the_township_answers(client: TestClient, session: Session) -> None:
    p = interior_point(session)
    session.execute(text("UPDATE staff SET availability = 'out_of_service' WHERE grid_id = :g AND role = 'grid_worker'"),
                    {"g": p["grid_id"]})
    ev = report(client, {"lon": p["lon"], "lat": p["lat"]}).json()
    assert ev["routed_to"] == "grid_head" and ev["assignee"]["role"] == "grid_head"
    session.execute(text("""UPDATE staff SET availability = 'out_of_service' WHERE role = 'grid_head'
                            AND division_id = (SELECT division_id FROM grid WHERE id = :g)"""), {"g": p["grid_id"]})
    ev = report(client, {"lon": p["lon"], "lat": p["lat"]}).json()
    township = session.execute(text("""SELECT t.id FROM grid g JOIN division v ON v.id = g.division_id
                                       JOIN division t ON t.id = v.parent_id WHERE g.id = :g"""),
                               {"g": p["grid_id"]}).scalar_one()
    assert ev["routed_to"] == "office" and ev["assignee"]["kind"] == "division" and ev["assignee"]["id"] == township


def _household(session: Session) -> dict:
    return dict(session.execute(text("""SELECT h.id, h.address, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat
                                        FROM household h WHERE h.address LIKE '%村%组%'
                                        ORDER BY h.id OFFSET 77 LIMIT 1""")).mappings().one())


def test_address_exact_normalised_and_fuzzy(client: TestClient, session: Session) -> None:
    anonymous = client  # staff see the match in full; the public receipt is tested below
    h = _household(session)
    ev = report(anonymous, {"address": h["address"]}).json()
    assert ev["location"]["match"]["quality"] == "exact" and ev["location"]["household_id"] == h["id"]
    assert (ev["location"]["lon"], ev["location"]["lat"]) == (h["lon"], h["lat"])
    # Without county and township, with Chinese numerals, full-width digits and a space.
    county_and_town = session.execute(text("""
        SELECT t.name, c.name FROM household h JOIN division v ON v.id = h.division_id
        JOIN division t ON t.id = v.parent_id JOIN division c ON c.id = t.parent_id WHERE h.id = :h"""),
                                      {"h": h["id"]}).one()
    short = h["address"].split(county_and_town[0], 1)[1]
    group, number = short.split("村", 1)[1].rstrip("号").split("组")
    spoken = short.split("村", 1)[0] + "村 " + _chinese(int(group)) + "组" + number.translate(_FULLWIDTH) + "号"
    ev = report(anonymous, {"address": spoken}).json()
    assert ev["location"]["match"]["quality"] == "normalised", (spoken, ev)
    assert ev["location"]["household_id"] == h["id"]
    # A misspelt township name: the village, group and number still name it (anchored), or trigram
    # similarity, accepted only because it stands out.
    typo = h["address"].replace(county_and_town[0][:1], "X", 1)
    r = report(anonymous, {"address": typo})
    if r.status_code == 201:
        assert r.json()["location"]["match"]["quality"] in ("anchored", "fuzzy")
        assert r.json()["location"]["household_id"] == h["id"]
    else:  # ambiguous: refused with the candidates, the right one among them
        assert r.status_code == 422 and h["id"] in [c["household_id"] for c in r.json()["candidates"]]


_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _chinese(n: int) -> str:
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


def test_ambiguous_and_unknown_addresses_are_refused_with_candidates(as_user, session: Session) -> None:  # noqa: ANN001
    before = session.execute(text("SELECT count(*) FROM event")).scalar_one()
    staff = as_user("admin")
    r = report(staff, {"address": "1组1号"})  # in every village
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert len(r.json()["candidates"]) == 10 and r.json()["pointer"] == "address"
    staff.headers.pop("Authorization")
    r = report(staff, {"address": "1组1号"})  # the public: counted, never listed (the register stays private)
    assert r.status_code == 422 and r.json()["candidates"] == []
    r = report(staff, {"address": "火星基地七号楼"})
    assert r.status_code == 422 and "register" in r.json()["detail"]
    assert session.execute(text("SELECT count(*) FROM event")).scalar_one() == before  # nothing stored


def test_household_id_locates_at_the_household(as_user, session: Session) -> None:  # noqa: ANN001
    h = _household(session)
    staff = as_user("admin")
    ev = report(staff, {"household_id": h["id"]}).json()
    assert ev["location"]["household_id"] == h["id"] and ev["location"]["located_by"] == "household"
    assert report(staff, {"household_id": 10**9}).status_code == 422
    staff.headers.pop("Authorization")
    r = report(staff, {"household_id": h["id"]})  # the public may not geocode the register by id
    assert r.status_code == 422 and r.json()["pointer"] == "location/household_id"


def test_the_public_receipt_names_no_one(anonymous: TestClient, session: Session) -> None:
    h = _household(session)
    r = report(anonymous, {"address": h["address"]})
    assert r.status_code == 201
    ev = r.json()
    assert set(ev) == {"id", "token", "status", "category", "reported_at", "due_at", "grids", "agency_responsible",
                       "location"}
    assert ev["agency_responsible"].endswith("网格服务站") and ev["location"]["match_quality"] == "exact"
    assert ev["location"]["lon"] == round(h["lon"], 3) and "household_id" not in ev["location"]
    names = session.execute(text("SELECT name FROM staff WHERE id IN (SELECT assignee_staff_id FROM event"
                                 " WHERE id = :e)"), {"e": ev["id"]}).scalars().all()
    assert names and all(n not in r.text for n in names)


def test_control_characters_and_nul_are_422_not_500(client: TestClient, session: Session) -> None:
    p = interior_point(session)
    loc = {"lon": p["lon"], "lat": p["lat"]}
    for field, value in (("description", "bad\u0001char"), ("description", "nul\u0000"), ("category", "a\u0000")):
        r = client.post("/events", content=f'{{"category": "environment.garbage", "location": '
                        f'{{"lon": {p["lon"]}, "lat": {p["lat"]}}}, "{field}": "{value}"}}',
                        headers={"content-type": "application/json"})
        assert r.status_code == 422, (field, r.text)
    assert report(client, loc, description="line one\nline two\ttab").status_code == 201
    assert client.get("/events/2147483648/history").status_code == 404  # beyond int4: not found, not 500


@pytest.mark.parametrize("location, pointer", [
    ({"lon": 116.4, "lat": 39.9}, "location"),  # Beijing: outside the county
    ({"lon": 106.6}, "lat"),
    ({"lon": 200.0, "lat": 26.4}, "lon"),
    ({}, "location"),
    ({"lon": 106.6, "lat": 26.4, "address": "x"}, "location"),
])
def test_bad_locations_are_422_naming_the_field(anonymous: TestClient, session: Session, location: dict,
                                                pointer: str) -> None:
    before = session.execute(text("SELECT count(*) FROM event")).scalar_one()
    r = report(anonymous, location)
    assert r.status_code == 422, r.text
    assert r.json()["pointer"] == pointer
    if pointer == "location" and "lon" in location and "address" not in location:
        assert "outside the county" in r.json()["detail"]
    assert session.execute(text("SELECT count(*) FROM event")).scalar_one() == before


def test_bad_category_and_fields(anonymous: TestClient, session: Session) -> None:
    p = interior_point(session)
    loc = {"lon": p["lon"], "lat": p["lat"]}
    r = anonymous.post("/events", json={"category": "environment", "location": loc})
    assert r.status_code == 422 and "environment.garbage" in r.json()["choices"]
    r = anonymous.post("/events", json={"category": "nope", "location": loc})
    assert r.status_code == 422 and r.json()["pointer"] == "category"
    r = anonymous.post("/events", json={"category": "environment.garbage", "location": loc,
                                        "contact": {"phone": "12345"}})
    assert r.status_code == 422 and r.json()["pointer"] == "contact/phone"
    r = anonymous.post("/events", json={"category": "environment.garbage", "location": loc, "colour": "red"})
    assert r.status_code == 422


def test_reporter_contact_is_stored_under_rls_and_never_echoed(anonymous: TestClient, session: Session) -> None:
    p = interior_point(session)
    r = report(anonymous, {"lon": p["lon"], "lat": p["lat"]}, contact={"name": "张三", "phone": "13800138000"})
    assert r.status_code == 201 and "13800138000" not in r.text and "张三" not in r.text
    session.execute(text("SELECT set_config('gridmap.scope_all', 'on', true)"))
    assert session.execute(text("SELECT phone FROM event_contact WHERE event_id = :e"),
                           {"e": r.json()["id"]}).scalar_one() == "13800138000"


def test_anonymous_reports_are_rate_limited(app, anonymous: TestClient, session: Session) -> None:  # noqa: ANN001
    import uuid

    from api.ratelimit import ReportLimit

    p = interior_point(session)
    saved = app.state.report_limit
    app.state.report_limit = ReportLimit(app.state.engine, per_minute=1, burst=3, prefix=f"test{uuid.uuid4().hex}")
    try:
        codes = [report(anonymous, {"lon": p["lon"], "lat": p["lat"]}).status_code for _ in range(4)]
        assert codes == [201, 201, 201, 429]
        r = report(anonymous, {"lon": p["lon"], "lat": p["lat"]})
        assert int(r.headers["retry-after"]) > 0 and r.headers["content-type"] == "application/problem+json"
        r = anonymous.post("/open311/v2/requests.json", data={"service_code": "environment.garbage",
                                                              "lat": p["lat"], "long": p["lon"]})
        assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 61  # the limiter's wait, in Open311 form
        assert r.json()[0]["code"] == 429
    finally:
        app.state.report_limit = saved


def test_staff_get_duplicate_suggestions_nearest_first(as_user, session: Session) -> None:  # noqa: ANN001
    p = interior_point(session)
    client = as_user("admin")
    first = report(client, {"lon": p["lon"], "lat": p["lat"]}).json()
    near = report(client, {"lon": p["lon"] + 0.0005, "lat": p["lat"]}).json()  # ~50 m east
    assert [d["id"] for d in near["possible_duplicates"]][:1] == [first["id"]]
    assert 40 < near["possible_duplicates"][0]["distance_m"] < 60
    other = client.post("/events", json={"category": "dispute.neighbour", "location": {"lon": p["lon"], "lat": p["lat"]}})
    assert first["id"] not in [d["id"] for d in other.json()["possible_duplicates"]]  # another category
    far = client.get(f"/events/{first['id']}/duplicates").json()
    assert near["id"] in [d["id"] for d in far]
