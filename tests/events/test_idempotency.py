"""Idempotency-Key: a retried submission never creates a second event — also under parallel retries
against a real, committing server."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from test_intake import interior_point

from geo.settings import DatabaseSettings, ServerSettings


def _body(session: Session, note: str) -> dict:
    p = interior_point(session)
    return {"category": "environment.garbage", "description": note, "location": {"lon": p["lon"], "lat": p["lat"]}}


def test_a_retry_gets_the_first_answer(anonymous: TestClient, session: Session) -> None:
    body, key = _body(session, "retry"), {"Idempotency-Key": str(uuid.uuid4())}
    first = anonymous.post("/events", json=body, headers=key)
    again = anonymous.post("/events", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert again.json() == first.json()
    assert session.execute(text("SELECT count(*) FROM event WHERE description = 'retry'")).scalar_one() == 1


def test_the_same_key_with_another_body_is_refused(anonymous: TestClient, session: Session) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    assert anonymous.post("/events", json=_body(session, "one"), headers=key).status_code == 201
    r = anonymous.post("/events", json=_body(session, "two"), headers=key)
    assert r.status_code == 422 and r.json()["pointer"] == "Idempotency-Key"
    assert session.execute(text("SELECT count(*) FROM event WHERE description = 'two'")).scalar_one() == 0


def test_keys_are_per_caller(as_user, session: Session) -> None:  # noqa: ANN001
    key = {"Idempotency-Key": "same-key-different-people"}
    a = as_user("worker1").post("/events", json=_body(session, "a"), headers=key)
    b = as_user("head1").post("/events", json=_body(session, "b"), headers=key)
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]
    bad = as_user("head1").post("/events", json=_body(session, "c"), headers={"Idempotency-Key": "\x01"})
    assert bad.status_code == 422


def test_twenty_parallel_copies_make_one_event(small: Engine) -> None:
    from api.main import create_app

    app = create_app(DatabaseSettings(database_url=small.url.render_as_string(hide_password=False), pool_size=20),
                     ServerSettings(public_reports_per_minute=1000))
    with small.connect() as conn:
        p = conn.execute(text("""SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grid
                                 ORDER BY id LIMIT 1""")).one()
    note = f"parallel {uuid.uuid4()}"
    body = {"category": "environment.garbage", "description": note, "location": {"lon": p[0], "lat": p[1]}}
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    with TestClient(app) as client, ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: client.post("/events", json=body, headers=headers), range(20)))
    codes = sorted(r.status_code for r in answers)
    assert set(codes) <= {201, 409} and 201 in codes, codes
    created = {r.json()["id"] for r in answers if r.status_code == 201}
    assert len(created) == 1  # every 201 names the same event
    assert sum(1 for r in answers if r.status_code == 201 and "idempotent-replayed" not in r.headers) == 1
    with small.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event WHERE description = :d"), {"d": note}).scalar_one() == 1
    app.state.engine.dispose()
