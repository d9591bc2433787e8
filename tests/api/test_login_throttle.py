"""Sign-in throttling: no lockout a stranger can trigger, no oracle for which usernames exist."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.login_throttle import ThrottlePolicy, delay_s
from geo.access.security import Unauthorized, authenticate
from geo.errors import TooManyRequests
from geo.privacy.audit import Actor

TEST_PASSWORD = "test-password-for-all-roles"
WRONG = "wrong-password-123"


def _login(client: TestClient, username: str, password: str):  # noqa: ANN202
    return client.post("/auth/token", data={"grant_type": "password", "username": username, "password": password})


def _shape(r) -> tuple:  # noqa: ANN001
    """What a caller can observe of a refusal, apart from the date."""
    headers = {k: v for k, v in r.headers.items() if k not in ("date", "x-request-id")}
    return r.status_code, r.json(), headers


def test_failures_and_throttle_look_the_same_for_real_and_unknown_accounts(anonymous: TestClient,
                                                                          session: Session) -> None:
    real, unknown = [], []
    for _ in range(3):  # 3 free failures per (account, address), then a wait
        real.append(_shape(_login(anonymous, "worker2", WRONG)))
        unknown.append(_shape(_login(anonymous, "no-such-user", WRONG)))
    _hold_blocks(session)
    real.append(_shape(_login(anonymous, "worker2", WRONG)))
    unknown.append(_shape(_login(anonymous, "no-such-user", WRONG)))
    assert [s[0] for s in real] == [401, 401, 401, 429]
    assert real == unknown
    assert real[3][2]["retry-after"] == "30" and "retry in 30 s" in real[3][1]["detail"]


def _hold_blocks(session: Session) -> None:
    """Keep every running delay (1 s) running for 30 s, so the next attempt meets it however slow this machine is."""
    session.execute(text("UPDATE login_throttle SET blocked_until = clock_timestamp() + interval '30 s'"
                         " WHERE blocked_until IS NOT NULL"))


def test_throttled_attempt_is_refused_even_with_the_right_password(anonymous: TestClient, session: Session) -> None:
    for _ in range(3):
        _login(anonymous, "worker2", WRONG)
    _hold_blocks(session)
    r = _login(anonymous, "worker2", TEST_PASSWORD)
    assert r.status_code == 429 and r.headers["content-type"] == "application/problem+json"


def test_a_stranger_cannot_lock_out_the_admin(anonymous: TestClient, session: Session) -> None:
    """The old lock: five wrong passwords from anyone kept the admin out for 15 minutes."""
    session.execute(text("UPDATE app_user SET failed_logins = 0, locked_until = NULL"))
    for _ in range(3):
        _login(anonymous, "admin", WRONG)  # the pair (admin, testclient) is now throttled
    _age_blocks(session)
    assert _login(anonymous, "admin", TEST_PASSWORD).status_code == 200


def _age_blocks(session: Session) -> None:
    """Let every current delay run out (instead of sleeping)."""
    session.execute(text("UPDATE login_throttle SET blocked_until = now() - interval '1 second'"))


def _actor(address: str, username: str = "admin") -> Actor:
    return Actor(None, username, "test", address)


def _try(session: Session, username: str, password: str, address: str, policy: ThrottlePolicy,
         now: datetime) -> str:
    try:
        authenticate(session, username, password, actor=_actor(address, username), policy=policy, now=now)
        return "ok"
    except Unauthorized:
        return "401"
    except TooManyRequests as exc:
        return f"429:{exc.extra['retry_after']}"


def test_delays_double_per_failure(session: Session) -> None:
    policy = ThrottlePolicy(pair_failures=3)
    t = datetime.now(UTC)
    assert [_try(session, "worker1", WRONG, "10.1.0.1", policy, t) for _ in range(3)] == ["401"] * 3
    waits = []
    for _ in range(4):
        waits.append(_try(session, "worker1", WRONG, "10.1.0.1", policy, t))
        t += timedelta(seconds=int(waits[-1].split(":")[1]) + 0.01)
        assert _try(session, "worker1", WRONG, "10.1.0.1", policy, t) == "401"
    assert waits == ["429:1", "429:2", "429:4", "429:8"]
    assert [delay_s(n, 3, 900) for n in (2, 3, 4, 5, 20)] == [0, 1, 2, 4, 900]
    # a success from that address clears the pair's failures
    t += timedelta(seconds=20)
    assert _try(session, "worker1", TEST_PASSWORD, "10.1.0.1", policy, t) == "ok"
    assert _try(session, "worker1", WRONG, "10.1.0.1", policy, t) == "401"


def test_account_under_distributed_attack_still_admits_its_known_address(session: Session) -> None:
    policy = ThrottlePolicy(pair_failures=3, address_failures=20, account_failures=5)
    t = datetime.now(UTC)
    assert _try(session, "planner", TEST_PASSWORD, "10.2.0.1", policy, t) == "ok"  # the owner's desk
    for i in range(5):  # one guess each from five addresses: the account bound starts
        assert _try(session, "planner", WRONG, f"10.9.0.{i}", policy, t) == "401"
    assert _try(session, "planner", TEST_PASSWORD, "10.9.1.1", policy, t).startswith("429")  # a new address waits
    assert _try(session, "no-such-user", WRONG, "10.9.1.1", policy, t) == "401"  # other accounts are not affected
    assert _try(session, "planner", TEST_PASSWORD, "10.2.0.1", policy, t) == "ok"  # the known address gets in
    # an unknown account under the same attack behaves the same way
    for i in range(5):
        assert _try(session, "ghost", WRONG, f"10.9.0.{i}", policy, t) == "401"
    assert _try(session, "ghost", WRONG, "10.9.1.1", policy, t).startswith("429")


def test_one_address_spraying_many_accounts_is_slowed(session: Session) -> None:
    policy = ThrottlePolicy(pair_failures=3, address_failures=4, account_failures=50)
    t = datetime.now(UTC)
    for name in ("admin", "viewer", "auditor", "nobody1", "nobody2"):
        _try(session, name, WRONG, "10.3.0.1", policy, t)
    assert _try(session, "emergency", TEST_PASSWORD, "10.3.0.1", policy, t).startswith("429")
    assert _try(session, "emergency", TEST_PASSWORD, "10.3.0.2", policy, t) == "ok"


def test_every_delay_that_starts_is_audited_without_the_password(anonymous: TestClient, session: Session) -> None:
    for _ in range(3):
        _login(anonymous, "worker2", "a-secret-guess-42")
    rows = session.execute(text("SELECT username, outcome, detail::text AS detail, client FROM audit_log"
                                " WHERE action = 'auth.throttle' ORDER BY id")).all()
    assert rows and rows[-1].username == "worker2" and rows[-1].outcome == "denied"
    assert '"key": "pair"' in rows[-1].detail and rows[-1].client == "testclient"
    everything = session.execute(text("SELECT string_agg(t::text, ' ') FROM audit_log t")).scalar()
    assert "a-secret-guess-42" not in everything
    stored = session.execute(text("SELECT string_agg(t::text, ' ') FROM login_throttle t")).scalar()
    assert "worker2" not in stored and "testclient" not in stored  # keys are digests


def test_state_is_in_the_database_shared_by_workers(engine, district) -> None:  # noqa: ANN001
    """Two engines (as two worker processes would have) see one count; committed for real."""
    from geo.db import make_engine, make_sessionmaker, transaction
    from geo.settings import DatabaseSettings

    url = engine.url.render_as_string(hide_password=False)
    policy = ThrottlePolicy(pair_failures=2)
    t = datetime.now(UTC)
    engines = [make_engine(DatabaseSettings(database_url=url, pool_size=1)) for _ in range(2)]
    try:
        results = []
        for i in range(3):
            with transaction(make_sessionmaker(engines[i % 2])) as s:
                results.append(_try(s, "anyone", WRONG, "10.4.0.1", policy, t))
        assert results == ["401", "401", "429:1"]
    finally:
        with engines[0].begin() as conn:
            conn.execute(text("DELETE FROM login_throttle"))
        for e in engines:
            e.dispose()


@pytest.mark.parametrize("username", ["worker1", "no-such-account"])
def test_refusals_take_about_as_long_as_a_real_check(session: Session, username: str) -> None:
    """An unknown account is hashed against a dummy hash: no timing oracle (coarse bound, 2-core CI)."""
    policy = ThrottlePolicy(pair_failures=100, address_failures=100, account_failures=100)
    t = datetime.now(UTC)

    def timed(name: str) -> float:
        start = time.perf_counter()
        _try(session, name, WRONG, "10.5.0.1", policy, t)
        return time.perf_counter() - start

    real = statistics.median(timed("worker1") for _ in range(3))
    other = statistics.median(timed(username) for _ in range(3))
    assert other > real / 3, (real, other)
