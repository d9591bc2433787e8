"""``gridmap demo --county`` as a user runs it: a second county beside the first, a reload of one
county alone, ``--replace``; the printed accounts sign in; migration 0011 goes down and up again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from geo.settings import DatabaseSettings, ServerSettings

A, B = "520111", "520112"
SMALL = ["--townships", "1", "--villages", "2", "--grids", "4", "--households", "300", "--cameras", "3",
         "--events", "20"]
# Every table the demo writes, each row as text in a stable order: equal digests mean untouched rows.
SNAPSHOT = {
    "division": "id", "grid": "id", "grid_version": "id", "household": "id", "resident": "id", "camera": "id",
    "event": "id", "event_contact": "event_id", "staff": "id", "linked_household_group": "id",
    "grid_membership": "kind, entity_id, layer_id",
}


@pytest.fixture(scope="module")
def database(db_settings: DatabaseSettings) -> Iterator[str]:
    from conftest import drop_database, template_copy

    url = template_copy(db_settings.database_url, "democounties")
    yield url
    drop_database(db_settings.database_url, make_url(url).database)


def _demo(url: str, *args: str) -> str:
    gridmap = Path(sys.executable).parent / "gridmap"
    run = subprocess.run([str(gridmap), "demo", *SMALL, *args], env={**os.environ, "GRIDMAP_DATABASE_URL": url,
                                                                        "COLUMNS": "200"},
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def _snapshot(url: str, county: str) -> dict[str, tuple[int, str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {table: tuple(conn.execute(text(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY {order}), ''))"
                f" FROM {table} t WHERE county_code = :c"), {"c": county}).one())
                for table, order in SNAPSHOT.items()}
    finally:
        engine.dispose()


def _accounts(url: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT username, password_hash FROM app_user")).all())
    finally:
        engine.dispose()


def _signs_in(url: str, username: str, password: str) -> bool:
    from api.main import create_app

    app = create_app(DatabaseSettings(database_url=url, pool_size=2), ServerSettings())
    with TestClient(app) as client:
        r = client.post("/auth/token", data={"username": username, "password": password})
    return r.status_code == 200


def test_demo_adds_reloads_and_replaces_counties(database: str) -> None:
    out = _demo(database, "--county", A, "--password", "first-county-password")
    assert "demo password (all accounts): first-county-password" in out
    first = _snapshot(database, A)
    assert all(n > 0 for n, _ in first.values()), first

    # A second county beside the first: the first county's rows and accounts are untouched.
    out = _demo(database, "--county", B, "--password", "second-county-password")
    assert re.search(rf"admin\.{B}\W+admin\W", out) and f"worker1.{B}" in out, out
    assert _snapshot(database, A) == first
    second = _snapshot(database, B)
    assert all(n > 0 for n, _ in second.values()), second
    accounts = _accounts(database)
    assert {"admin", "auditor", "worker1", f"admin.{B}", f"worker1.{B}"} <= set(accounts)
    assert f"auditor.{B}" not in accounts  # the audit log is the platform's
    assert _signs_in(database, "admin", "first-county-password")
    assert _signs_in(database, "worker1", "first-county-password")
    assert _signs_in(database, f"admin.{B}", "second-county-password")
    assert _signs_in(database, f"worker1.{B}", "second-county-password")

    # Rerunning for a county already there reloads that county alone.
    _demo(database, "--county", B, "--password", "third-time-password")
    assert _snapshot(database, A) == first
    again = _snapshot(database, B)
    assert {t: n for t, (n, _) in again.items()} == {t: n for t, (n, _) in second.items()}
    assert again["household"] == second["household"]  # the same seed gives the same county, numbered alike
    assert _signs_in(database, f"admin.{B}", "third-time-password")
    assert _signs_in(database, "admin", "first-county-password")
    assert _accounts(database)["admin"] == accounts["admin"]

    # --replace wipes every county and every account first.
    _demo(database, "--county", B, "--replace", "--password", "replaced-password")
    assert all(n == 0 for n, _ in _snapshot(database, A).values())
    assert all(n > 0 for n, _ in _snapshot(database, B).values())
    assert "admin" not in _accounts(database) and _signs_in(database, f"admin.{B}", "replaced-password")


def test_migration_0011_goes_down_and_up(database: str) -> None:
    """Reversible on a loaded database, with one county (the fast path: a constant default) and with
    two (down to 0010 keeps both; up fills the column row by row with the triggers' rules)."""
    from alembic import command

    from geo.migrate import alembic_config

    _demo(database, "--county", A, "--replace", "--password", "migration-test-password")
    for extra in (None, B):
        if extra:
            _demo(database, "--county", extra, "--password", "migration-test-password")
        before = {c: _snapshot(database, c) for c in (A, B)}
        command.downgrade(alembic_config(database), "0010")
        engine = create_engine(database)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM information_schema.columns"
                                     " WHERE column_name = 'county_code' AND table_schema = 'public'")).scalar_one() == 0
            households = conn.execute(text("SELECT count(*) FROM household")).scalar_one()
        engine.dispose()
        command.upgrade(alembic_config(database), "head")
        assert {c: _snapshot(database, c) for c in (A, B)} == before
        assert before[A]["household"][0] + before[B]["household"][0] == households
