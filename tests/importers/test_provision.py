"""`gridmap db up` on a cluster of its own: random role passwords, a root-only secrets file, idempotent.

Never on the shared cluster: each test creates a throw-away PostgreSQL cluster on a free port and
drops it afterwards; the secrets file lives in the test's temporary directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from geo.settings import DEFAULT_APP_DATABASE_URL, DEFAULT_DATABASE_URL, read_secrets
from importers.provision import installed_versions, provision_local

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("pg_createcluster") or not installed_versions(),
                                reason="needs root and the Debian PostgreSQL tools to create a cluster")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def cluster() -> Iterator[int]:
    """A PostgreSQL cluster of this test's own, stopped; provisioning must start it."""
    version, port = installed_versions()[-1], _free_port()
    name = f"gridmap_test_{os.getpid()}"
    subprocess.run(["pg_createcluster", version, name, "--port", str(port)], check=True, capture_output=True)
    try:
        yield port
    finally:
        subprocess.run(["pg_dropcluster", "--stop", version, name], check=False, capture_output=True)


def _at(url: str, port: int) -> str:
    return make_url(url).set(port=port).render_as_string(hide_password=False)


def _connects(url: str) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1
    except OperationalError:
        return False
    finally:
        engine.dispose()


def test_first_run_generates_passwords_rotates_old_defaults_and_a_second_run_changes_nothing(
        cluster: int, tmp_path: Path) -> None:
    old_owner, old_app = _at(DEFAULT_DATABASE_URL, cluster), _at(DEFAULT_APP_DATABASE_URL, cluster)
    provision_local(old_owner, old_app)  # a cluster provisioned the old way: passwords = role names
    assert _connects(old_owner) and _connects(old_app)

    secrets = tmp_path / "etc" / "database.env"
    owner, app = provision_local(secrets_file=secrets, port=cluster)
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600 and secrets.stat().st_uid == 0
    assert stat.S_IMODE(secrets.parent.stat().st_mode) == 0o700
    assert read_secrets(secrets) == {"GRIDMAP_DATABASE_URL": owner, "GRIDMAP_APP_DATABASE_URL": app}
    passwords = {make_url(owner).password, make_url(app).password}
    assert len(passwords) == 2 and all(p and len(p) >= 24 for p in passwords)
    assert not {"gridmap", "gridmap_app"} & passwords
    assert _connects(owner) and _connects(app)
    assert not _connects(old_owner) and not _connects(old_app)  # the defaults were rotated

    before = secrets.read_bytes(), secrets.stat().st_mtime_ns
    start = time.perf_counter()
    assert provision_local(secrets_file=secrets, port=cluster) == (owner, app)
    assert time.perf_counter() - start < 5
    assert (secrets.read_bytes(), secrets.stat().st_mtime_ns) == before
    assert _connects(owner) and _connects(app)


def test_gridmap_db_up_as_a_user_runs_it(cluster: int, tmp_path: Path) -> None:
    """The command itself, in a subprocess, with no GRIDMAP_DATABASE_URL: provisions, migrates, and the
    server's settings find the generated credentials in the file."""
    secrets = tmp_path / "database.env"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
    env.update(GRIDMAP_SECRETS_FILE=str(secrets), GRIDMAP_LOCAL_PORT=str(cluster))
    gridmap = [str(Path(sys.executable).parent / "gridmap")]  # the installed command
    first = subprocess.run([*gridmap, "db", "up"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    stored = read_secrets(secrets)
    assert make_url(stored["GRIDMAP_DATABASE_URL"]).port == cluster
    with create_engine(stored["GRIDMAP_APP_DATABASE_URL"]).connect() as conn:  # migrated, reachable as the app
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    check = ("from geo.settings import DatabaseSettings as D; d = D(); "
             "print(d.database_url == d.model_fields['database_url'].default, d.server_url)")
    out = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", stored["GRIDMAP_APP_DATABASE_URL"]]
    before = secrets.read_bytes()
    second = subprocess.run([*gridmap, "db", "up"], env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and secrets.read_bytes() == before
