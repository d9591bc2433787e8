"""Provision a local PostGIS for gridmap when no database URL is configured.

Why this exists: the project must start on a fresh Debian/Ubuntu machine (and on
CI, where PostgreSQL is installed but stopped and PostGIS is missing) with one
command. As root we install what is missing with apt, start the cluster, and
create the role, the database and the extension. Every step first checks
whether it is needed, so a second run changes nothing and takes well under a
second. Where we cannot act (not root, not Debian), we stop with a message that
says what to install or to set ``GRIDMAP_DATABASE_URL``.

Passwords: the first run generates a random password for each role and writes
both URLs to the secrets file (``geo.settings.SECRETS_FILE``, mode 0600, read by
the CLI, the server and the tests when GRIDMAP_DATABASE_URL is unset); later
runs reuse them. A cluster provisioned before this (roles with the old default
passwords, no file) is rotated once, on the first run that finds no file.
Passwords reach psql on its standard input, never on a command line (``ps``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from geo.settings import DEFAULT_APP_DATABASE_URL, DEFAULT_DATABASE_URL, read_secrets, secrets_path


class ProvisionError(RuntimeError):
    """Provisioning cannot continue; the message tells the user what to do."""


@dataclass(frozen=True)
class LocalCluster:
    version: str
    name: str
    port: int
    running: bool


HOW_TO = (
    "Install PostgreSQL (>= 13) with PostGIS 3, e.g. on Debian/Ubuntu as root:\n"
    "  apt-get install postgresql postgresql-<N>-postgis-3\n"
    "then create a role and database, or point gridmap at an existing PostGIS with\n"
    "  export GRIDMAP_DATABASE_URL=postgresql+psycopg2://USER:PASS@HOST:PORT/DB"
)

# Settings for short spatial queries, measured on this machine: JIT turned a
# 27 ms tile query into 248 ms and a parallel plan turned 1.5 ms into 11.8 ms.
ROLE_SETTINGS = {
    "jit": "off",
    "max_parallel_workers_per_gather": "0",
    "random_page_cost": "1.1",
    "work_mem": "64MB",
}


def _run(cmd: list[str], *, check: bool = True, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        check=check,
        text=True,
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.PIPE if quiet else None,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def _apt_install(packages: list[str]) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ProvisionError(f"PostGIS is missing and this is not a root Debian/Ubuntu shell.\n{HOW_TO}")
    result = _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], check=False)
    if result.returncode != 0:
        _run(["apt-get", "update", "-q"])
        _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages])


def installed_versions() -> list[str]:
    """PostgreSQL major versions whose server binaries are installed (Debian layout)."""
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return []
    return sorted((p.name for p in root.iterdir() if (p / "bin" / "postgres").exists()), key=int)


def _postgis_installed(version: str) -> bool:
    return Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists()


def _clusters() -> list[LocalCluster]:
    if not shutil.which("pg_lsclusters"):
        return []
    out = _run(["pg_lsclusters", "--no-header"]).stdout
    clusters = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            clusters.append(LocalCluster(parts[0], parts[1], int(parts[2]), parts[3].startswith("online")))
    return clusters


def ensure_server(port: int) -> str:
    """Install PostgreSQL and PostGIS when missing and start the cluster on ``port``."""
    versions = installed_versions()
    if not versions:
        _apt_install(["postgresql", "postgresql-common"])
        versions = installed_versions()
        if not versions:
            raise ProvisionError(f"apt installed no PostgreSQL server.\n{HOW_TO}")
    version = versions[-1]
    if not _postgis_installed(version):
        _apt_install([f"postgresql-{version}-postgis-3"])
    cluster = next((c for c in _clusters() if c.port == port), None)
    if cluster is None:
        if os.geteuid() != 0:
            raise ProvisionError(f"No PostgreSQL cluster listens on port {port}.\n{HOW_TO}")
        taken = {c.name for c in _clusters() if c.version == version}
        _run(["pg_createcluster", version, "main" if "main" not in taken else f"gridmap{port}", "--port", str(port)])
        cluster = next(c for c in _clusters() if c.port == port)
    if not cluster.running:
        if os.geteuid() != 0:
            raise ProvisionError(
                f"The PostgreSQL {cluster.version}/{cluster.name} cluster is down; "
                f"start it with: sudo pg_ctlcluster {cluster.version} {cluster.name} start"
            )
        _run(["pg_ctlcluster", cluster.version, cluster.name, "start"])
    return cluster.version


def _psql(sql: str, *, port: int, database: str = "postgres") -> str:
    cmd = ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-p", str(port), "-d", database, "-f", "-"]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, text=True, input=sql, capture_output=True).stdout.strip()


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _ensure_login_role(name: str, password: str, options: str, port: int) -> None:
    exists = _psql(f"SELECT 1 FROM pg_roles WHERE rolname = {_literal(name)}", port=port)
    verb = "ALTER" if exists else "CREATE"
    _psql(f"{verb} ROLE {_ident(name)} LOGIN {options} PASSWORD {_literal(password)}", port=port)
    for key, value in ROLE_SETTINGS.items():
        _psql(f"ALTER ROLE {_ident(name)} SET {key} = {_literal(value)}", port=port)


def ensure_role_and_database(url: str, app_url: str, *, template: str | None = None) -> None:
    """Create the owner role, the application role and the database with PostGIS, idempotently.

    Two roles, on purpose: the owner (``url``) runs migrations and the CLI; the
    server connects as the application role (``app_url``), which owns nothing,
    cannot bypass row-level security and cannot change the audit log. The owner
    gets CREATEDB so the test suite can create throw-away databases from
    ``template`` (a database that already has PostGIS, so tests need no superuser),
    and membership of the application role so tests can act as it.
    """
    u, a = make_url(url), make_url(app_url)
    port = u.port or 5432
    user, database = u.username or "gridmap", u.database or "gridmap"
    _ensure_login_role(user, u.password or "", "CREATEDB NOSUPERUSER", port)
    _ensure_login_role(a.username or "gridmap_app", a.password or "", "NOCREATEDB NOSUPERUSER NOBYPASSRLS", port)
    _psql(f"GRANT {_ident(a.username or 'gridmap_app')} TO {_ident(user)}", port=port)
    for db in filter(None, [template, database]):
        if not _psql(f"SELECT 1 FROM pg_database WHERE datname = {_literal(db)}", port=port):
            _psql(f"CREATE DATABASE {_ident(db)} OWNER {_ident(user)}", port=port)
        _psql("CREATE EXTENSION IF NOT EXISTS postgis", port=port, database=db)
    if template:
        _psql(f"ALTER DATABASE {_ident(template)} IS_TEMPLATE true", port=port)


def can_connect(url: str) -> bool:
    """True when ``url`` answers and has PostGIS: the fast path of a second run."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first() is not None
    except Exception:  # noqa: BLE001 - any failure means "provision it"
        return False
    finally:
        engine.dispose()


TEMPLATE_DATABASE = "gridmap_template"


def provision_local(url: str | None = None, app_url: str | None = None, *, secrets_file: Path | None = None,
                    port: int | None = None) -> tuple[str, str]:
    """Bring the local database to a usable state (idempotent); returns the owner's and the app's URL.

    With ``url`` and ``app_url`` given, those credentials are provisioned as they are. Without,
    the role passwords come from ``secrets_file`` (default: GRIDMAP_SECRETS_FILE or
    /etc/gridmap/database.env), generated and written there on the first run; ``port`` (default:
    GRIDMAP_LOCAL_PORT or 5432) places a new cluster.
    """
    if url is None:
        url, app_url, new = _stored_or_new(secrets_file or secrets_path(), port)
    else:
        app_url, new = app_url or DEFAULT_APP_DATABASE_URL, False
    template_url = make_url(url).set(database=TEMPLATE_DATABASE).render_as_string(hide_password=False)
    if not new and can_connect(url) and can_connect(app_url) and can_connect(template_url):
        return url, app_url
    u = make_url(url)
    if u.host not in (None, "localhost", "127.0.0.1", "::1"):
        raise ProvisionError(f"Cannot provision a server on {u.host}; only a local one.\n{HOW_TO}")
    ensure_server(u.port or 5432)
    if new:  # written before the roles change: a failure after this leaves passwords we still know
        write_secrets(secrets_file or secrets_path(), url, app_url)
    ensure_role_and_database(url, app_url, template=TEMPLATE_DATABASE)
    return url, app_url


def _stored_or_new(path: Path, port: int | None) -> tuple[str, str, bool]:
    stored = read_secrets(path)
    if stored.get("GRIDMAP_DATABASE_URL") and stored.get("GRIDMAP_APP_DATABASE_URL"):
        return stored["GRIDMAP_DATABASE_URL"], stored["GRIDMAP_APP_DATABASE_URL"], False
    if path.exists():
        raise ProvisionError(f"{path} exists but cannot be read or lacks the database URLs; run as root, "
                             "or set GRIDMAP_DATABASE_URL")
    port = port or int(os.environ.get("GRIDMAP_LOCAL_PORT") or 5432)
    owner = make_url(DEFAULT_DATABASE_URL).set(port=port, password=secrets.token_urlsafe(24))
    app = make_url(DEFAULT_APP_DATABASE_URL).set(port=port, password=secrets.token_urlsafe(24))
    return owner.render_as_string(hide_password=False), app.render_as_string(hide_password=False), True


def write_secrets(path: Path, url: str, app_url: str) -> None:
    """Both URLs, readable by the file's owner only (root when provisioning), written atomically."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# gridmap: the local database's roles, generated by `gridmap db up`. Keep secret.\n"
                f"GRIDMAP_DATABASE_URL={url}\nGRIDMAP_APP_DATABASE_URL={app_url}\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
