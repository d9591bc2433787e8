"""Two counties side by side in one database (migration 0011).

Huaxi (520111) and Wudang (520112), both small, are loaded into a database of
their own with their demo accounts; the API is the real app on that database.
Locate, tiles, statistics and fusion answer per county and across; a county
admin sees nothing of the other county; the county code is filled for writers
that never name it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from geo.db import make_sessionmaker, transaction
from geo.settings import DatabaseSettings, ServerSettings

A, B = "520111", "520112"
PASSWORD = "two-counties-test-password"
SHARDED = ("division", "grid", "grid_version", "grid_code_counter", "grid_membership", "linked_household_group",
           "household", "resident", "camera", "event", "event_contact", "staff")


@dataclass
class Counties:
    engine: Engine
    app: object
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def counties(db_settings: DatabaseSettings) -> Iterator[Counties]:
    from conftest import drop_database, migrated_copy

    from api.main import create_app
    from geo.access.security import issue_tokens
    from geo.db import make_engine
    from geo.models.users import AppUser
    from importers.demo import PlanParams, clear_district, load_demo
    from importers.demo.loader import clear_county
    from importers.demo.users import create_demo_users

    url = migrated_copy(db_settings.database_url, "counties")  # at head: migrating is tested elsewhere
    engine = make_engine(DatabaseSettings(database_url=url, pool_size=4))
    params = PlanParams(townships=2, villages_per_township=2, grids=12, households=1500, misalignments=1)
    with transaction(make_sessionmaker(engine)) as s:
        clear_district(s)
    for county in (A, B):
        with transaction(make_sessionmaker(engine)) as s:
            clear_county(s, county)
            load_demo(s, county=county, seed=5, params=params, cameras_per_township=8, events=120)
            create_demo_users(s, PASSWORD, county)
    app = create_app(DatabaseSettings(database_url=url, pool_size=4),
                     ServerSettings(public_reports_per_minute=100_000, public_reports_burst=100_000))
    with make_sessionmaker(engine)() as s:
        tokens = {u.username: str(issue_tokens(u, app.state.token_settings)["access_token"])
                  for u in s.query(AppUser).all()}
    yield Counties(engine, app, tokens)
    engine.dispose()
    drop_database(db_settings.database_url, make_url(url).database)


@pytest.fixture
def api(counties: Counties) -> Iterator[callable]:
    with TestClient(counties.app, raise_server_exceptions=False) as client:
        def as_user(username: str) -> TestClient:
            client.headers["Authorization"] = f"Bearer {counties.tokens[username]}"
            return client
        yield as_user


def _one(engine: Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).one()


def _inside(engine: Engine, county: str) -> tuple[float, float]:
    """A point well inside a village of ``county`` (lon, lat)."""
    return tuple(_one(engine, """SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM division
                                 WHERE county_code = :c AND level = 'village' ORDER BY code LIMIT 1) s""", c=county))


def test_every_sharded_row_carries_its_own_county(counties: Counties) -> None:
    e = counties.engine
    for table in SHARDED:
        in_a, in_b, every = _one(e, f"SELECT count(*) FILTER (WHERE county_code = :a),"
                                    f" count(*) FILTER (WHERE county_code = :b), count(*) FROM {table}", a=A, b=B)
        assert in_a > 0 and in_b > 0 and in_a + in_b == every, (table, in_a, in_b, every)
    # Each child row agrees with the row it hangs off (set by the loader or by the triggers).
    for sql in ("SELECT count(*) FROM grid g JOIN division d ON d.id = g.division_id WHERE g.county_code <> d.county_code",
                "SELECT count(*) FROM household h JOIN division d ON d.id = h.division_id"
                " WHERE h.county_code <> d.county_code",
                "SELECT count(*) FROM resident r JOIN household h ON h.id = r.household_id"
                " WHERE r.county_code <> h.county_code",
                "SELECT count(*) FROM grid_membership m JOIN grid g ON g.id = m.grid_id WHERE m.county_code <> g.county_code",
                "SELECT count(*) FROM division WHERE left(code, 6) <> county_code"):
        assert _one(e, sql)[0] == 0, sql


def test_writers_that_never_name_the_county_get_it_from_triggers(counties: Counties) -> None:
    """What the importers and the API write without a county code is placed in the right county."""
    e = counties.engine
    lon, lat = _inside(e, B)
    with e.connect() as conn, conn.begin() as tx:
        village = conn.execute(text("SELECT id FROM division WHERE county_code = :b AND level = 'village' LIMIT 1"),
                               {"b": B}).scalar_one()
        hh = conn.execute(text("INSERT INTO household (address, division_id, residents, geom) VALUES"
                               " ('test', :v, 1, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING county_code, id"),
                          {"v": village, "x": lon, "y": lat}).one()
        res = conn.execute(text("INSERT INTO resident (household_id, name, id_number, phone) VALUES (:h, 'x', 'x', '')"
                                " RETURNING county_code"), {"h": hh.id}).scalar_one()
        cam = conn.execute(text("INSERT INTO camera (code, name, bearing, fov, range_m, status, geom) VALUES"
                                " ('CAMTEST', 't', 0, 90, 50, 'online', ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
                                " RETURNING county_code"), {"x": lon, "y": lat}).scalar_one()
        ev = conn.execute(text("INSERT INTO event (category, description, status, source, geom)"
                               " SELECT code, '', 'reported', 'app', ST_SetSRID(ST_MakePoint(:x, :y), 4326)"
                               " FROM event_category WHERE parent_code IS NOT NULL LIMIT 1 RETURNING county_code, id"),
                          {"x": lon, "y": lat}).one()
        tr = conn.execute(text("INSERT INTO event_transition (event_id, action, to_status, actor) VALUES"
                               " (:e, 'report', 'reported', 't') RETURNING county_code"), {"e": ev.id}).scalar_one()
        # A camera outside every county (a report just across the border) goes to the nearest county.
        outside = conn.execute(text("""
            WITH p AS (SELECT ST_SetSRID(ST_MakePoint(ST_XMax(geom) + 0.05, ST_YMax(geom) + 0.05), 4326) AS g
                         FROM division WHERE county_code = :b AND level = 'county')
            INSERT INTO camera (code, name, bearing, fov, range_m, status, geom) SELECT 'CAMOUT', 't', 0, 90, 50, 'online', g FROM p
            RETURNING county_code, (SELECT d.county_code FROM division d WHERE d.level = 'county'
                                     ORDER BY ST_Distance(d.geom, camera.geom) LIMIT 1),
                      (SELECT count(*) FROM division d WHERE d.level = 'county' AND ST_Covers(d.geom, camera.geom))"""),
            {"b": B}).one()
        # A household moved to the other county's village follows it.
        other = conn.execute(text("SELECT id FROM division WHERE county_code = :a AND level = 'village' LIMIT 1"),
                             {"a": A}).scalar_one()
        moved = conn.execute(text("UPDATE household SET division_id = :v WHERE id = :h RETURNING county_code"),
                             {"v": other, "h": hh.id}).scalar_one()
        tx.rollback()
    assert (hh.county_code, res, cam, ev.county_code, tr, moved) == (B, B, B, B, B, A)
    assert outside[2] == 0 and outside[0] == outside[1]


def test_codes_are_unique_per_county(counties: Counties) -> None:
    from sqlalchemy.exc import IntegrityError

    e = counties.engine
    with e.connect() as conn, conn.begin() as tx:
        code, county = conn.execute(text("SELECT code, county_code FROM camera WHERE county_code = :b LIMIT 1"),
                                    {"b": B}).one()
        lon, lat = _inside(e, A)
        # The same camera code in the other county is another camera …
        conn.execute(text("INSERT INTO camera (code, name, bearing, fov, range_m, status, geom) VALUES"
                          " (:c, 't', 0, 90, 50, 'online', ST_SetSRID(ST_MakePoint(:x, :y), 4326))"), {"c": code, "x": lon, "y": lat})
        tx.rollback()
    with e.connect() as conn, conn.begin(), pytest.raises(IntegrityError):
        # … but not twice in one county.
        conn.execute(text("INSERT INTO camera (code, name, bearing, fov, range_m, status, geom, county_code) VALUES"
                          " (:c, 't', 0, 90, 50, 'online', ST_SetSRID(ST_MakePoint(0, 0), 4326), :k)"), {"c": code, "k": county})


def test_locate_answers_in_each_county(api, counties: Counties) -> None:  # noqa: ANN001
    for county in (A, B):
        lon, lat = _inside(counties.engine, county)
        r = api("admin").get(f"/locate?lon={lon}&lat={lat}")
        assert r.status_code == 200, r.text
        body = r.json()
        codes = [d["code"] for d in body["divisions"].values()] + [g["code"] for g in body["grids"].values() if g]
        assert codes and all(c.startswith(county) for c in codes), body
        assert body["divisions"]["county"]["code"] == f"{county}000000"
    # A county admin locates in their county, and the other county is outside their jurisdiction.
    lon, lat = _inside(counties.engine, B)
    assert api(f"admin.{B}").get(f"/locate?lon={lon}&lat={lat}").status_code == 200
    lon, lat = _inside(counties.engine, A)
    assert api(f"admin.{B}").get(f"/locate?lon={lon}&lat={lat}").status_code == 404


def _tile_of(engine: Engine, county: str, z: int = 12) -> tuple[int, int, int]:
    import math

    lon, lat = _inside(engine, county)
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def _tile_grid_ids(engine: Engine, county: str, z: int, x: int, y: int) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(text("""
            SELECT g.id FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
             WHERE g.county_code = :c AND ST_Intersects(g.geom, ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326))"""),
            {"c": county, "z": z, "x": x, "y": y}).scalars())


def test_tiles_per_county_and_across(api, counties: Counties) -> None:  # noqa: ANN001
    from geo.access.scope import Scope, resolve
    from geo.models.users import AppUser
    from tiles.mvt import render_tile

    z, x, y = _tile_of(counties.engine, B)
    assert _tile_grid_ids(counties.engine, B, z, x, y)
    platform = api("admin").get(f"/tiles/grids/comprehensive/{z}/{x}/{y}.mvt")
    own = api(f"admin.{B}").get(f"/tiles/grids/comprehensive/{z}/{x}/{y}.mvt")
    assert platform.status_code == own.status_code == 200 and len(platform.content) > 0
    assert len(own.content) > 0
    # Huaxi's planner sees no grid of Wudang: the tile is empty unless the tile also holds Huaxi grids.
    with make_sessionmaker(counties.engine)() as s:
        planner_a = resolve(s, s.query(AppUser).filter_by(username="planner").one())
        tile_a = render_tile(s, "grids", "comprehensive", z, x, y, scope=planner_a)
        everything = render_tile(s, "grids", "comprehensive", z, x, y, scope=Scope.platform())
    assert planner_a.counties == (A,)
    expected_a = _tile_grid_ids(counties.engine, A, z, x, y)
    assert (len(tile_a) > 0) == bool(expected_a)
    assert len(everything) >= len(own.content)


def test_statistics_per_county_and_across(api, counties: Counties) -> None:  # noqa: ANN001
    window = "from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"
    total = {}
    for county in (A, B):
        total[county] = _one(counties.engine, "SELECT count(*) FROM event WHERE county_code = :c", c=county)[0]
        user = "planner" if county == A else f"planner.{B}"
        r = api(user).get(f"/stats/events?{window}")
        assert r.status_code == 200, r.text
        assert r.json()["total"]["reported"] == total[county]
        # The platform asks for one county by its division.
        r = api("admin").get(f"/stats/events?{window}&division={county}000000")
        assert r.json()["total"]["reported"] == total[county], r.text
    r = api("admin").get(f"/stats/events?{window}")
    assert r.json()["total"]["reported"] == total[A] + total[B]
    r = api(f"planner.{B}").get(f"/stats/events?{window}&group_by=township")
    assert r.json()["groups"] and all(g["key"].startswith(B) for g in r.json()["groups"])


def test_fusion_per_county(api, counties: Counties) -> None:  # noqa: ANN001
    own = api(f"planner.{B}").get("/fusion")
    assert own.status_code == 200, own.text
    assert own.json()["division"] == f"{B}000000"
    misaligned = _one(counties.engine, "SELECT count(*) FROM grid WHERE county_code = :c AND notes LIKE 'demo: deli%'",
                      c=B)[0]
    assert misaligned >= 1
    # The platform names the county it analyses: with two counties there is no default.
    assert api("admin").get("/fusion").status_code == 422
    assert api("admin").get(f"/fusion?division={B}000000").status_code == 200
    # Huaxi's planner cannot analyse Wudang.
    assert api("planner").get(f"/fusion?division={B}000000").status_code == 404
    # Rules are the platform's: a county-wide planner may no longer change them alone.
    rule = api("admin").get("/fusion/rules").json()[0]
    r = api("planner").patch(f"/fusion/rules/{rule['id']}", json={"enabled": rule["enabled"]})
    assert r.status_code == 403, r.text


def test_a_county_admin_sees_nothing_of_the_other_county(api, counties: Counties) -> None:  # noqa: ANN001
    e = counties.engine
    a_household = _one(e, "SELECT min(id) FROM household WHERE county_code = :a", a=A)[0]
    b_household = _one(e, "SELECT min(id) FROM household WHERE county_code = :b", b=B)[0]
    admin_b = api(f"admin.{B}")
    assert admin_b.get(f"/households/{b_household}").status_code == 200
    assert admin_b.get(f"/households/{a_household}").status_code == 404
    assert admin_b.get(f"/households/{a_household}/residents").status_code == 404
    seen = set()
    url = "/households?limit=1000"
    while url:
        body = admin_b.get(url).json()
        seen |= {f["id"] for f in body["features"]}
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert seen == set(_ids(e, "SELECT id FROM household WHERE county_code = :c", c=B))
    grids = admin_b.get("/grids?limit=1000").json()["features"]
    assert grids and all(g["properties"]["code"].startswith(B) for g in grids)
    divisions = admin_b.get("/divisions?limit=1000").json()["features"]
    assert divisions and all(d["properties"]["code"].startswith(B) for d in divisions)
    events = admin_b.get("/events?limit=1000").json()["features"]
    assert events and {ev["id"] for ev in events} <= set(_ids(e, "SELECT id FROM event WHERE county_code = :c", c=B))
    # The platform admin sees both.
    for household in (a_household, b_household):
        assert api("admin").get(f"/households/{household}").status_code == 200


def _ids(engine: Engine, sql: str, **params: object) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).scalars())


def test_scope_of_each_jurisdiction_names_its_county(counties: Counties) -> None:
    from geo.access.scope import resolve
    from geo.models.users import AppUser

    with make_sessionmaker(counties.engine)() as s:
        users = {u.username: u for u in s.query(AppUser).all()}
        assert resolve(s, users["admin"]).everything
        for name, county in (("planner", A), ("emergency", A), ("head1", A), ("worker1", A),
                             (f"admin.{B}", B), (f"emergency.{B}", B), (f"worker1.{B}", B)):
            scope = resolve(s, users[name])
            assert not scope.everything and scope.counties == (county,), name
            grid_counties = set(s.execute(text("SELECT county_code FROM grid WHERE id = ANY(:g)"),
                                          {"g": list(scope.visible_grids)}).scalars())
            assert grid_counties == {county}, name


def test_user_add_county_and_link_within_it(counties: Counties, monkeypatch: pytest.MonkeyPatch) -> None:
    """``gridmap user add --county`` makes a county-wide account; ``user link`` stays inside its county."""
    from typer.testing import CliRunner

    from geo.access.scope import resolve
    from geo.models.users import AppUser
    from importers.cli import app

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", counties.engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    r = runner.invoke(app, ["user", "add", "wudang_admin", "--role", "admin", "--county", B, "--password-stdin"],
                      input="a-long-enough-password\n")
    assert r.exit_code == 0, r.output
    try:
        with make_sessionmaker(counties.engine)() as s:
            scope = resolve(s, s.query(AppUser).filter_by(username="wudang_admin").one())
        assert not scope.everything and scope.counties == (B,)
        r = runner.invoke(app, ["user", "add", "x", "--role", "admin", "--county", "52011", "--password-stdin"],
                          input="a-long-enough-password\n")
        assert r.exit_code == 2 and "6-digit" in r.output
        r = runner.invoke(app, ["user", "add", "x", "--role", "admin", "--county", B, "--grid", "1", "--password-stdin"],
                          input="a-long-enough-password\n")
        assert r.exit_code == 2 and "at most one" in r.output
        staff_a, staff_b = (_one(counties.engine, "SELECT min(id) FROM staff WHERE county_code = :c AND id NOT IN"
                                 " (SELECT staff_id FROM app_user WHERE staff_id IS NOT NULL)", c=c)[0] for c in (A, B))
        r = runner.invoke(app, ["user", "link", "wudang_admin", "--staff", str(staff_a)])
        assert r.exit_code == 2 and f"county {A}" in r.output
        assert runner.invoke(app, ["user", "link", "wudang_admin", "--staff", str(staff_b)]).exit_code == 0
    finally:
        with counties.engine.begin() as conn:
            conn.execute(text("DELETE FROM app_user WHERE username = 'wudang_admin'"))


def test_a_public_report_is_routed_inside_its_own_county(api, counties: Counties) -> None:  # noqa: ANN001
    """The API writes an event without naming the county; it lands in, and is routed within, county B."""
    lon, lat = _inside(counties.engine, B)
    category = _one(counties.engine, "SELECT code FROM event_category c WHERE handler = 'grid' AND NOT EXISTS"
                    " (SELECT 1 FROM event_category k WHERE k.parent_code = c.code) ORDER BY code LIMIT 1")[0]
    r = api("admin").post("/events", json={"category": category, "description": "路灯坏了",
                                           "location": {"lon": lon, "lat": lat}})
    assert r.status_code == 201, r.text
    event = r.json()["id"]
    try:
        county, staff_county, division_county = _one(counties.engine, """
            SELECT e.county_code, s.county_code, d.county_code FROM event e
              LEFT JOIN staff s ON s.id = e.assignee_staff_id LEFT JOIN division d ON d.id = e.assignee_division_id
             WHERE e.id = :e""", e=event)
        assert county == B and {staff_county, division_county} - {None} == {B}
        assert api(f"admin.{B}").get(f"/events/{event}").status_code == 200
        assert api("planner").get(f"/events/{event}").status_code == 404
    finally:
        with counties.engine.begin() as conn:
            conn.execute(text("DELETE FROM grid_membership WHERE kind = 'event' AND entity_id = :e"), {"e": event})
            conn.execute(text("DELETE FROM event WHERE id = :e"), {"e": event})
