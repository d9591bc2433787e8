"""Test fixtures on a real PostGIS.

A fresh database is created for each test run from the PostGIS template that
``gridmap db up`` provisions (or at GRIDMAP_TEST_DATABASE_URL), migrated, and
loaded once with a demo district. Every test then runs inside a transaction
that is rolled back (SQLAlchemy 2's "join an external transaction" recipe with
savepoints), so tests never see each other's writes and run in any order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from geo.db import make_sessionmaker, transaction
from geo.migrate import upgrade
from geo.settings import APP_ROLE, DatabaseSettings, ServerSettings

TEST_COUNTY = "520111"
TEST_ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
TEST_PASSWORD = "test-password-for-all-roles"


def _fresh_database() -> str:
    explicit = os.environ.get("GRIDMAP_TEST_DATABASE_URL")
    if explicit:
        return explicit
    from importers.provision import TEMPLATE_DATABASE, provision_local

    if DatabaseSettings().is_default:  # no GRIDMAP_DATABASE_URL: the local cluster, passwords in the secrets file
        provision_local()
    base = DatabaseSettings().database_url
    name = f"gridmap_test_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        stale = conn.execute(text("SELECT datname FROM pg_database WHERE datname ~ '^gridmap_test_[0-9]+(_.*)?$'"))
        for (old,) in stale.all():  # left by an interrupted run whose process is gone
            pid = int(old.split("_")[2])
            if pid != os.getpid() and not os.path.exists(f"/proc/{pid}"):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{old}"'))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DATABASE}"'))
    admin.dispose()
    return str(make_url(base).set(database=name).render_as_string(hide_password=False))


def drop_database(admin_url: str, name: str) -> None:
    """Drop a throw-away database. WITH (FORCE) cannot end an autovacuum worker (a superuser
    process) as the owner role, so on refusal the plain DROP is retried: it cancels autovacuum."""
    import time

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        for attempt in range(10):
            try:
                with admin.connect() as conn:
                    force = " WITH (FORCE)" if attempt == 0 else ""
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"{force}'))
                return
            except Exception:  # noqa: BLE001 - retried, then reported
                time.sleep(0.5)
        raise RuntimeError(f"could not drop the test database {name}")
    finally:
        admin.dispose()


def _drop_database(url: str) -> None:
    if os.environ.get("GRIDMAP_TEST_DATABASE_URL"):
        return
    drop_database(DatabaseSettings().database_url, make_url(url).database)


@pytest.fixture(scope="session")
def db_settings() -> Iterator[DatabaseSettings]:
    url = _fresh_database()
    upgrade(url)
    yield DatabaseSettings(database_url=url, pool_size=4)
    _drop_database(url)


def template_copy(owner_url: str, suffix: str) -> str:
    """A new, unmigrated database ``<test database>_<suffix>`` made from the PostGIS template (any left
    over from an interrupted run is dropped first); returns its URL. Drop it with ``drop_database``."""
    from importers.provision import TEMPLATE_DATABASE

    base = make_url(owner_url)
    name = f"{base.database}_{suffix}"
    drop_database(owner_url, name)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DATABASE}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def small(db_settings: DatabaseSettings, request) -> Iterator[Engine]:  # noqa: ANN001
    """A small district in a database of its own, for tests whose edits really commit."""
    from geo.db import make_engine
    from importers.demo import PlanParams, clear_district, load_demo

    url = template_copy(db_settings.database_url, request.module.__name__.rsplit('.', 1)[-1][:20])
    upgrade(url)
    engine = make_engine(DatabaseSettings(database_url=url, pool_size=8))
    with transaction(make_sessionmaker(engine)) as s:
        clear_district(s)
        load_demo(s, seed=11, params=PlanParams(townships=2, villages_per_township=3, grids=30, households=3000,
                                                misalignments=1), cameras_per_township=10, events=100)
    yield engine
    engine.dispose()
    drop_database(db_settings.database_url, make_url(url).database)


@pytest.fixture(scope="session")
def engine(db_settings: DatabaseSettings) -> Iterator[Engine]:
    from geo.db import make_engine

    eng = make_engine(db_settings)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def district(engine: Engine):  # noqa: ANN201 - DemoSummary
    """The demo district at test scale: the real Huaxi boundary and 548 grids, fewer people."""
    from importers.demo import PlanParams, clear_district, load_demo
    from importers.demo.users import create_demo_users

    with transaction(make_sessionmaker(engine)) as session:
        clear_district(session)
        summary = load_demo(
            session,
            county=TEST_COUNTY,
            seed=7,
            params=PlanParams(households=20_000),
            cameras_per_township=40,
            events=2_000,
            anchor=TEST_ANCHOR,
        )
        create_demo_users(session, TEST_PASSWORD)  # admin, auditor, planner, viewer, ..., worker1, worker2
        return summary


@pytest.fixture
def connection(engine: Engine, district) -> Iterator[Connection]:  # noqa: ANN001
    """The test's connection, acting as the application role (no ownership, row-level security applies)."""
    conn = engine.connect()
    outer = conn.begin()
    conn.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
    try:
        yield conn
    finally:
        outer.rollback()
        conn.close()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    """A session whose commits become savepoints of the test's outer transaction."""
    s = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def app(db_settings: DatabaseSettings):  # noqa: ANN201
    from api.main import create_app

    # The report limit has its own tests (tests/events/test_client_address.py, tests/api/test_server_limits.py).
    return create_app(db_settings, ServerSettings(public_reports_per_minute=100_000, public_reports_burst=100_000))


@pytest.fixture
def anonymous(app, session: Session) -> Iterator[TestClient]:  # noqa: ANN001
    """The API without credentials, every request in this test's rolled-back transaction."""
    from api.deps import get_session

    def _session() -> Iterator[Session]:
        yield session
        session.flush()

    app.dependency_overrides[get_session] = _session
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.dependency_overrides.clear()


@pytest.fixture(scope="session")
def tokens(app, engine: Engine, district) -> dict[str, str]:  # noqa: ANN001
    """An access token for every demo account, issued directly (login itself is tested in test_auth)."""
    from geo.models.users import AppUser

    with make_sessionmaker(engine)() as s:
        users = s.query(AppUser).all()
        s.expunge_all()
    return FreshTokens(users, app.state.token_settings)


class FreshTokens(dict):
    """Access tokens by username, issued again when half their lifetime is gone.

    Issued once per session, they expired mid-suite on a loaded machine (the suite took 38 minutes,
    tokens live 15) and every later test met "the token has expired"."""

    def __init__(self, users: list, settings) -> None:  # noqa: ANN001
        from geo.access.security import issue_tokens

        self._issue = lambda u: str(issue_tokens(u, settings)["access_token"])
        self._users = {u.username: u for u in users}
        self._half_life = settings.access_minutes * 30
        self._issued: dict[str, float] = {}
        super().__init__({name: self._fresh(name) for name in self._users})

    def _fresh(self, name: str) -> str:
        self._issued[name] = time.monotonic()
        return self._issue(self._users[name])

    def __getitem__(self, name: str) -> str:
        if name in self._users and time.monotonic() - self._issued[name] > self._half_life:
            super().__setitem__(name, self._fresh(name))
        return super().__getitem__(name)


@pytest.fixture
def as_user(anonymous: TestClient, tokens: dict[str, str]):  # noqa: ANN201
    """``as_user("worker1")`` sets that account's bearer token on the client and returns it."""

    def _as(username: str) -> TestClient:
        anonymous.headers["Authorization"] = f"Bearer {tokens[username]}"
        return anonymous

    return _as


@pytest.fixture
def client(as_user) -> TestClient:  # noqa: ANN001
    """The API as the county-wide admin."""
    return as_user("admin")
