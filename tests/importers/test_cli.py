"""The gridmap CLI against the test database: user management, and provisioning's fast second run."""

from __future__ import annotations

import time

from sqlalchemy import text
from typer.testing import CliRunner

from importers.cli import app


def test_user_add_passwd_disable(db_settings, engine, district, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", db_settings.database_url)
    runner = CliRunner()
    r = runner.invoke(app, ["user", "add", "cli_worker", "--role", "grid_worker", "--division", "520111000000",
                            "--password-stdin"], input="a-long-enough-password\n")
    assert r.exit_code == 0, r.output
    with engine.connect() as c:
        role, version = c.execute(text("SELECT role, token_version FROM app_user WHERE username = 'cli_worker'")).one()
        assert role == "grid_worker"
        assert c.execute(text("SELECT count(*) FROM audit_log WHERE action = 'user.create' AND username LIKE 'cli:%'"
                              )).scalar_one() >= 1
    r = runner.invoke(app, ["user", "passwd", "cli_worker", "--password-stdin"], input="another-long-password\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["user", "disable", "cli_worker"])
    assert r.exit_code == 0, r.output
    with engine.connect() as c:
        disabled, new_version = c.execute(text(
            "SELECT disabled, token_version FROM app_user WHERE username = 'cli_worker'")).one()
    assert disabled and new_version == version + 2
    r = runner.invoke(app, ["user", "add", "x", "--role", "king", "--password-stdin"], input="a-long-enough-password\n")
    assert r.exit_code == 2 and "unknown role" in r.output
    r = runner.invoke(app, ["user", "add", "cli_worker", "--role", "viewer", "--password-stdin"],
                      input="a-long-enough-password\n")
    assert r.exit_code == 2 and "already exists" in r.output
    with engine.connect() as c:
        free = c.execute(text("SELECT id FROM staff WHERE id NOT IN (SELECT staff_id FROM app_user"
                              " WHERE staff_id IS NOT NULL) ORDER BY id LIMIT 1")).scalar_one()
    r = runner.invoke(app, ["user", "link", "cli_worker", "--staff", str(free)])
    assert r.exit_code == 0, r.output
    with engine.connect() as c:
        assert c.execute(text("SELECT staff_id FROM app_user WHERE username = 'cli_worker'")).scalar_one() == free
    assert runner.invoke(app, ["user", "link", "cli_worker"]).exit_code == 2  # neither --staff nor --unlink
    r = runner.invoke(app, ["user", "link", "cli_worker", "--staff", "999999999"])
    assert r.exit_code == 2 and "no staff record" in r.output
    assert runner.invoke(app, ["user", "link", "cli_worker", "--unlink"]).exit_code == 0


def test_provisioning_is_idempotent_and_fast(db_settings) -> None:  # noqa: ANN001
    from geo.settings import DatabaseSettings
    from importers.provision import provision_local

    if not DatabaseSettings().is_default:
        return  # GRIDMAP_DATABASE_URL is set: nothing of ours to provision (tests/importers/test_provision.py
        # provisions throw-away clusters)
    start = time.perf_counter()
    provision_local()  # the passwords from the secrets file: never the old defaults again
    assert time.perf_counter() - start < 5


def test_the_application_role_cannot_bypass_rls(engine) -> None:  # noqa: ANN001
    with engine.connect() as c:
        bypass, superuser = c.execute(text(
            "SELECT rolbypassrls, rolsuper FROM pg_roles WHERE rolname = 'gridmap_app'")).one()
    assert not bypass and not superuser
