"""The app and accounts the import API tests share: a small district whose writes really commit.

Import jobs are planned after the answer, in transactions of their own (as in production), so their tests
cannot run in the usual rolled-back transaction; the ``small`` district has a database of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from geo.access.permissions import Role
from geo.access.security import create_user, issue_tokens
from geo.db import make_sessionmaker, transaction
from geo.settings import DatabaseSettings, ServerSettings
from importers.demo.users import create_demo_users

PASSWORD = "imports-test-password-1"
UPLOAD_MAX_MB = 3  # above the 2 MB general body limit, so the test shows the upload has its own


@dataclass
class Site:
    app: object
    engine: Engine
    tokens: dict[str, str]
    towns: list[str]  # township division codes, first two


@pytest.fixture(scope="module")
def site(small: Engine) -> Iterator[Site]:
    from api.main import create_app

    with transaction(make_sessionmaker(small)) as s:
        s.execute(text("DELETE FROM app_user"))
        create_demo_users(s, PASSWORD)
        towns = list(s.execute(text("SELECT code FROM division WHERE level = 'township' ORDER BY code")).scalars())
        for name, town in (("planner_a", towns[0]), ("planner_b", towns[1])):
            create_user(s, username=name, password=PASSWORD, role=Role.PLANNER, division_code=town)
        # An admin of one township only: "admins see every job" must mean admins of the whole platform.
        create_user(s, username="admin_a", password=PASSWORD, role=Role.ADMIN, division_code=towns[0])
    url = small.url.render_as_string(hide_password=False)
    app = create_app(DatabaseSettings(database_url=url, pool_size=4),
                     ServerSettings(import_upload_max_mb=UPLOAD_MAX_MB))
    from geo.models.users import AppUser

    with make_sessionmaker(small)() as s:
        tokens = {u.username: str(issue_tokens(u, app.state.token_settings)["access_token"])
                  for u in s.query(AppUser).all()}
    yield Site(app, small, tokens, towns)
    app.state.engine.dispose()


@pytest.fixture
def http(site: Site) -> Iterator[TestClient]:
    with TestClient(site.app, raise_server_exceptions=False) as client:  # type: ignore[arg-type]
        yield client


def _as(site: Site, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {site.tokens[user]}"}


def jobs_count(site: Site) -> int:
    with site.engine.connect() as c:
        return int(c.execute(text("SELECT count(*) FROM import_job")).scalar_one())


