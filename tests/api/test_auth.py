"""Login, tokens and their refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.security import ALGORITHM, AUDIENCE, ISSUER

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


def test_five_failures_lock_the_account(anonymous: TestClient) -> None:
    for _ in range(5):
        assert _login(anonymous, "worker2", "wrong-password-123").status_code == 401
    r = _login(anonymous, "worker2", TEST_PASSWORD)
    assert r.status_code == 401 and "locked" in r.json()["detail"]


def _claims(**over: object) -> dict[str, object]:
    now = datetime.now(UTC)
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "1", "ver": 1, "iat": now, "exp": now + timedelta(minutes=5),
            "typ": "access", "role": "admin"}
    base.update(over)
    return base


def _admin_claims(session: Session, **over: object) -> dict[str, object]:
    uid, ver = session.execute(text("SELECT id, token_version FROM app_user WHERE username = 'admin'")).one()
    return _claims(sub=str(uid), ver=ver, **over)


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
    from geo.security import set_disabled, set_password

    headers = {"Authorization": f"Bearer {tokens['viewer']}"}
    assert anonymous.get("/layers", headers=headers).status_code == 200
    set_password(session, "viewer", "a-brand-new-password")
    assert anonymous.get("/layers", headers=headers).status_code == 401
    fresh = _login(anonymous, "viewer", "a-brand-new-password").json()["access_token"]
    set_disabled(session, "viewer")
    assert anonymous.get("/layers", headers={"Authorization": f"Bearer {fresh}"}).status_code == 401
    assert _login(anonymous, "viewer", "a-brand-new-password").status_code == 401


def test_short_passwords_are_refused(session: Session) -> None:
    from geo.errors import InvalidInput
    from geo.permissions import Role
    from geo.security import create_user

    with pytest.raises(InvalidInput):
        create_user(session, username="shorty", password="short", role=Role.VIEWER)
