"""``gridmap export WHAT --format F --out PATH``: a layer, divisions, households, cameras, events,
residents or the fusion problems to a file, as ``GET /exports/{what}`` gives them.

Run by someone holding the database owner's credentials, so by default the whole county, recorded
in the audit log as ``cli:<os user>``. ``--user NAME`` exports as that account instead: its
territory and its permissions apply (residents need an account with ``pii:export``, and a
``--purpose``). Options are checked before any row is read; a bad one is one line and exit 2.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console

console = Console(stderr=True)


def _refuse(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


_OPTION = {"what": "WHAT", "format": "--format", "encoding": "--encoding", "coords": "--coords",
           "purpose": "--purpose", "layer": "--layer", "division": "--division", "grid": "--grid",
           "status": "--status", "category": "--category", "since": "--since", "until": "--until",
           "level": "--level", "layers": "--layers", "user": "--user"}


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _refuse(f"{option} must be an ISO 8601 date or time (2026-11-01, 2026-11-01T08:00:00+08:00),"
                      f" got {value!r}") from None
    return moment if moment.tzinfo else moment.astimezone()  # a bare date or time is local time


def export(
    what: str = typer.Argument(..., help="grids, divisions, households, cameras, events, residents or fusion."),
    format: str = typer.Option(..., "--format", "-f", help="gpkg, shp (a .zip), kml, geojson, csv or xlsx."),
    out: Path = typer.Option(..., "--out", "-o", help="The file to write (replaced if it exists)."),
    layer: str = typer.Option(None, help="grids: one layer (comprehensive, party, emergency, ...)."),
    division: str = typer.Option(None, help="Only what lies under this 12-digit division."),
    grid: str = typer.Option(None, help="Households, cameras, events, residents inside this 17-digit grid."),
    status: str = typer.Option(None, help="Cameras or events with this status."),
    category: str = typer.Option(None, help="Events of this category (and those under it)."),
    since: str = typer.Option(None, help="Events reported at or after (ISO 8601)."),
    until: str = typer.Option(None, help="Events reported before (ISO 8601)."),
    level: str = typer.Option(None, help="Divisions of this level (county, township, village)."),
    layers: str = typer.Option(None, help="fusion: the layers compared, comma-separated."),
    encoding: str = typer.Option("utf-8", help="Shapefile: utf-8, or gbk for tools that expect it."),
    coords: str = typer.Option("wkt", help="CSV/XLSX: a wkt column, or lonlat columns."),
    user: str = typer.Option(None, help="Export as this account: its territory and permissions."),
    purpose: str = typer.Option(None, help="Residents: why the personal data is exported (audited)."),
) -> None:
    """Export to a file: the county (or --user's territory), with filters."""
    from geo.errors import GridmapError
    from importers.export.datasets import Filters
    from importers.export.run import ExportRequest, check_request

    filters = Filters(layer=layer, division=division, grid=grid, status=status, category=category, level=level,
                      since=_when(since, "--since"), until=_when(until, "--until"),
                      layers=tuple(x for x in layers.split(",") if x) if layers else ())
    req = ExportRequest(what, format, filters, encoding=encoding.lower(), coords=coords, purpose=purpose)
    try:
        check_request(req)
    except GridmapError as exc:
        raise _refuse(_named(exc)) from None
    if not out.parent.is_dir():
        raise _refuse(f"--out: the directory {str(out.parent)!r} does not exist")
    _run(req, out, user)


def _named(exc: Exception) -> str:
    from geo.errors import GridmapError

    if isinstance(exc, GridmapError) and exc.pointer in _OPTION:
        return f"{_OPTION[exc.pointer]}: {exc.detail}"
    return getattr(exc, "detail", str(exc))


def _run(req, out: Path, username: str | None) -> None:  # noqa: ANN001 - ExportRequest
    import getpass

    from geo.access import scope as scopes
    from geo.access.permissions import Permission, permissions_of
    from geo.db import make_engine, make_sessionmaker, transaction
    from geo.errors import GridmapError
    from geo.models.users import AppUser
    from geo.privacy.audit import Actor
    from geo.settings import DatabaseSettings
    from importers.export.run import run_export

    start = time.perf_counter()
    spool = Path(tempfile.mkdtemp(prefix="gridmap-export-", dir=out.parent))
    engine = make_engine(DatabaseSettings.for_bulk())
    try:
        with transaction(make_sessionmaker(engine)) as session:
            operator = f"cli:{getpass.getuser()}"
            if username is None:  # the operator: the whole county, but personal data only as a named account
                if req.what == "residents":
                    raise _refuse("residents: give --user, an account with the pii:export permission, and --purpose")
                scope, permissions = scopes.Scope.county(), frozenset(Permission) - {Permission.PII_EXPORT}
                actor = Actor(None, operator)
            else:
                account = session.query(AppUser).filter_by(username=username).one_or_none()
                if account is None or account.disabled:
                    raise _refuse(f"--user: no active account {username!r}")
                scope, permissions = scopes.resolve(session, account), permissions_of(account.role)
                actor = Actor(account.id, f"{operator} as {account.username}")
            try:
                result = run_export(session, req, scope=scope, actor=actor, permissions=permissions, out_dir=spool)
            except GridmapError as exc:
                raise _refuse(_named(exc)) from None
        # committed (the audit row is stored); then the file appears, whole (same directory: a rename)
        result.path.replace(out)
    finally:
        engine.dispose()
        shutil.rmtree(spool, ignore_errors=True)
    console.print(f"{result.rows:,} {req.what} written to {out} in {time.perf_counter() - start:.1f} s"
                  f" (suggested name: {result.filename})", highlight=False, soft_wrap=True)
