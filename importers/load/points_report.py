"""The report side of the point importers (households, cameras): problems read back from the staged
plan, the counts and changes, the refusal of an apply, and the audit row.

A problem's message is written here, by code, never from a cell: an external id may be someone's
phone number and an address free text, so neither is ever echoed (importers/report.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.privacy.audit import record
from geo.privacy.pii import mask_free_text
from importers.files.source import SourceTable
from importers.load.context import ImportContext
from importers.report import Change, ImportReport, Problem


def new_report(table: SourceTable) -> ImportReport:
    """An empty report for ``table``, carrying the reader's own problems and warnings."""
    return ImportReport(kind=table.kind, file=table.name, sha256=table.sha256, problems=list(table.problems),
                        warnings=list(table.warnings))


def read_problems(session: Session, plan: str, checks: list[tuple[str, str, str, str]]) -> list[Problem]:
    """One scan of the plan table ``plan``: a Problem for every row and every true check column.

    ``checks`` are (boolean column, field, code, message); the messages are constants of the importer.
    """
    if not checks:
        return []
    values = ", ".join(f"({col}, :f{i}, :c{i}, :m{i})" for i, (col, _, _, _) in enumerate(checks))
    params: dict[str, Any] = {}
    for i, (_, field, code, message) in enumerate(checks):
        params.update({f"f{i}": field, f"c{i}": code, f"m{i}": message})
    rows = session.execute(text(
        f"SELECT p.row, v.field, v.code, v.message FROM {plan} p"
        f" CROSS JOIN LATERAL (VALUES {values}) AS v(bad, field, code, message)"
        " WHERE v.bad ORDER BY p.row, v.code"), params).all()
    return [Problem(row=r[0], field=r[1], code=r[2], message=r[3]) for r in rows]


def count_actions(session: Session, plan: str, report: ImportReport) -> None:
    """The created / changed / unchanged counts of the rows without an error."""
    for action, n in session.execute(text(f"SELECT action, count(*) FROM {plan} WHERE NOT err GROUP BY action")):
        report.counts[action] = n


def shown_key(value: str | None, row: int) -> str:
    """How a change names its entity: the code or external id as a person may see it (ID- and
    phone-shaped ids masked), or the row number where there is none."""
    return mask_free_text(value) or f"row {row}"


def read_changes(session: Session, plan: str, key: str, detail: str) -> list[Change]:
    """A Change for every row that is created or changed (the report's contract: every row not unchanged).

    ``key`` and ``detail`` are SQL expressions over the plan table's columns.
    """
    rows = session.execute(text(
        f"SELECT row, {key}, action, {detail} FROM {plan} WHERE NOT err AND action <> 'unchanged' ORDER BY row"))
    return [Change(code=shown_key(k, r), action=a, detail=d) for r, k, a, d in rows]


def refuse_if_errors(report: ImportReport) -> None:
    """Apply only a clean plan: any error refuses the whole file, so nothing is stored half-way."""
    errors = [p for p in report.problems if p.severity == "error"]
    if errors:
        rows = sorted({p.row for p in errors if p.row is not None})
        where = f" (rows {', '.join(map(str, rows[:10]))}{' …' if len(rows) > 10 else ''})" if rows else ""
        raise InvalidInput(f"{report.file}: {len(errors)} problem(s){where}; nothing was imported", pointer="file",
                           problems=[{"row": p.row, "field": p.field, "code": p.code, "message": p.message}
                                     for p in errors[:100]])


def audit_import(session: Session, ctx: ImportContext, report: ImportReport, entity: str) -> None:
    """The audit row of an applied import: who, which file (its name, masked as free text, and SHA-256), what."""
    record(session, ctx.actor, action="import", entity=entity,
           detail={"file": mask_free_text(report.file), "sha256": report.sha256, "counts": report.counts,
                   "reassigned": report.reassigned})
