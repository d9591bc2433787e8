"""Login, tokens and their refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.security import ALGORITHM, AUDIENCE, ISSUER

TEST_PASSWORD = "test-password-for-all-roles"  # the one conftest gives every demo account


def _login(client: TestClient, username: str, password: str):  # noqa: ANN202
    return client.post("/auth/token", data={"grant_type": "password", "username": username, "password": password})


def test_login_returns_tokens_that_work(anonymous: TestClient) -> None:
    r = _login(anonymous, "worker1", TEST_PASSWORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["user"]["role"] == "grid_worker"
    me = anonymous.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["username"] == "worker1"
    fresh = anonymous.post("/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert fresh.status_code == 200 and fresh.json()["access_token"]


def test_wrong_password_and_unknown_user_look_the_same(anonymous: TestClient) -> None:
    a = _login(anonymous, "worker1", "wrong-password-123")
    b = _login(anonymous, "nobody-here", "wrong-password-123")
    assert a.status_code == b.status_code == 401
    assert a.json()["detail"] == b.json()["detail"]
    assert a.headers["www-authenticate"].startswith("Bearer")


def _claims(**over: object) -> dict[str, object]:
    now = datetime.now(UTC)
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "1", "ver": 1, "iat": now, "exp": now + timedelta(minutes=5),
            "typ": "access", "role": "admin"}
    base.update(over)
    return base


def _admin_claims(session: Session, **over: object) -> dict[str, object]:
    uid, ver = session.execute(text("SELECT id, token_version FROM app_user WHERE username = 'admin'")).one()
    return _claims(**{"sub": str(uid), "ver": ver, **over})


@pytest.mark.parametrize("case", ["none", "wrong_key", "expired", "audience", "issuer", "refresh_as_access",
                                  "missing_claim", "garbage"])
def test_bad_tokens_are_refused(anonymous: TestClient, app, session: Session, case: str) -> None:  # noqa: ANN001
    key = app.state.token_settings.key
    if case == "none":
        token = jwt.encode(_admin_claims(session), None, algorithm="none")
    elif case == "wrong_key":
        token = jwt.encode(_admin_claims(session), "x" * 64, algorithm=ALGORITHM)
    elif case == "expired":
        past = datetime.now(UTC) - timedelta(hours=1)
        token = jwt.encode(_admin_claims(session, iat=past - timedelta(minutes=5), exp=past), key, ALGORITHM)
    elif case == "audience":
        token = jwt.encode(_admin_claims(session, aud="another-service"), key, ALGORITHM)
    elif case == "issuer":
        token = jwt.encode(_admin_claims(session, iss="someone-else"), key, ALGORITHM)
    elif case == "refresh_as_access":
        token = jwt.encode(_admin_claims(session, typ="refresh"), key, ALGORITHM)
    elif case == "missing_claim":
        claims = _admin_claims(session)
        del claims["ver"]
        token = jwt.encode(claims, key, ALGORITHM)
    else:
        token = "not.a.token"
    r = anonymous.get("/layers", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, (case, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    assert token not in r.text


def test_password_change_and_disable_revoke_tokens(anonymous: TestClient, session: Session, tokens) -> None:  # noqa: ANN001
    from geo.access.security import set_disabled, set_password

    headers = {"Authorization": f"Bearer {tokens['viewer']}"}
    assert anonymous.get("/layers", headers=headers).status_code == 200
    set_password(session, "viewer", "a-brand-new-password")
    assert anonymous.get("/layers", headers=headers).status_code == 401
    fresh = _login(anonymous, "viewer", "a-brand-new-password").json()["access_token"]
    set_disabled(session, "viewer")
    assert anonymous.get("/layers", headers={"Authorization": f"Bearer {fresh}"}).status_code == 401
    assert _login(anonymous, "viewer", "a-brand-new-password").status_code == 401


def test_short_passwords_are_refused(session: Session) -> None:
    from geo.access.permissions import Role
    from geo.access.security import create_user
    from geo.errors import InvalidInput

    with pytest.raises(InvalidInput):
        create_user(session, username="shorty", password="short", role=Role.VIEWER)


def _long(session: Session, kind: str, hours: float) -> dict[str, object]:
    now = datetime.now(UTC)
    return _admin_claims(session, typ=kind, iat=now, exp=now + timedelta(hours=hours))


MALFORMED = {
    "sub_not_a_number": lambda s: _admin_claims(s, sub="admin"),
    "sub_decimal": lambda s: _admin_claims(s, sub="1.5"),
    "sub_huge": lambda s: _admin_claims(s, sub="9" * 40),
    "sub_negative": lambda s: _admin_claims(s, sub="-1"),
    "sub_number_type": lambda s: _admin_claims(s, sub=1),
    "ver_string": lambda s: _admin_claims(s, ver="1"),
    "ver_bool": lambda s: _admin_claims(s, ver=True),
    "iat_string": lambda s: _admin_claims(s, iat="yesterday"),
    "exp_string": lambda s: _admin_claims(s, exp="tomorrow"),
    "missing_iat": lambda s: {k: v for k, v in _admin_claims(s).items() if k != "iat"},
    "missing_exp": lambda s: {k: v for k, v in _admin_claims(s).items() if k != "exp"},
    "typ_unknown": lambda s: _admin_claims(s, typ="id"),
    "ten_year_access": lambda s: _long(s, "access", 24 * 365 * 10),
    "access_just_over_its_lifetime": lambda s: _long(s, "access", 16 / 60),
    # Found by the attack on issue 12: an iat beyond what a datetime holds answered 500.
    "iat_beyond_the_calendar": lambda s: _admin_claims(s, iat=10**15, exp=10**15 + 60),
    "iat_before_the_calendar": lambda s: _admin_claims(s, iat=-10**15, exp=int(datetime.now(UTC).timestamp()) + 60),
    "iat_in_the_future": lambda s: _admin_claims(s, iat=datetime.now(UTC) + timedelta(minutes=10),
                                                 exp=datetime.now(UTC) + timedelta(minutes=12)),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_or_overlong_tokens_signed_with_the_real_key_answer_401(anonymous: TestClient, app, session: Session,  # noqa: ANN001
                                                                           case: str) -> None:
    token = jwt.encode(MALFORMED[case](session), app.state.token_settings.key, ALGORITHM)
    r = anonymous.get("/layers", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, (case, r.text)
    assert r.headers["content-type"] == "application/problem+json"


def test_a_well_formed_token_signed_with_the_real_key_is_accepted(anonymous: TestClient, app, session: Session) -> None:  # noqa: ANN001
    """The control for the cases above: the same claims, unaltered, work."""
    token = jwt.encode(_admin_claims(session), app.state.token_settings.key, ALGORITHM)
    assert anonymous.get("/layers", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize("case", ["thirty_day_refresh", "sub_not_a_number", "access_as_refresh"])
def test_bad_refresh_tokens_answer_401(anonymous: TestClient, app, session: Session, case: str) -> None:  # noqa: ANN001
    claims = {"thirty_day_refresh": _long(session, "refresh", 24 * 30),
              "sub_not_a_number": _admin_claims(session, typ="refresh", sub="x1"),
              "access_as_refresh": _admin_claims(session)}[case]
    token = jwt.encode(claims, app.state.token_settings.key, ALGORITHM)
    r = anonymous.post("/auth/refresh", json={"refresh_token": token})
    assert r.status_code == 401, (case, r.text)
    ok = jwt.encode(_long(session, "refresh", 11), app.state.token_settings.key, ALGORITHM)
    assert anonymous.post("/auth/refresh", json={"refresh_token": ok}).status_code == 200
