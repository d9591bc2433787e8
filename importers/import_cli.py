"""``gridmap import KIND FILE...``: a county's own file, as a dry run, then (``--apply``) all or nothing.

Exit status: 0 when the plan (or the apply) is clean, 1 when the plan has errors (nothing was written),
2 for a usage error or a file that cannot be read at all (nothing was planned). The command acts as a
county-wide admin (``cli:<login>`` in the audit log), as ``gridmap user`` does: whoever can run it can
already reach the database as its owner. Residents are personal data: ``--purpose`` is required and
audited, as an API caller's would be.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from importers.files.source import KINDS

if TYPE_CHECKING:
    from importers.pipeline import ImportOptions
    from importers.report import ImportReport

console = Console()
err = Console(stderr=True)
SHOWN_CHANGES = 20
SHOWN_PROBLEMS = 30


def _refuse(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def import_command(
    kind: str = typer.Argument(..., help=f"What the file holds: {', '.join(KINDS)}."),
    files: list[Path] = typer.Argument(..., help="The file, or a Shapefile's .shp/.dbf/.shx/.prj/.cpg set."),
    crs: str = typer.Option(None, help="gcj02, bd09, or an EPSG code, when the file does not say (or says wrong)."),
    encoding: str = typer.Option(None, help="Text encoding; overrides .cpg and detection (gbk, gb18030, utf-8)."),
    field_map: str = typer.Option(None, "--map", help="Field map: name=网格名称,code=网格编码"),
    profile: str = typer.Option(None, help="Use a saved field map by name."),
    save_profile: str = typer.Option(None, "--save-profile", help="Save this field map under a name."),
    layer: str = typer.Option(None, help="Grid layer code (kind grids): comprehensive, party, emergency, ..."),
    source_layer: str = typer.Option(None, "--source-layer", help="The layer to read of a multi-layer file."),
    key: str = typer.Option("code", help="The field rows are matched by: code, or a declared external id."),
    retire_missing: bool = typer.Option(False, "--retire-missing",
                                        help="Retire stored entities of the file's extent that it lacks."),
    apply: bool = typer.Option(False, "--apply", help="Write the plan (all or nothing). Default: a dry run."),
    problems: Path = typer.Option(None, "--problems", help="Write the problem list to out.csv or out.xlsx."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of tables."),
    purpose: str = typer.Option(None, help="Residents: why the personal data is imported (audited)."),
) -> None:
    """Import a county's own file: a dry run that reports counts, changes (m²) and problems; --apply writes it."""
    from geo.errors import GridmapError
    from importers import pipeline
    from importers.pipeline import ImportOptions

    try:
        options = pipeline.check_options(ImportOptions(
            kind=kind, crs=crs, encoding=encoding, field_map=pipeline.parse_field_map(field_map, pointer="--map"),
            profile=profile, save_profile=save_profile, layer=layer, source_layer=source_layer, key=key,
            retire_missing=retire_missing, purpose=purpose))
    except GridmapError as exc:
        raise _refuse(_option_message(exc)) from None
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise _refuse(f"no such file: {', '.join(missing)}")
    if problems is not None and problems.suffix.lower() not in (".csv", ".xlsx"):
        raise _refuse(f"--problems must name a .csv or .xlsx file, got {problems.name!r}")
    if len(files) > 1 and len({f.stem.lower() for f in files}) > 1:
        raise _refuse("several files are read as one Shapefile's set and must share its name; import other "
                      "files one at a time")
    report = _run(files, options, apply=apply, quiet=as_json)
    if problems is not None:
        from importers.problem_list import problems_file

        problems.write_bytes(problems_file(report, problems.suffix.lower().lstrip(".")))
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=1))
    else:
        _print_report(report, problems)
    if not report.ok:
        raise typer.Exit(1)


def _option_message(exc: Exception) -> str:
    detail = getattr(exc, "detail", str(exc))
    pointer = getattr(exc, "pointer", None)
    option = {"kind": "KIND", "key": "--key", "layer": "--layer", "purpose": "--purpose"}.get(pointer or "")
    return f"{option}: {detail}" if option and not detail.startswith(option) else detail


def _run(files: list[Path], options: ImportOptions, *, apply: bool, quiet: bool) -> ImportReport:
    """Read, plan (or apply, in one committed transaction) with a progress bar on stderr."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from geo.access.permissions import Role, permissions_of
    from geo.access.scope import Scope
    from geo.db import make_engine, make_sessionmaker, transaction
    from geo.errors import GridmapError
    from geo.settings import DatabaseSettings
    from importers import pipeline
    from importers.cli import _cli_actor

    pipeline.check_allowed(options.kind, permissions_of(Role.ADMIN))
    actor, scope = _cli_actor(), Scope.county()
    steps = ["reading", "planning", "applying" if apply else "reporting", "done"]
    start = time.perf_counter()
    engine = make_engine(DatabaseSettings.for_bulk())
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err,
                      disable=quiet) as bar:
            task = bar.add_task("reading", total=len(steps) - 1)

            def step(name: str, detail: str = "") -> None:
                bar.update(task, description=f"{name} {detail}".strip(), completed=steps.index(name))

            try:
                factory = make_sessionmaker(engine)
                with transaction(factory) as session:
                    table = pipeline.read(session, files, options)
                    pipeline.save_profile(session, options, actor=actor)  # kept whatever the plan finds
                step("planning", f"{len(table):,} rows of {table.name}")
                with transaction(factory) as session:
                    if apply:
                        step("applying", f"{len(table):,} rows")
                        report = _apply_or_plan(session, table, options, actor=actor, scope=scope)
                    else:
                        report = pipeline.plan(session, table, options, actor=actor, scope=scope)
                        if options.kind not in pipeline.PERSONAL_KINDS:
                            session.rollback()  # a dry run leaves nothing (a residents' plan leaves its audit row)
                step("done")
            except GridmapError as exc:
                raise _refuse(exc.detail) from None
    finally:
        engine.dispose()
    if not quiet:
        err.print(f"{'applied' if report.applied else 'planned'} in {time.perf_counter() - start:.1f} s",
                  highlight=False)
    return report


def _apply_or_plan(session, table, options, *, actor, scope) -> ImportReport:  # noqa: ANN001
    """Apply in one pass; when the importer refuses (the plan has errors), roll back and report the plan."""
    from geo.errors import InvalidInput
    from importers import pipeline

    try:
        with session.begin_nested():  # the refused apply's partial work goes, the plan below runs clean
            return pipeline.apply(session, table, options, actor=actor, scope=scope)
    except InvalidInput:
        report = pipeline.plan(session, table, options, actor=actor, scope=scope)
        if report.ok:  # refused for a reason the plan does not show: say it rather than report clean
            raise
        return report


def _print_report(report: ImportReport, problems: Path | None) -> None:
    """Counts, then the changes (with m² for boundaries), then the problems by row: what a clerk checks."""
    verb = "Applied" if report.applied else "Dry run (nothing written; --apply writes it)"
    counts = Table(title=f"{verb}: {report.kind} from {report.file}", title_justify="left")
    for column in ("created", "changed", "unchanged", "retired", "problems"):
        counts.add_column(column, justify="right")
    errors = sum(p.severity == "error" for p in report.problems)
    counts.add_row(*(f"{report.counts.get(c, 0):,}" for c in ("created", "changed", "unchanged", "retired")),
                   f"{errors:,} errors, {len(report.problems) - errors:,} warnings")
    console.print(counts)
    console.print(f"sha256 {report.sha256}", highlight=False)
    if report.changes:
        changes = Table(title=f"Changes ({len(report.changes):,})", title_justify="left")
        for column, justify in (("code", "left"), ("action", "left"), ("gained m²", "right"), ("lost m²", "right"),
                                ("detail", "left")):
            changes.add_column(column, justify=justify)  # type: ignore[arg-type]
        for c in report.changes[:SHOWN_CHANGES]:
            changes.add_row(c.code, c.action, _m2(c.gained_m2), _m2(c.lost_m2), c.detail or "")
        console.print(changes)
        if len(report.changes) > SHOWN_CHANGES:
            console.print(f"… and {len(report.changes) - SHOWN_CHANGES:,} more (--json lists them all)")
    if report.reassigned:
        console.print("reassigned: " + ", ".join(f"{n:,} {k}" for k, n in report.reassigned.items()),
                      highlight=False)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    if report.problems:
        listed = Table(title=f"Problems ({len(report.problems):,})", title_justify="left")
        for column in ("row", "field", "code", "severity", "message"):
            listed.add_column(column)
        for p in sorted(report.problems, key=lambda p: (p.row is not None, p.row or 0))[:SHOWN_PROBLEMS]:
            listed.add_row("" if p.row is None else str(p.row), p.field or "", p.code,
                           "[red]error[/red]" if p.severity == "error" else "[yellow]warning[/yellow]", p.message)
        console.print(listed)
        if len(report.problems) > SHOWN_PROBLEMS:
            hint = f"written to {problems}" if problems else "--problems out.csv writes them all"
            console.print(f"… and {len(report.problems) - SHOWN_PROBLEMS:,} more ({hint})")
    if not report.ok:
        console.print("[red]The plan has errors: nothing was written.[/red] Fix the file and run again.")
    elif not report.applied:
        console.print("[green]The plan is clean.[/green] Run again with --apply to write it.")


def _m2(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"
