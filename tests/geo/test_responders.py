"""Nearest responders: exact against brute force on the spheroid, and the dispatch rules.

Random responders are inserted into the test's rolled-back transaction (a
savepoint per Hypothesis example). They are laid out on rings around the
origin — many at nearly the same distance in different directions — which is
exactly where the sphere (the index's <->) and the spheroid disagree.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.emergency import responders
from geo.emergency.responders import Search
from geo.models.people import Availability, StaffRole

COUNTY = Scope.county()
STATES = [a.value for a in Availability]
ROLES = [r.value for r in StaffRole]


def add_staff(session: Session, lon: float, lat: float, *, availability: str = "available",
              role: str = "emergency_team", age_min: float = 1.0, grid_id: int | None = None) -> int:
    return session.execute(text("""
        INSERT INTO staff (name, role, phone, availability, home, position, position_at, grid_id)
        VALUES ('测试', CAST(:role AS staff_role), '13800138000', CAST(:a AS availability),
                ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), ST_SetSRID(ST_MakePoint(:lon, :lat), 4326),
                now() - make_interval(secs => :age), :grid) RETURNING id"""),
        {"role": role, "a": availability, "lon": lon, "lat": lat, "age": age_min * 60, "grid": grid_id}).scalar_one()


def brute_force(session: Session, s: Search) -> list[tuple[int, float]]:
    """Every staff row measured on the spheroid, filtered and sorted in SQL: the definition of right."""
    rows = session.execute(text("""
        SELECT id, ST_Distance(position::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography) AS d
          FROM staff
         WHERE position IS NOT NULL AND availability IN ('available', 'on_duty')
           AND (:stale_ok OR position_at >= now() - make_interval(mins => :mins))
           AND (cardinality(CAST(:roles AS text[])) = 0 OR role::text = ANY(:roles))
         ORDER BY d, id"""),
        {"lon": s.lon, "lat": s.lat, "stale_ok": s.include_stale, "mins": s.stale_minutes,
         "roles": [r.value for r in s.roles]}).all()
    return [(r.id, r.d) for r in rows if s.max_m is None or r.d <= s.max_m][: s.k]


ring = st.tuples(st.floats(0.0, 360.0), st.floats(-0.02, 0.02), st.sampled_from(STATES), st.sampled_from(ROLES),
                 st.floats(0.0, 90.0))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(
    origin=st.tuples(st.floats(-179.0, 179.0), st.floats(-75.0, 75.0)),
    radius_deg=st.sampled_from([0.001, 0.05, 1.0, 15.0]),
    people=st.lists(ring, min_size=0, max_size=60),
    k=st.integers(1, 12),
    max_factor=st.one_of(st.none(), st.floats(0.3, 2.0)),
    roles=st.lists(st.sampled_from(list(StaffRole)), max_size=2, unique=True),
    include_stale=st.booleans(),
)
def test_knn_equals_brute_force(session: Session, origin, radius_deg, people, k, max_factor, roles,  # noqa: ANN001
                                include_stale) -> None:
    lon0, lat0 = origin
    nested = session.begin_nested()
    try:
        for bearing, jitter, state, role, age in people:
            d = radius_deg * (1 + jitter)
            lat = max(-89.0, min(89.0, lat0 + d * math.cos(math.radians(bearing))))
            lon = lon0 + d * math.sin(math.radians(bearing)) / math.cos(math.radians(lat0))
            lon = (lon + 180) % 360 - 180
            add_staff(session, lon, lat, availability=state, role=role, age_min=age)
        max_m = None if max_factor is None else max_factor * radius_deg * 111_000
        s = Search(lon0, lat0, k=k, roles=tuple(roles), max_m=max_m, include_stale=include_stale, stale_minutes=30)
        got = [(r["id"], r["distance_m"]) for r in responders.nearest(session, s, scope=COUNTY)]
        want = brute_force(session, s)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-6) for (_, a), (_, b) in zip(got, want, strict=True))
    finally:
        nested.rollback()


def test_sphere_order_would_be_wrong_and_the_rerank_fixes_it(session: Session) -> None:
    """At the equator a degree of latitude is 0.56% shorter on the spheroid than on the sphere and a
    degree of longitude 0.11% longer: the index's <-> (sphere) picks the eastern responder, the
    geodesic (spheroid) says the northern one is nearer. The answer must follow the spheroid."""
    north = add_staff(session, 0.0, 9.0)
    east = add_staff(session, 8.96, 0.0)
    naive = session.execute(text("""
        SELECT id FROM staff WHERE id IN (:n, :e)
         ORDER BY position::geography <-> ST_SetSRID(ST_MakePoint(0, 0), 4326)::geography LIMIT 1"""),
        {"n": north, "e": east}).scalar_one()
    assert naive == east
    got = responders.nearest(session, Search(0.0, 0.0, k=1), scope=COUNTY)
    assert [r["id"] for r in got] == [north] == [i for i, _ in brute_force(session, Search(0.0, 0.0, k=1))]


def test_stale_and_unavailable_are_excluded_or_flagged(session: Session) -> None:
    lon, lat = 100.0, 30.0  # far from the demo district: only these responders are near
    busy = add_staff(session, lon + 0.0001, lat, availability="busy")
    off = add_staff(session, lon + 0.0002, lat, availability="off_duty")
    out = add_staff(session, lon + 0.0003, lat, availability="out_of_service")
    stale = add_staff(session, lon + 0.0004, lat, age_min=45)
    on_duty = add_staff(session, lon + 0.0010, lat, availability="on_duty")
    available = add_staff(session, lon + 0.0020, lat)
    got = responders.nearest(session, Search(lon, lat, k=3, max_m=5_000), scope=COUNTY)
    assert [r["id"] for r in got] == [on_duty, available]
    assert not any(r["stale"] for r in got)
    with_stale = responders.nearest(session, Search(lon, lat, k=3, max_m=5_000, include_stale=True), scope=COUNTY)
    assert [r["id"] for r in with_stale] == [stale, on_duty, available]
    assert [r["stale"] for r in with_stale] == [True, False, False]
    assert not {busy, off, out} & {r["id"] for r in with_stale}
    # distances are geodesic metres: 0.001° of longitude at 30°N is ~96.5 m
    assert 95 < got[0]["distance_m"] < 98


def test_max_radius_and_role(session: Session) -> None:
    lon, lat = 100.0, 30.0
    near = add_staff(session, lon, lat + 0.001, role="grid_worker")  # ~111 m
    far = add_staff(session, lon, lat + 0.01)  # ~1.1 km
    assert [r["id"] for r in responders.nearest(session, Search(lon, lat, k=5, max_m=500), scope=COUNTY)] == [near]
    by_role = responders.nearest(session, Search(lon, lat, k=5, max_m=5_000, roles=(StaffRole.EMERGENCY_TEAM,)),
                                 scope=COUNTY)
    assert [r["id"] for r in by_role] == [far]


def test_own_grid_first(session: Session) -> None:
    event_id, lon, lat, grid = session.execute(text("""
        SELECT e.id, ST_X(e.geom), ST_Y(e.geom), m.grid_id FROM event e
          JOIN grid_membership m ON m.kind = 'event' AND m.entity_id = e.id
          JOIN grid_layer l ON l.id = m.layer_id AND l.code = 'comprehensive'
         ORDER BY e.id LIMIT 1""")).one()
    mine_far = add_staff(session, lon + 0.01, lat, grid_id=grid)
    other_near = add_staff(session, lon + 0.00005, lat)
    elon, elat, grids = responders.event_point(session, event_id, COUNTY)
    assert grid in grids
    got = responders.nearest_own_grid_first(session, Search(elon, elat, k=2, max_m=3_000), grids, scope=COUNTY)
    ids = [r["id"] for r in got]
    assert ids[0] == mine_far and got[0]["own_grid"]
    plain = responders.nearest(session, Search(elon, elat, k=2, max_m=3_000), scope=COUNTY)
    assert plain[0]["id"] == other_near  # without the option the nearest comes first
    assert other_near in ids or len([r for r in got if r["own_grid"]]) == 2


def test_scope_limits_responders(session: Session) -> None:
    """A township's dispatcher sees only responders whose home lies in their territory."""
    from geo.access.scope import resolve
    from geo.models.users import AppUser

    user = session.query(AppUser).filter_by(username="emergency").one()
    scope = resolve(session, user)
    lon, lat = session.execute(text("SELECT ST_X(home), ST_Y(home) FROM staff WHERE id = :s"),
                               {"s": user.staff_id}).one()
    fresh = datetime.now(UTC) - timedelta(minutes=1)
    session.execute(text("UPDATE staff SET position_at = :t, position = home"), {"t": fresh})
    got = responders.nearest(session, Search(lon, lat, k=50, include_stale=True), scope=scope)
    everyone = responders.nearest(session, Search(lon, lat, k=50, include_stale=True), scope=COUNTY)
    inside = set(session.execute(text(
        "SELECT entity_id FROM grid_membership WHERE kind = 'staff' AND layer_id = :l AND grid_id = ANY(:g)"),
        {"l": scope.layer_id, "g": list(scope.grids)}).scalars())
    assert got and {r["id"] for r in got} <= inside
    assert {r["id"] for r in everyone} - inside  # others exist nearby but are not shown


def test_a_tight_ring_needs_a_second_fetch_and_stays_exact(session: Session, monkeypatch) -> None:  # noqa: ANN001
    """Thirty responders at almost the same distance in every direction: the first candidates cannot
    prove the order on the spheroid, so the search fetches more — and still equals brute force."""
    calls = []
    original = responders.candidates
    monkeypatch.setattr(responders, "candidates", lambda *a, **kw: calls.append(a[-1]) or original(*a, **kw))
    for i in range(30):
        b = math.radians(i * 12)
        add_staff(session, 60 + 1.0 * math.sin(b) / math.cos(math.radians(45)), 45 + 1.0 * math.cos(b))
    s = Search(60.0, 45.0, k=5)
    got = [r["id"] for r in responders.nearest(session, s, scope=COUNTY)]
    assert got == [i for i, _ in brute_force(session, s)]
    assert len(calls) >= 2 and calls[1] == 4 * calls[0]
