"""Heavy requests: one account cannot take every slot, the process has a bound, results are reused."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

HEAVY = [
    ("/fusion/pairs", {"a": "layer:party", "b": "layer:comprehensive", "division": "520111001201"}, "planner"),
    ("/fusion", {"division": "520111001201", "f": "csv"}, "planner"),
    ("/fusion", {"division": "520111001201", "f": "geojson"}, "planner"),
    ("/layers/party/topology", {"division": "520111001201"}, "planner"),
    ("/residents/export", {"purpose": "heavy test"}, "head1"),
]


def _uid(session: Session, username: str) -> int:
    return session.execute(text("SELECT id FROM app_user WHERE username = :u"), {"u": username}).scalar_one()


def _fresh(app) -> None:  # noqa: ANN001
    """Empty this process's result cache, so the call below really computes."""
    app.state.heavy_cache = type(app.state.heavy_cache)(app.state.heavy_cache.max_bytes)


@pytest.mark.parametrize(("path", "params", "user"), HEAVY, ids=[f"{p}?{q.get('f', '')}" for p, q, _ in HEAVY])
def test_one_account_beyond_its_share_gets_429(app, as_user, session: Session, path, params, user) -> None:  # noqa: ANN001
    _fresh(app)
    limiter = app.state.heavy_limiter
    client = as_user(user)
    with limiter.slot(_uid(session, user), "t"), limiter.slot(_uid(session, user), "t"):  # per_user = 2
        r = client.get(path, params=params)
        assert r.status_code == 429, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert int(r.headers["retry-after"]) >= 1
    assert client.get(path, params=params).status_code == 200  # the slots are free again


@pytest.mark.parametrize(("path", "params", "user"), HEAVY, ids=[f"{p}?{q.get('f', '')}" for p, q, _ in HEAVY])
def test_a_full_process_answers_503_to_everyone_else(app, as_user, session: Session, path, params, user) -> None:  # noqa: ANN001
    _fresh(app)
    limiter = app.state.heavy_limiter
    others = [_uid(session, u) for u in ("admin", "viewer", "emergency")]  # total = 3
    with limiter.slot(others[0], "t"), limiter.slot(others[1], "t"), limiter.slot(others[2], "t"):
        r = as_user(user).get(path, params=params)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert int(r.headers["retry-after"]) >= 1 and r.json()["retry_after"] >= 1
        assert as_user("planner").get("/locate", params={"lon": 106.69, "lat": 26.41}).status_code in (200, 404)
    assert limiter._count == 0 and not limiter._running  # noqa: SLF001 - every slot was given back


def test_a_repeated_analysis_is_served_from_the_cache_until_the_data_changes(app, as_user, session: Session) -> None:  # noqa: ANN001
    _fresh(app)
    planner = as_user("planner")
    params = {"a": "layer:party", "b": "layer:comprehensive", "division": "520111001201"}
    first = planner.get("/fusion/pairs", params=params)
    assert first.status_code == 200 and first.headers["x-cache"] == "miss"
    limiter = app.state.heavy_limiter
    uid = _uid(session, "planner")
    with limiter.slot(uid, "t"), limiter.slot(uid, "t"):  # a cached answer needs no slot
        again = planner.get("/fusion/pairs", params=params)
    assert again.headers["x-cache"] == "hit" and again.content == first.content
    # an edit (a new grid version) invalidates it
    session.execute(text("UPDATE grid SET name = name || ' ' WHERE id = (SELECT min(id) FROM grid)"))
    changed = planner.get("/fusion/pairs", params=params)
    assert changed.status_code == 200 and changed.headers["x-cache"] == "miss"
    assert planner.get("/fusion/pairs", params=params).headers["x-cache"] == "hit"
    # so does a change to the households (stamped by a trigger, migration 0010)
    session.execute(text("UPDATE household SET residents = residents WHERE id = (SELECT min(id) FROM household)"))
    assert planner.get("/fusion/pairs", params=params).headers["x-cache"] == "miss"


def test_cached_results_are_never_shared_between_territories(app, as_user) -> None:  # noqa: ANN001
    _fresh(app)
    params = {"f": "geojson"}
    county = as_user("planner").get("/fusion", params=params)
    village = as_user("head1").get("/fusion", params=params)
    assert county.status_code == village.status_code == 200
    assert village.headers["x-cache"] == "miss"
    assert len(village.json()["features"]) < len(county.json()["features"])


def test_the_residents_export_is_never_cached(app, as_user) -> None:  # noqa: ANN001
    _fresh(app)
    for _ in range(2):
        r = as_user("head1").get("/residents/export", params={"purpose": "heavy test"})
        assert r.status_code == 200 and "x-cache" not in r.headers
    assert not app.state.heavy_cache._items  # noqa: SLF001
