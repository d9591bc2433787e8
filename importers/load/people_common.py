"""What the staff and residents importers share: reading cells, naming problems, refusing, auditing.

Both kinds carry personal data (names, phones, ID numbers: PIPL, GB/T 35273). The one rule here is
that nothing read from a file is ever repeated back: a problem names its row and field and what is
wrong, never the value — a mis-mapped column can put phone numbers into the "grid" field, and an
"unknown grid 13812345678" would leak one. Identifiers that reach a report (an external id) go
through ``mask_free_text`` first, as free text does everywhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.privacy import audit
from geo.privacy.pii import mask_free_text
from importers.files.source import SourceTable
from importers.load.cells import text_of
from importers.load.context import ImportContext
from importers.report import Change, ImportReport, Problem


def cells(table: SourceTable, field: str, *aliases: str) -> list[Any] | None:
    """The column ``field`` (or the first of its ``aliases`` the table has), or None when absent.

    The aliases are the spellings a field map may leave (``grid_code`` for ``grid``): the readers'
    default names are ours to agree on, and an importer that silently ignored a column would write
    records without it."""
    for name in (field, *aliases):
        if name in table.columns:
            return table.columns[name]
    return None



def column_text(table: SourceTable, field: str, *aliases: str) -> list[str] | None:
    values = cells(table, field, *aliases)
    return None if values is None else [text_of(v) for v in values]


def new_report(table: SourceTable) -> ImportReport:
    """An empty report for ``table``, carrying what its reader already found. Numbers shaped like ID
    numbers and phones are masked in the file's name and the reader's messages too: a register is
    often named after its contact ("名册 13812345678.xlsx")."""
    return ImportReport(kind=table.kind, file=masked_key(table.name), sha256=table.sha256,
                        problems=[replace(p, message=masked_key(p.message)) for p in table.problems],
                        warnings=[masked_key(w) for w in table.warnings])


def problem(row: int | None, field: str | None, code: str, message: str, severity: str = "error") -> Problem:
    return Problem(row=row, field=field, code=code, message=message, severity=severity)  # type: ignore[arg-type]


def missing_column(report: ImportReport, field: str, why: str) -> None:
    report.problems.append(problem(None, field, "missing_column", f"the file has no {field!r} column: {why}"))


def masked_key(value: str) -> str:
    """An external id as a report may show it: ID-number- and phone-shaped ids masked."""
    return mask_free_text(value) or value


def tally(report: ImportReport, changes: Iterable[Change], unchanged: int) -> None:
    """Counts from the changes (every row not unchanged) and the number unchanged."""
    report.changes = list(changes)
    report.counts = dict.fromkeys(("created", "changed", "unchanged", "retired"), 0)
    for c in report.changes:
        report.counts[c.action] += 1
    report.counts["unchanged"] = unchanged


def refuse_unless_ok(report: ImportReport) -> None:
    """Nothing is written from a file with an error: say how many, never what (the report has them)."""
    errors = [p for p in report.problems if p.severity == "error"]
    if errors:
        rows = sorted({p.row for p in errors if p.row is not None})
        where = f" (rows {', '.join(map(str, rows[:10]))}{' …' if len(rows) > 10 else ''})" if rows else ""
        raise InvalidInput(f"{report.kind} import refused: {len(errors)} problem(s){where}; nothing was written."
                           " Fix the file and run the dry run again", pointer="file", problems=len(errors))


def lock_kind(session: Session, kind: str) -> None:
    """One import of a kind at a time (until commit): two concurrent applies of one file would both
    see "not there yet" and both create, and the second would no longer be a no-op."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"gridmap.import.{kind}"})


def audit_import(session: Session, ctx: ImportContext, report: ImportReport, *, entity: str,
                 personal_records: int) -> None:
    """The audit row of an apply: which file (name and SHA-256), the counts, and how many personal
    records were written (created, changed or removed). Ids and counts only (audit.record's rule)."""
    audit.record(session, ctx.actor, action=f"import.{report.kind}", entity=entity,
                 detail={"file": report.file, "sha256": report.sha256, **report.counts,
                         "personal_records": personal_records})


def duplicates(keys: Sequence[Any], rows: Sequence[int]) -> dict[int, int]:
    """For every position whose key (not None) was seen before: the row number where it was first seen."""
    first: dict[Any, int] = {}
    out: dict[int, int] = {}
    for i, key in enumerate(keys):
        if key is None:
            continue
        if key in first:
            out[i] = first[key]
        else:
            first[key] = rows[i]
    return out
