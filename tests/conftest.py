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
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from geo.db import make_sessionmaker, transaction
from geo.migrate import upgrade
from geo.settings import APP_ROLE, DatabaseSettings, ServerSettings

# A `gridmap serve` a test starts must not move the shared test district's responders (importers/demo/motion.py);
# the test of the motion sets its own interval.
os.environ.setdefault("GRIDMAP_DEMO_MOTION_SECONDS", "0")

TEST_COUNTY = "520111"
TEST_ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
TEST_PASSWORD = "test-password-for-all-roles"


def _run_id() -> int:
    """The pid that names this run's shared template databases: under pytest-xdist the controller's
    (every worker is its child, so they share them), else our own. The stale-database sweep in
    ``_fresh_database`` keys on it: a template outlives no run."""
    return os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()


def _owner_url() -> str:
    from importers.provision import provision_local

    if DatabaseSettings().is_default:  # no GRIDMAP_DATABASE_URL: the local cluster, passwords in the secrets file
        provision_local()
    return DatabaseSettings().database_url


def _sweep_stale(owner_url: str) -> None:
    """Drop throw-away databases left by an interrupted run whose process is gone."""
    admin = create_engine(owner_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        stale = conn.execute(text("SELECT datname FROM pg_database WHERE datname ~ '^gridmap_test_[0-9]+(_.*)?$'"))
        for (old,) in stale.all():
            pid = int(old.split("_")[2])
            if pid not in (os.getpid(), _run_id()) and not os.path.exists(f"/proc/{pid}"):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{old}"'))
    admin.dispose()


def _while_in_use(conn: Connection, statement: str, tries: int = 60) -> None:
    """Run a CREATE DATABASE ... TEMPLATE or a RENAME, which fail while any session is in the
    source database; PostgreSQL ends an autovacuum worker there but waits only 5 s for it, which a
    loaded machine can exceed. Retried a while, then the error is raised."""
    for attempt in range(tries):
        try:
            conn.execute(text(statement))
            return
        except OperationalError as e:
            if "is being accessed by other users" not in str(e) or attempt == tries - 1:
                raise
            time.sleep(1)


def _create_from(owner_url: str, name: str, template: str) -> str:
    """``CREATE DATABASE name TEMPLATE template`` (a file copy: well under a second for a migrated
    schema, against seconds for alembic and tens of seconds for a demo load); returns its URL."""
    admin = create_engine(owner_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        _while_in_use(conn, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    admin.dispose()
    return str(make_url(owner_url).set(database=name).render_as_string(hide_password=False))


def shared_template(owner_url: str, kind: str, build: Callable[[str], None], *, source: str | None = None) -> str:
    """The name of this run's template database ``kind``, built once per run by ``build(url)`` on a
    copy of ``source`` (default: the migrated template) and shared by every module and xdist worker.

    An advisory lock makes one process build it while the others wait; it is built under a
    temporary name and renamed when complete, so a half-built template is never copied. ``build``
    must close its connections (a database with sessions cannot be a template or renamed)."""
    from importers.provision import TEMPLATE_DATABASE

    name = f"gridmap_test_{_run_id()}_tpl_{kind}"
    if source is None and kind != "migrated":
        source = migrated_template(owner_url)
    # Advisory locks are per database: the lock is taken in the configured database, which every
    # worker shares, not in the worker's own.
    shared = os.environ.get("GRIDMAP_TEST_DATABASE_URL") or DatabaseSettings().database_url
    lock_url = make_url(owner_url).set(database=make_url(shared).database)
    admin = create_engine(lock_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(hashtext(:n))"), {"n": name})
            try:
                if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
                    building = f"{name}_building"
                    build(_create_from(owner_url, building, source or TEMPLATE_DATABASE))
                    # No connections from now on: autovacuum leaves such a database alone (as it
                    # does template0), so it never holds up a copy.
                    conn.execute(text(f'ALTER DATABASE "{building}" ALLOW_CONNECTIONS false'))
                    _while_in_use(conn, f'ALTER DATABASE "{building}" RENAME TO "{name}"')
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(hashtext(:n))"), {"n": name})
    finally:
        admin.dispose()
    return name


def migrated_template(owner_url: str) -> str:
    """This run's PostGIS template with every migration applied (alembic runs once per run)."""
    return shared_template(owner_url, "migrated", upgrade)


def _fresh_database(with_district: bool = False) -> str:
    """This process's database, a copy of the migrated template or, ``with_district``, of the
    district template (then ``district`` returns that template's summary instead of loading)."""
    explicit = os.environ.get("GRIDMAP_TEST_DATABASE_URL")
    if explicit:
        return explicit
    base = _owner_url()
    _sweep_stale(base)
    template = shared_template(base, "district", _load_district) if with_district else migrated_template(base)
    if with_district:
        _DISTRICT.append(_summary_of(base, template))
    return _create_from(base, f"gridmap_test_{os.getpid()}", template)


def drop_database(admin_url: str, name: str) -> None:
    """Drop a throw-away database. WITH (FORCE) cannot end an autovacuum worker (a superuser
    process) as the owner role, so on refusal the plain DROP is retried: it cancels autovacuum."""
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


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The run's shared templates go with the run: dropped by the process that names them (the
    xdist controller, or the only process), after every worker is done."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    try:
        owner = os.environ.get("GRIDMAP_TEST_DATABASE_URL") or DatabaseSettings().database_url
        admin = create_engine(owner, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as conn:
            names = conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                                 {"p": f"gridmap_test_{os.getpid()}_tpl_%"}).scalars().all()
    except Exception:  # noqa: BLE001 - no database configured or reachable: nothing was made
        return
    for name in names:
        drop_database(owner, name)


# Module databases dropped at the end of the session rather than each after its module: in
# PostgreSQL 15 every DROP DATABASE forces a cluster-wide checkpoint (3-10 s on this shared machine);
# in a row, only the first has much to flush.
_DROP_LATER: list[str] = []


@pytest.fixture(scope="session")
def db_settings(request: pytest.FixtureRequest) -> Iterator[DatabaseSettings]:
    """This process's database, at the head migration; with the demo district already in it when a
    collected test uses ``district`` (a copy of a template loaded once per run: under pytest-xdist
    the workers share one load instead of each making its own)."""
    url = _fresh_database(with_district=any("district" in item.fixturenames for item in request.session.items))
    if os.environ.get("GRIDMAP_TEST_DATABASE_URL"):
        upgrade(url)  # a copy of a template is at head already
    yield DatabaseSettings(database_url=url, pool_size=4)
    while _DROP_LATER:
        drop_database(url, _DROP_LATER.pop())
    _drop_database(url)


def template_copy(owner_url: str, suffix: str) -> str:
    """A new, unmigrated database ``<test database>_<suffix>`` made from the PostGIS template (any left
    over from an interrupted run is dropped first); returns its URL. Drop it with ``drop_database``."""
    from importers.provision import TEMPLATE_DATABASE

    name = f"{make_url(owner_url).database}_{suffix}"
    drop_database(owner_url, name)
    return _create_from(owner_url, name, TEMPLATE_DATABASE)


def migrated_copy(owner_url: str, suffix: str) -> str:
    """As ``template_copy``, but already at the head migration (a copy of this run's migrated
    template): for tests that need a database of their own and do not test migrating itself."""
    name = f"{make_url(owner_url).database}_{suffix}"
    drop_database(owner_url, name)
    return _create_from(owner_url, name, migrated_template(owner_url))


def _load_small(url: str) -> None:
    from geo.db import make_engine
    from importers.demo import PlanParams, clear_district, load_demo

    engine = make_engine(DatabaseSettings(database_url=url, pool_size=2))
    try:
        with transaction(make_sessionmaker(engine)) as s:
            clear_district(s)
            load_demo(s, seed=11, params=PlanParams(townships=2, villages_per_township=3, grids=30, households=3000,
                                                    misalignments=1), cameras_per_township=10, events=100)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def small(db_settings: DatabaseSettings, request) -> Iterator[Engine]:  # noqa: ANN001
    """A small district in a database of its own, for tests whose edits really commit.

    Loaded once per run into a template and copied per module (the load took 17-25 s a module)."""
    from geo.db import make_engine

    owner = db_settings.database_url
    name = f"{make_url(owner).database}_{request.module.__name__.rsplit('.', 1)[-1][:20]}"
    drop_database(owner, name)
    url = _create_from(owner, name, shared_template(owner, "small", _load_small))
    engine = make_engine(DatabaseSettings(database_url=url, pool_size=8))
    yield engine
    engine.dispose()
    _DROP_LATER.append(name)


@pytest.fixture(scope="session")
def engine(db_settings: DatabaseSettings) -> Iterator[Engine]:
    from geo.db import make_engine

    eng = make_engine(db_settings)
    yield eng
    eng.dispose()


_DISTRICT: list = []  # the DemoSummary of the district template this process's database was copied from


def _district_into(session: Session):  # noqa: ANN202 - DemoSummary
    from importers.demo import PlanParams, clear_district, load_demo
    from importers.demo.users import create_demo_users

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


def _load_district(url: str) -> None:
    """Build the district template; its DemoSummary is kept as the database's comment (a shared
    catalog: it stays with the template, not with the copies)."""
    import json
    from dataclasses import asdict

    from geo.db import make_engine

    engine = make_engine(DatabaseSettings(database_url=url, pool_size=2))
    try:
        with transaction(make_sessionmaker(engine)) as session:
            summary = _district_into(session)
    finally:
        engine.dispose()
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        comment = json.dumps(asdict(summary)).replace("'", "''")
        conn.execute(text(f"COMMENT ON DATABASE \"{make_url(url).database}\" IS '{comment}'"))
    admin.dispose()


def _summary_of(owner_url: str, template: str):  # noqa: ANN202 - DemoSummary
    import json

    from importers.demo.loader import DemoSummary

    admin = create_engine(owner_url, poolclass=NullPool)
    with admin.connect() as conn:
        comment = conn.execute(text("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                                    "WHERE datname = :n"), {"n": template}).scalar_one()
    admin.dispose()
    return DemoSummary(**json.loads(comment))


@pytest.fixture(scope="session")
def district(engine: Engine):  # noqa: ANN201 - DemoSummary
    """The demo district at test scale: the real Huaxi boundary and 548 grids, fewer people."""
    if _DISTRICT:  # the database is a copy of the district template
        return _DISTRICT[0]
    with transaction(make_sessionmaker(engine)) as session:
        return _district_into(session)


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
