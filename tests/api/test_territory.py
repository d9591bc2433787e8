"""Two villages' workers never see each other's households; RLS holds without the application filter."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access import scope as scopes
from geo.models.users import AppUser


def _ids(client: TestClient, url: str) -> set[int]:
    out: set[int] = set()
    r = client.get(url)
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        out |= {f["id"] for f in body["features"]}
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        if not nxt:
            return out
        r = client.get(nxt[0])


def _village_households(session: Session, username: str) -> set[int]:
    village = session.execute(text("SELECT division_id FROM app_user WHERE username = :u"),
                              {"u": username}).scalar_one()
    return set(session.execute(text("""
        SELECT m.entity_id FROM grid_membership m JOIN grid g ON g.id = m.grid_id
        JOIN grid_layer l ON l.id = m.layer_id AND l.code = 'comprehensive'
        WHERE m.kind = 'household' AND g.division_id = :v"""), {"v": village}).scalars())


def test_two_village_workers_see_disjoint_households(as_user, session: Session) -> None:  # noqa: ANN001
    head1 = _ids(as_user("head1"), "/households?limit=1000")
    worker2 = _ids(as_user("worker2"), "/households?limit=1000")
    assert head1 and worker2 and not head1 & worker2
    assert head1 == _village_households(session, "head1")
    assert worker2 == _village_households(session, "worker2")


def test_grid_worker_sees_only_their_grid(as_user, session: Session) -> None:  # noqa: ANN001
    mine = _ids(as_user("worker1"), "/households?limit=1000")
    expected = set(session.execute(text("""
        SELECT m.entity_id FROM grid_membership m JOIN app_user u ON u.username = 'worker1'
        WHERE m.kind = 'household' AND m.grid_id = u.grid_id""")).scalars())
    assert mine == expected
    grids = _ids(as_user("worker1"), "/grids?limit=1000")
    own = session.execute(text("SELECT grid_id FROM app_user WHERE username = 'worker1'")).scalar_one()
    assert own in grids and all(
        g == own or session.execute(text("SELECT parent_grid_id FROM grid WHERE id = :g"), {"g": g}).scalar() == own
        for g in grids)


def test_outside_the_territory_is_404_not_403(as_user, session: Session) -> None:  # noqa: ANN001
    other = min(_village_households(session, "worker2"))
    for url in (f"/households/{other}", f"/households/{other}/residents"):
        r = as_user("head1").get(url)
        assert r.status_code == 404, (url, r.text)
    other_grid = session.execute(text("""
        SELECT g.id FROM grid g JOIN app_user u ON u.username = 'worker2' WHERE g.division_id = u.division_id
        LIMIT 1""")).scalar_one()
    assert as_user("head1").get(f"/grids/{other_grid}").status_code == 404
    lon, lat = session.execute(text(
        "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grid WHERE id = :g"),
        {"g": other_grid}).one()
    r = as_user("head1").get("/locate", params={"lon": lon, "lat": lat})
    assert r.status_code == 404 and "jurisdiction" in r.json()["detail"]
    assert as_user("worker2").get("/locate", params={"lon": lon, "lat": lat}).status_code == 200


def test_tiles_are_scoped(as_user) -> None:  # noqa: ANN001
    county = as_user("admin").get("/tiles/grids/comprehensive/10/815/434.mvt").content
    worker = as_user("worker1").get("/tiles/grids/comprehensive/10/815/434.mvt").content
    assert len(worker) < len(county)


def test_rls_holds_when_the_application_filter_is_bypassed(session: Session) -> None:
    """Raw SQL on the personal-data tables, as the application role, with no WHERE clause at all."""
    total = session.execute(text("SELECT count(*) FROM household")).scalar_one()
    assert session.execute(text("SELECT count(*) FROM resident")).scalar_one() == 0  # no identity bound yet

    worker2 = session.query(AppUser).filter_by(username="worker2").one()
    scopes.bind(session, scopes.resolve(session, worker2))
    visible = set(session.execute(text("SELECT DISTINCT household_id FROM resident")).scalars())
    assert visible and visible <= _village_households(session, "worker2")
    contacts = set(session.execute(text("SELECT event_id FROM event_contact")).scalars())
    in_scope_events = set(session.execute(text("""
        SELECT m.entity_id FROM grid_membership m JOIN grid g ON g.id = m.grid_id
        JOIN grid_layer l ON l.id = m.layer_id AND l.code = 'comprehensive'
        WHERE m.kind = 'event' AND g.division_id = :d"""), {"d": worker2.division_id}).scalars())
    assert contacts <= in_scope_events

    # Writing a resident into another village is refused by the policy itself.
    import pytest
    from sqlalchemy.exc import ProgrammingError

    foreign = min(_village_households(session, "head1"))
    with pytest.raises(ProgrammingError):
        with session.begin_nested():
            session.execute(text("INSERT INTO resident (household_id, name, id_number, phone)"
                                 " VALUES (:h, '王五', '11010519491231002X', '')"), {"h": foreign})
    assert total > len(visible)


def test_scope_never_leaks_to_the_next_transaction(engine) -> None:  # noqa: ANN001
    """set_config(..., true) is transaction-local: a pooled connection starts clean."""
    from geo.settings import APP_ROLE

    with engine.connect() as conn:
        conn.execute(text(f"SET ROLE {APP_ROLE}"))
        conn.commit()
        conn.execute(text("SELECT set_config('gridmap.scope_all', 'on', true)"))
        assert conn.execute(text("SELECT count(*) FROM resident")).scalar_one() > 0
        conn.commit()
        assert conn.execute(text("SELECT count(*) FROM resident")).scalar_one() == 0
        conn.execute(text("RESET ROLE"))
        conn.commit()
