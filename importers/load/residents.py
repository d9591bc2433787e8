"""Import residents 居民 (personal data, PIPL) from a table: name, ID number, phone, household.

Fields (after the field map): ``name``, ``id_number`` (GB 11643-1999: 18 characters, a real birth
date, the check character, X included), ``phone`` (optional: a mainland mobile or a landline with its
area code), and the household: ``household`` (its external id, as the households import stored it)
or ``address`` (its standard address, when that names exactly one household).

A resident is matched by ID number within the household: the same person in the same household is
the same record (name and phone are updated); the same number in another household is another record.
With ``ctx.retire_missing`` the stored residents of the households the file names, absent from the
file, are removed (moved out). An empty phone cell keeps the stored phone.

Territory: the household must be in ``ctx.scope``; the scope is bound to the transaction
(``geo.access.scope.bind``) before anything is read, so row-level security on ``resident`` holds even
if this module's own filters were wrong, and the importing connection may be the application role.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import bind, member_filter
from importers.files.source import SourceTable
from importers.load.context import ImportContext
from importers.load.people_common import (
    audit_import,
    cells,
    column_text,
    duplicates,
    lock_kind,
    missing_column,
    new_report,
    problem,
    refuse_unless_ok,
    tally,
    text_of,
)
from importers.load.people_values import check_id_number, check_name, check_phone
from importers.report import Change, ImportReport


@dataclass
class _Row:
    row: int
    name: str | None
    id_number: str | None
    phone: str | None  # None: not given (keep the stored phone)
    household_ref: str
    address: str
    household_id: int | None = None
    ok: bool = True


@dataclass
class _Plan:
    report: ImportReport
    create: list[_Row]
    update: list[tuple[int, _Row]]  # (resident id, the row)
    retire: list[tuple[int, int]]  # (resident id, household id)


def plan(session: Session, table: SourceTable, ctx: ImportContext) -> ImportReport:
    """The dry run: what the file would create, change and remove, and every row's problems."""
    return _plan(session, table, ctx).report


def apply(session: Session, table: SourceTable, ctx: ImportContext) -> ImportReport:
    """Write the plan in the caller's transaction (all or nothing: refused on any error)."""
    lock_kind(session, "residents")
    p = _plan(session, table, ctx)
    refuse_unless_ok(p.report)
    if p.create:
        session.execute(text(
            "INSERT INTO resident (household_id, name, id_number, phone)"
            " SELECT * FROM unnest(CAST(:h AS int[]), CAST(:n AS text[]), CAST(:i AS text[]), CAST(:p AS text[]))"),
            {"h": [r.household_id for r in p.create], "n": [r.name for r in p.create],
             "i": [r.id_number for r in p.create], "p": [r.phone or "" for r in p.create]})
    if p.update:
        session.execute(text(
            "UPDATE resident r SET name = u.name, phone = coalesce(u.phone, r.phone)"
            " FROM unnest(CAST(:ids AS int[]), CAST(:n AS text[]), CAST(:p AS text[])) AS u(id, name, phone)"
            " WHERE r.id = u.id"),
            {"ids": [i for i, _ in p.update], "n": [r.name for _, r in p.update], "p": [r.phone for _, r in p.update]})
    if p.retire:
        session.execute(text("DELETE FROM resident WHERE id = ANY(:ids)"), {"ids": [i for i, _ in p.retire]})
    delta: dict[int, int] = defaultdict(int)
    for r in p.create:
        delta[r.household_id] += 1  # type: ignore[index]
    for _, h in p.retire:
        delta[h] -= 1
    if any(delta.values()):  # household.residents counts its registered members, as add_resident keeps it
        session.execute(text(
            "UPDATE household h SET residents = greatest(0, h.residents + d.delta)"
            " FROM unnest(CAST(:h AS int[]), CAST(:d AS int[])) AS d(id, delta) WHERE h.id = d.id"),
            {"h": list(delta), "d": list(delta.values())})
    p.report.applied = True
    audit_import(session, ctx, p.report, entity="resident",
                 personal_records=len(p.create) + len(p.update) + len(p.retire))
    return p.report


def _plan(session: Session, table: SourceTable, ctx: ImportContext) -> _Plan:
    bind(session, ctx.scope)  # row-level security reads it: the comparison sees only this territory
    report = new_report(table)
    rows = _read(table, report)
    if rows is None:
        tally(report, [], 0)
        return _Plan(report, [], [], [])
    _find_households(session, rows, ctx, report)
    _duplicates_in_file(rows, report)
    stored = _stored(session, {r.household_id for r in rows if r.household_id is not None})
    create: list[_Row] = []
    update: list[tuple[int, _Row]] = []
    changes: list[Change] = []
    unchanged = 0
    in_file: set[tuple[int, str]] = set()
    for r in rows:
        if r.household_id is not None and r.id_number is not None:
            in_file.add((r.household_id, r.id_number))
        if not r.ok:
            continue
        old = stored.get((r.household_id, r.id_number))  # type: ignore[arg-type]
        if old is None:
            create.append(r)
            changes.append(Change(code=f"row {r.row}", action="created"))
            continue
        differs = [f for f, new, was in (("name", r.name, old[1]), ("phone", r.phone, old[2]))
                   if new is not None and new != was]
        if differs:
            update.append((old[0], r))
            changes.append(Change(code=f"resident {old[0]}", action="changed", detail=f"row {r.row}: "
                                  + ", ".join(differs) + " updated"))
        else:
            unchanged += 1
    retire: list[tuple[int, int]] = []
    if ctx.retire_missing:
        for (household, number), (rid, _, _) in stored.items():
            if (household, number) not in in_file:
                retire.append((rid, household))
                changes.append(Change(code=f"resident {rid}", action="retired",
                                      detail="not in the file: removed from the household"))
    tally(report, changes, unchanged)
    return _Plan(report, create, update, retire)


def _read(table: SourceTable, report: ImportReport) -> list[_Row] | None:
    """The file's rows, each value checked; None when a column the kind needs is missing."""
    names = column_text(table, "name", "resident_name")
    raw_numbers = cells(table, "id_number", "id_card")
    numbers = None if raw_numbers is None else [text_of(v) for v in raw_numbers]
    phones = column_text(table, "phone", "mobile")
    refs = column_text(table, "household", "household_external_id", "household_code")
    addresses = column_text(table, "address", "household_address")
    if names is None:
        missing_column(report, "name", "every resident needs a name")
    if numbers is None:
        missing_column(report, "id_number", "residents are matched by their ID number")
    if refs is None and addresses is None:
        missing_column(report, "household", "give the household's external id (or its address)")
    if names is None or numbers is None or (refs is None and addresses is None):
        return None
    out: list[_Row] = []
    for i, row in enumerate(table.rows):
        name, p1 = check_name(row, names[i])
        number, p2 = check_id_number(row, numbers[i], was_number=isinstance(raw_numbers[i], float))  # type: ignore[index]
        phone, p3 = (None, None) if phones is None or not phones[i] else check_phone(row, phones[i])
        ref, address = refs[i] if refs else "", addresses[i] if addresses else ""
        found = [p for p in (p1, p2, p3) if p is not None]
        if not ref and not address:
            found.append(problem(row, "household", "missing_household",
                                 "the household is required: its external id or its address"))
        report.problems.extend(found)
        out.append(_Row(row, name, number, phone, ref, address, ok=not found))
    return out


def _find_households(session: Session, rows: list[_Row], ctx: ImportContext, report: ImportReport) -> None:
    """Each row's household: by external id (or else by an address that names exactly one), in scope."""
    refs = sorted({r.household_ref for r in rows if r.household_ref})
    addresses = sorted({r.address for r in rows if not r.household_ref and r.address})
    by_ref: dict[str, list[int]] = defaultdict(list)
    by_address: dict[str, list[int]] = defaultdict(list)
    if refs:
        for key, hid in session.execute(text("SELECT external_id, id FROM household WHERE external_id = ANY(:k)"),
                                        {"k": refs}):
            by_ref[key].append(hid)
    if addresses:
        for key, hid in session.execute(text("SELECT address, id FROM household WHERE address = ANY(:k)"),
                                        {"k": addresses}):
            by_address[key].append(hid)
    found = {h for ids in (*by_ref.values(), *by_address.values()) for h in ids}
    where, params = member_filter(ctx.scope, "household", "h")
    in_scope = set(session.execute(text(f"SELECT h.id FROM household h WHERE h.id = ANY(:ids){where}"),
                                   {"ids": sorted(found), **params}).scalars()) if found else set()
    for r in rows:
        field, ids = ("household", by_ref[r.household_ref]) if r.household_ref else ("address", by_address[r.address])
        if not r.household_ref and not r.address:
            continue
        if not ids:
            what = "external id" if field == "household" else "address"
            report.problems.append(problem(r.row, field, "unknown_household", f"no household has this {what}"
                                           + ("; import the households first" if field == "household" else "")))
        elif len(ids) > 1:
            report.problems.append(problem(r.row, field, "ambiguous_household",
                                           f"{len(ids)} households have this {field}: give the household's external id"))
        elif ids[0] not in in_scope:
            report.problems.append(problem(r.row, field, "outside_scope",
                                           "the household is outside your territory"))
        else:
            r.household_id = ids[0]
            continue
        r.ok = False


def _duplicates_in_file(rows: list[_Row], report: ImportReport) -> None:
    """The same person twice in one household, or in two households: one of the rows is wrong."""
    numbers = [r.row for r in rows]
    same_household = duplicates([(r.household_id, r.id_number) if r.household_id and r.id_number else None
                                 for r in rows], numbers)
    anywhere = duplicates([r.id_number for r in rows], numbers)
    for i, first in same_household.items():
        report.problems.append(problem(rows[i].row, "id_number", "duplicate_row",
                                       f"the same ID number in the same household as row {first}"))
        rows[i].ok = False
    for i, first in anywhere.items():
        if i not in same_household:
            report.problems.append(problem(rows[i].row, "id_number", "duplicate_id_number",
                                           f"the same ID number as row {first}, in another household:"
                                           " a person is registered in one household"))
            rows[i].ok = False


def _stored(session: Session, households: set[int]) -> dict[tuple[int, str], tuple[int, str, str]]:
    """The stored residents of these households that row-level security lets this transaction see:
    (household, ID number) -> (resident id, name, phone); the lowest id where one is stored twice."""
    if not households:
        return {}
    out: dict[tuple[int, str], tuple[int, str, str]] = {}
    for rid, hid, name, number, phone in session.execute(text(
            "SELECT id, household_id, name, id_number, phone FROM resident WHERE household_id = ANY(:h)"
            " ORDER BY id DESC"), {"h": sorted(households)}):
        out[(hid, number)] = (rid, name, phone)
    return out
