"""GET /search on the test district: codes, names, addresses and coordinates, within the caller's rights."""

from __future__ import annotations

import logging
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.privacy.logsafe import scrub
from geo.spatial.crs import Crs, from_wgs84

MATCH_ORDER = {"exact": 0, "prefix": 1, "contains": 2}


def _search(client: TestClient, q: str, **params: object) -> list[dict]:
    r = client.get("/search", params={"q": q, **params})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return r.json()["results"]


def _village(session: Session) -> dict:
    """A village whose name no other division or grid bears, with its township."""
    return dict(session.execute(text("""
        SELECT v.id, v.code, v.name, t.name AS township, t.code AS township_code FROM division v
          JOIN division t ON t.id = v.parent_id
         WHERE v.level = 'village' AND (SELECT count(*) FROM division o WHERE o.name = v.name) = 1
         ORDER BY v.code LIMIT 1""")).mappings().one())


def _comprehensive(session: Session) -> dict:
    return dict(session.execute(text("""
        SELECT g.id, g.code, g.name, ST_X(g.label_point) AS lon, ST_Y(g.label_point) AS lat, g.label_size_m
          FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
         WHERE g.label_size_m > 1200 ORDER BY g.code LIMIT 1""")).mappings().one())


def test_a_grid_by_its_code_and_by_the_start_of_it(client: TestClient, session: Session) -> None:
    g = _comprehensive(session)
    first = _search(client, g["code"])[0]
    assert (first["kind"], first["code"], first["match"], first["layer"]) == ("grid", g["code"], "exact",
                                                                               "comprehensive")
    x0, y0, x1, y1 = first["bbox"]
    assert x0 <= first["lon"] <= x1 and y0 <= first["lat"] <= y1
    prefix = g["code"][:15]
    hits = _search(client, prefix, limit=50)
    expected = session.execute(text("SELECT count(*) FROM grid WHERE code LIKE :p || '%'"), {"p": prefix}).scalar()
    assert len(hits) == min(expected, 50) and expected > 1
    assert all(h["kind"] == "grid" and h["code"].startswith(prefix) and h["match"] == "prefix" for h in hits)


def test_a_village_by_name_comes_first_and_exact(client: TestClient, session: Session) -> None:
    v = _village(session)
    hits = _search(client, v["name"])
    assert (hits[0]["kind"], hits[0]["code"], hits[0]["match"]) == ("village", v["code"], "exact")
    assert hits[0]["parent_name"] == v["township"]
    inside = session.execute(text("SELECT ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) FROM division"
                                  " WHERE id = :i"), {"x": hits[0]["lon"], "y": hits[0]["lat"], "i": v["id"]}).scalar()
    assert inside
    # Later results are worse or as good: exact > prefix > contains.
    ranks = [MATCH_ORDER[h["match"]] for h in hits]
    assert ranks == sorted(ranks)


def test_township_and_village_in_one_query_finds_both(client: TestClient, session: Session) -> None:
    v = _village(session)
    hits = _search(client, f"{v['township']} {v['name']}")
    codes = [h["code"] for h in hits if h["match"] == "exact"]
    assert v["township_code"] in codes and v["code"] in codes
    assert [h["kind"] for h in hits[:2]] == ["township", "village"]  # both exact; the bigger place first


def test_exact_before_prefix_before_contains(client: TestClient, session: Session) -> None:
    # A township name's first two characters: the township and its grids start with it, other names contain it.
    name = _village(session)["township"]
    hits = _search(client, name[:2], limit=50)
    ranks = [MATCH_ORDER[h["match"]] for h in hits]
    assert ranks == sorted(ranks) and ranks[0] == 1
    assert hits[0]["kind"] == "township"
    for h in hits:
        label = h.get("name") or h.get("address")
        assert name[:2] in label
        assert (h["match"] == "prefix") == label.startswith(name[:2]) or h.get("code", "").startswith(name[:2])


def test_household_addresses_for_those_who_may_read_households(as_user, session: Session) -> None:  # noqa: ANN001
    address = session.execute(text("SELECT address FROM household ORDER BY id LIMIT 1")).scalar_one()
    hits = _search(as_user("planner"), address)
    assert hits[0]["kind"] == "household" and hits[0]["address"] == address and hits[0]["match"] == "exact"
    assert set(hits[0]) == {"kind", "id", "address", "lon", "lat", "match"}  # no resident, name or phone
    # The end of an address (people leave out the district and township) is found inside it.
    tail = address[-8:]
    assert any(h["kind"] == "household" and h["address"] == address for h in _search(as_user("planner"), tail,
                                                                                      limit=50))
    # A viewer may read the map but not households: no address is searched or shown.
    assert all(h["kind"] != "household" for h in _search(as_user("viewer"), address))


def test_a_phone_or_id_number_in_an_address_does_not_find_it(as_user, session: Session) -> None:  # noqa: ANN001
    """An address is shown masked; searching for what the mask hides must not find it either, or the search
    would be an oracle: which household a phone number is at, an ID number guessed digit by digit."""
    hid, address = session.execute(text("SELECT id, address FROM household ORDER BY id LIMIT 1")).one()
    phone, id_number = "13812345678", "520111199001011234"
    session.execute(text("UPDATE household SET address = :a WHERE id = :i"),
                    {"a": f"{address} 电话{phone} 身份证{id_number}", "i": hid})
    session.commit()
    planner = as_user("planner")
    for hidden in (phone, id_number, phone[:7], id_number[:10], id_number[4:14]):
        assert all(h["kind"] != "household" or h["id"] != hid for h in _search(planner, hidden, limit=50)), hidden
    # What is shown is still found: the plain address, and the digits the mask leaves.
    shown = [h for h in _search(planner, address, limit=50) if h["id"] == hid]
    assert shown and phone not in shown[0]["address"] and id_number not in shown[0]["address"]


def test_a_worker_finds_only_inside_their_territory(as_user, session: Session) -> None:  # noqa: ANN001
    worker, ids = as_user("worker1"), _territory_grids(session, "worker1")
    comprehensive = "JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'"
    mine = session.execute(text(f"SELECT g.code FROM grid g {comprehensive} WHERE g.id = ANY(:ids)"
                                " ORDER BY g.code LIMIT 1"), {"ids": ids}).scalar_one()
    assert _search(worker, mine)[0]["code"] == mine
    outside = session.execute(text(f"SELECT g.code FROM grid g {comprehensive} WHERE NOT g.id = ANY(:ids)"
                                   " ORDER BY g.code DESC LIMIT 1"), {"ids": ids}).scalar_one()
    assert _search(worker, outside) == []
    address = session.execute(text("""
        SELECT h.address FROM household h JOIN grid_membership m ON m.kind = 'household' AND m.entity_id = h.id
          JOIN grid g ON g.id = m.grid_id WHERE g.code = :c LIMIT 1"""), {"c": outside}).scalar_one()
    assert all(h["kind"] != "household" for h in _search(worker, address))


def _territory_grids(session: Session, username: str) -> list[int]:
    from geo.access.scope import resolve
    from geo.models.users import AppUser

    user = session.query(AppUser).filter_by(username=username).one()
    return list(resolve(session, user).visible_grids)


@pytest.mark.parametrize("crs", [Crs.WGS84, Crs.GCJ02, Crs.BD09])
def test_coordinates_with_a_datum_land_in_the_right_grid(client: TestClient, session: Session, crs: Crs) -> None:
    g = _comprehensive(session)
    x, y = (float(v) for v in from_wgs84(g["lon"], g["lat"], crs))
    hits = _search(client, f"{x:.6f},{y:.6f} {crs.value}")
    assert len(hits) == 1  # one datum, one order inside China
    h = hits[0]
    assert (h["kind"], h["crs"], h["order"], h["in_territory"]) == ("coordinate", crs.value, "lonlat", True)
    assert h["grid"]["code"] == g["code"] and h["grids"]["comprehensive"]["code"] == g["code"]
    assert abs(h["lon"] - g["lon"]) < 2e-5 and abs(h["lat"] - g["lat"]) < 2e-5  # ~2 m: six decimals typed


def test_coordinates_without_a_datum_give_each_reading(client: TestClient, session: Session) -> None:
    """Latitude first, a full-width comma, no datum: one hit per datum, each converted to WGS84; the
    WGS84 reading is in the grid, the GCJ-02 and BD-09 readings a few hundred metres away."""
    g = _comprehensive(session)
    hits = _search(client, f"{g['lat']:.6f}，{g['lon']:.6f}")
    assert {h["crs"] for h in hits} == {"wgs84", "gcj02", "bd09"}
    assert {h["order"] for h in hits} == {"latlon"}
    wgs = next(h for h in hits if h["crs"] == "wgs84")
    assert wgs["grid"]["code"] == g["code"]
    gcj = next(h for h in hits if h["crs"] == "gcj02")
    assert 1e-3 < abs(gcj["lon"] - g["lon"]) + abs(gcj["lat"] - g["lat"]) < 1e-2


def test_coordinates_outside_the_territory_say_so_and_nothing_more(as_user, session: Session) -> None:  # noqa: ANN001
    hits = _search(as_user("worker1"), "116.39 39.91 wgs84")  # Beijing
    assert hits == [{"kind": "coordinate", "crs": "wgs84", "order": "lonlat", "input": {"lon": 116.39, "lat": 39.91},
                     "grid": None, "grids": {}, "divisions": {}, "lon": 116.39, "lat": 39.91, "in_territory": False}]


@pytest.mark.parametrize("q, pointer", [
    ("", "q"), ("   ", "q"), ("x" * 201, "q"), ("200,100", "q"), ("...;;", "q"), ("106.6 26.4 gcj02 bd09", "q"),
])
def test_bad_queries_are_problems_that_do_not_echo_them(client: TestClient, q: str, pointer: str) -> None:
    r = client.get("/search", params={"q": q})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert pointer in str(problem)
    if q.strip() and len(q) > 3:
        assert q not in r.text


@pytest.mark.parametrize("limit", [0, 51, "ten"])
def test_a_bad_limit_is_a_problem(client: TestClient, limit: object) -> None:
    r = client.get("/search", params={"q": "村", "limit": limit})
    assert r.status_code == 422 and "limit" in r.text


def test_without_a_token_nothing_is_searched(anonymous: TestClient) -> None:
    assert anonymous.get("/search", params={"q": "村"}).status_code == 401


def test_the_query_reaches_no_log(as_user, session: Session, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    address = session.execute(text("SELECT address FROM household ORDER BY id DESC LIMIT 1")).scalar_one()
    with caplog.at_level(logging.DEBUG):
        _search(as_user("planner"), address)
        as_user("planner").get("/search", params={"q": address, "limit": 0})
    assert address not in caplog.text
    # An access-log line carries the URL: its query is hidden.
    line = f'127.0.0.1:5000 - "GET /search?q={quote(address)}&limit=5 HTTP/1.1" 200'
    assert quote(address) not in scrub(line) and "/search?" in scrub(line)
