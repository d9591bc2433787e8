"""The real client address: forwarded headers only from trusted proxies; the per-address limit and
anonymous idempotency keys follow it, replays are free, and the audit log records the same address."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session
from test_intake import interior_point

from api.ratelimit import ReportLimit
from geo.settings import DatabaseSettings, ServerSettings


@pytest.fixture(scope="module")
def proxied_app(db_settings: DatabaseSettings):  # noqa: ANN201
    """The app behind a reverse proxy at 127.0.0.1 (GRIDMAP_TRUSTED_PROXIES)."""
    from api.main import create_app

    return create_app(db_settings, ServerSettings(trusted_proxies="127.0.0.1, 10.8.0.0/16",
                                                  public_reports_per_minute=100_000, public_reports_burst=100_000))


def _client(app, session: Session, peer: str) -> Iterator[TestClient]:  # noqa: ANN001
    from api.deps import get_session

    def _session() -> Iterator[Session]:
        yield session
        session.flush()

    app.dependency_overrides[get_session] = _session
    with TestClient(app, raise_server_exceptions=False, client=(peer, 40_000)) as c:
        yield c
    app.dependency_overrides.clear()


@pytest.fixture
def via_loopback(app, session: Session) -> Iterator[TestClient]:  # noqa: ANN001
    """Default settings, a peer on loopback: what uvicorn trusted by default."""
    yield from _client(app, session, "127.0.0.1")


@pytest.fixture
def via_proxy(proxied_app, session: Session) -> Iterator[TestClient]:  # noqa: ANN001
    yield from _client(proxied_app, session, "127.0.0.1")


@pytest.fixture
def direct_to_proxied(proxied_app, session: Session) -> Iterator[TestClient]:  # noqa: ANN001
    """A caller who reaches the proxied app without going through the proxy."""
    yield from _client(proxied_app, session, "203.0.113.5")


def report(client: TestClient, location: dict, headers: dict[str, str] | None = None):  # noqa: ANN201
    body = {"category": "environment.garbage", "description": "垃圾堆放在路边", "location": location}
    return client.post("/events", json=body, headers=headers)


def _audited_client(session: Session, event_id: int) -> str:
    return session.execute(text("SELECT client FROM audit_log WHERE entity = 'event' AND entity_id = :e"
                                " ORDER BY id LIMIT 1"), {"e": str(event_id)}).scalar_one()


def _forged(i: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"198.51.100.{i}", "Idempotency-Key": "same-key"}


def test_forwarded_headers_are_ignored_by_default(via_loopback: TestClient, session: Session) -> None:
    """Varying X-Forwarded-For from one client once gave 20 events for one Idempotency-Key."""
    p = interior_point(session)
    answers = [report(via_loopback, {"lon": p["lon"], "lat": p["lat"]}, headers=_forged(i)) for i in range(1, 6)]
    assert [r.status_code for r in answers] == [201] * 5
    assert len({r.json()["id"] for r in answers}) == 1
    assert all(r.headers.get("idempotent-replayed") == "true" for r in answers[1:])
    assert _audited_client(session, answers[0].json()["id"]) == "127.0.0.1"


def test_a_trusted_proxy_names_the_client(via_proxy: TestClient, session: Session) -> None:
    p = interior_point(session)
    loc = {"lon": p["lon"], "lat": p["lat"]}
    first, other, again = (report(via_proxy, loc, headers=_forged(i)) for i in (1, 2, 1))
    assert first.status_code == other.status_code == again.status_code == 201
    assert first.json()["id"] != other.json()["id"]  # two real clients, each with their own key space
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    assert _audited_client(session, first.json()["id"]) == "198.51.100.1"
    assert _audited_client(session, other.json()["id"]) == "198.51.100.2"
    # Through two trusted hops (a proxy in 10.8.0.0/16 behind the one at 127.0.0.1): the first untrusted address.
    chained = report(via_proxy, loc, headers={"X-Forwarded-For": "198.51.100.9, 10.8.3.4"})
    assert chained.status_code == 201 and _audited_client(session, chained.json()["id"]) == "198.51.100.9"


def test_an_untrusted_peer_cannot_claim_another_address(direct_to_proxied: TestClient, session: Session) -> None:
    p = interior_point(session)
    answers = [report(direct_to_proxied, {"lon": p["lon"], "lat": p["lat"]}, headers=_forged(i)) for i in (1, 2, 3)]
    assert len({r.json()["id"] for r in answers}) == 1
    assert _audited_client(session, answers[0].json()["id"]) == "203.0.113.5"


def test_the_limit_follows_the_real_client(app, via_loopback: TestClient, session: Session) -> None:  # noqa: ANN001
    p = interior_point(session)
    saved = app.state.report_limit
    app.state.report_limit = ReportLimit(app.state.engine, per_minute=1, burst=2, prefix=f"test{uuid.uuid4().hex}")
    try:
        codes = [report(via_loopback, {"lon": p["lon"], "lat": p["lat"]},
                        headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(1, 5)]
        assert codes == [201, 201, 429, 429]
    finally:
        app.state.report_limit = saved


def test_a_replay_does_not_count_against_the_limit(
        app, anonymous: TestClient, session: Session) -> None:  # noqa: ANN001
    p = interior_point(session)
    loc = {"lon": p["lon"], "lat": p["lat"]}
    saved = app.state.report_limit
    app.state.report_limit = ReportLimit(app.state.engine, per_minute=1, burst=2, prefix=f"test{uuid.uuid4().hex}")
    try:
        first = report(anonymous, loc, headers={"Idempotency-Key": "retry-me"})
        replays = [report(anonymous, loc, headers={"Idempotency-Key": "retry-me"}) for _ in range(5)]
        assert first.status_code == 201 and [r.status_code for r in replays] == [201] * 5
        assert {r.json()["id"] for r in replays} == {first.json()["id"]}
        form = {"service_code": "environment.garbage", "lat": p["lat"], "long": p["lon"]}
        o311 = anonymous.post("/open311/v2/requests.json", data=form, headers={"Idempotency-Key": "o311"})
        assert o311.status_code == 201, o311.text  # the second token
        again = [anonymous.post("/open311/v2/requests.json", data=form, headers={"Idempotency-Key": "o311"})
                 for _ in range(3)]
        assert [r.status_code for r in again] == [201] * 3 and again[0].json() == o311.json()
        refused = report(anonymous, loc)  # a new report: the bucket is empty now
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    finally:
        app.state.report_limit = saved


def test_a_kiosk_may_send_a_burst(app, anonymous: TestClient, session: Session) -> None:  # noqa: ANN001
    """Ten reports at once from one address (a village kiosk after a meeting) with the default rate of 6 a minute."""
    p = interior_point(session)
    saved = app.state.report_limit
    defaults = ServerSettings()
    app.state.report_limit = ReportLimit(app.state.engine, defaults.public_reports_per_minute,
                                         defaults.public_reports_burst, prefix=f"test{uuid.uuid4().hex}")
    try:
        codes = [report(anonymous, {"lon": p["lon"], "lat": p["lat"]}).status_code for _ in range(10)]
        assert codes == [201] * 10 and defaults.public_reports_burst >= 10
    finally:
        app.state.report_limit = saved


@pytest.mark.parametrize("value", ["localhost", "10.0.0.0/33", "127.0.0.1,,nonsense"])
def test_a_mistyped_proxy_fails_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="GRIDMAP_TRUSTED_PROXIES"):
        ServerSettings(trusted_proxies=value)
    assert ServerSettings(trusted_proxies="").trusted_proxy_list == []
