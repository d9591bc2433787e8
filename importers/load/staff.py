"""Import staff 网格员/网格长/… (personal data: names, phones) from a table.

Fields (after the field map): ``external_id`` (the office's own id for the person, optional),
``name``, ``phone`` (a mainland mobile or a landline), ``role`` (Chinese role names — 网格长, 网格员,
网格辅助员, 网格指导员, 应急队员, 部门人员 — or StaffRole values), ``grid`` (the code of the grid they
serve) and/or ``division`` (12-digit division code; taken from the grid when only the grid is given),
and the home position as the row's point geometry (optional: a new record without one is placed on
its grid, or its division, by ``ST_PointOnSurface``; a stored record keeps its home).

Matching, never by position in the file: a row with an external id is the stored staff member with
that external id, or else the one with its phone that has no external id yet (which then gets it);
a row without one is the stored staff member with its phone. A row with neither cannot be matched on
the next import and is refused.

Territory: the grid must be one the importing user may list, the division one inside their
jurisdiction, the home inside their grids, and a matched record theirs already. Staff placed anew
are reassigned to every layer (``geo.locating.assign``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import bind, member_filter
from geo.locating.assign import assign_entities
from geo.models.membership import MemberKind
from geo.models.people import StaffRole
from importers.files.source import SourceTable
from importers.load.context import ImportContext
from importers.load.people_common import (
    audit_import,
    column_text,
    duplicates,
    lock_kind,
    masked_key,
    missing_column,
    new_report,
    problem,
    refuse_unless_ok,
    tally,
)
from importers.load.people_values import check_name, check_phone, check_role
from importers.report import Change, ImportReport

EXTERNAL_ID_MAX = 64  # staff.external_id's width (migration 0014)


@dataclass
class _Row:
    row: int
    external_id: str | None
    name: str | None
    phone: str | None  # None: not given (keep the stored phone)
    role: StaffRole | None
    grid_code: str
    division_code: str
    home_wkb: str | None  # hex WKB of the given home, WGS84
    ok: bool = True
    staff_id: int | None = None  # the stored record it matches
    grid_id: int | None = None
    division_id: int | None = None
    home: str | None = None  # hex EWKB of the home it will have
    moved: bool = False
    detail: list[str] = field(default_factory=list)


@dataclass
class _Plan:
    report: ImportReport
    create: list[_Row]
    update: list[_Row]


def plan(session: Session, table: SourceTable, ctx: ImportContext) -> ImportReport:
    """The dry run: who would be added and who changed, and every row's problems."""
    return _plan(session, table, ctx).report


def apply(session: Session, table: SourceTable, ctx: ImportContext) -> ImportReport:
    """Write the plan in the caller's transaction (all or nothing: refused on any error)."""
    lock_kind(session, "staff")
    p = _plan(session, table, ctx)
    refuse_unless_ok(p.report)
    created: list[int] = []
    if p.create:
        created = list(session.execute(text(
            "INSERT INTO staff (external_id, name, phone, role, grid_id, division_id, availability, home)"
            " SELECT u.ext, u.name, u.phone, CAST(u.role AS staff_role), u.grid, u.div, 'available',"
            "        ST_GeomFromEWKB(decode(u.home, 'hex'))"
            "   FROM unnest(CAST(:ext AS text[]), CAST(:name AS text[]), CAST(:phone AS text[]),"
            "               CAST(:role AS text[]), CAST(:grid AS int[]), CAST(:div AS int[]), CAST(:home AS text[]))"
            "        AS u(ext, name, phone, role, grid, div, home)"
            " RETURNING id"), _columns(p.create)).scalars())
    if p.update:
        session.execute(text(
            "UPDATE staff s SET external_id = coalesce(u.ext, s.external_id), name = u.name,"
            "       phone = coalesce(u.phone, s.phone), role = CAST(u.role AS staff_role), grid_id = u.grid,"
            "       division_id = u.div, home = ST_GeomFromEWKB(decode(u.home, 'hex'))"
            "  FROM unnest(CAST(:id AS int[]), CAST(:ext AS text[]), CAST(:name AS text[]), CAST(:phone AS text[]),"
            "              CAST(:role AS text[]), CAST(:grid AS int[]), CAST(:div AS int[]), CAST(:home AS text[]))"
            "       AS u(id, ext, name, phone, role, grid, div, home)"
            " WHERE s.id = u.id"), {"id": [r.staff_id for r in p.update], **_columns(p.update, keep_phone=True)})
    assign_entities(session, kind=MemberKind.STAFF, entity_ids=created, new=True)
    assign_entities(session, kind=MemberKind.STAFF, entity_ids=[r.staff_id for r in p.update if r.moved])  # type: ignore[misc]
    p.report.applied = True
    audit_import(session, ctx, p.report, entity="staff", personal_records=len(p.create) + len(p.update))
    return p.report


def _columns(rows: list[_Row], *, keep_phone: bool = False) -> dict[str, list[object]]:
    return {"ext": [r.external_id for r in rows], "name": [r.name for r in rows],
            "phone": [r.phone if keep_phone else (r.phone or "") for r in rows],
            "role": [r.role.value for r in rows],  # type: ignore[union-attr]
            "grid": [r.grid_id for r in rows], "div": [r.division_id for r in rows], "home": [r.home for r in rows]}


def _plan(session: Session, table: SourceTable, ctx: ImportContext) -> _Plan:
    bind(session, ctx.scope)
    report = new_report(table)
    if ctx.retire_missing:  # staff are referenced by events, accounts and positions: never deleted by a file
        report.warnings.append("staff absent from the file are not retired by an import: mark them out of service"
                               " or remove them one by one")
    rows = _read(table, report)
    if rows is None:
        tally(report, [], 0)
        return _Plan(report, [], [])
    _duplicates_in_file(rows, report)
    _resolve_places(session, rows, ctx, report)
    _match(session, rows, ctx, report)
    _homes(session, rows, ctx, report)
    create, update, changes, unchanged = [], [], [], 0
    for r in rows:
        if not r.ok:
            continue
        key = masked_key(r.external_id) if r.external_id else f"row {r.row}"
        if r.staff_id is None:
            create.append(r)
            changes.append(Change(code=key, action="created", detail=f"{r.role.value}"))  # type: ignore[union-attr]
        elif r.detail:
            update.append(r)
            changes.append(Change(code=key, action="changed", detail=f"row {r.row}: " + "; ".join(r.detail)))
        else:
            unchanged += 1
    tally(report, changes, unchanged)
    report.reassigned = {"staff": sum(r.moved for r in update)} if update else {}
    return _Plan(report, create, update)


def _read(table: SourceTable, report: ImportReport) -> list[_Row] | None:
    names = column_text(table, "name", "staff_name")
    roles = column_text(table, "role", "staff_role")
    phones = column_text(table, "phone", "mobile")
    ext = column_text(table, "external_id", "staff_id", "staff_code")
    grids = column_text(table, "grid", "grid_code")
    divisions = column_text(table, "division", "division_code")
    if names is None:
        missing_column(report, "name", "every staff member needs a name")
    if roles is None:
        missing_column(report, "role", "every staff member has a role (网格长, 网格员, …)")
    if grids is None and divisions is None:
        missing_column(report, "grid", "give the grid each person serves (or their division)")
    if ext is None and phones is None:
        missing_column(report, "external_id", "staff are matched by their external id or their phone")
    if names is None or roles is None or (grids is None and divisions is None) or (ext is None and phones is None):
        return None
    homes = _home_points(table, report)
    out: list[_Row] = []
    for i, row in enumerate(table.rows):
        name, p1 = check_name(row, names[i])
        role, p2 = check_role(row, roles[i])
        phone, p3 = (None, None) if phones is None or not phones[i] else check_phone(row, phones[i])
        found = [p for p in (p1, p2, p3) if p is not None]
        key = ext[i] if ext else ""
        if len(key) > EXTERNAL_ID_MAX:
            found.append(problem(row, "external_id", "bad_external_id",
                                 f"an external id has at most {EXTERNAL_ID_MAX} characters"))
        if not key and not (phones and phones[i]):
            found.append(problem(row, "external_id", "missing_key", "a staff member needs an external id or a"
                                 " phone, to be matched when the file is imported again"))
        grid, division = grids[i] if grids else "", divisions[i] if divisions else ""
        if not grid and not division:
            found.append(problem(row, "grid", "missing_grid", "the grid this person serves (or their division)"
                                 " is required"))
        report.problems.extend(found)
        out.append(_Row(row, key or None, name, phone, role, grid, division, homes[i], ok=not found
                        and homes[i] != ""))
    return out


def _home_points(table: SourceTable, report: ImportReport) -> list[str | None]:
    """Each row's home as hex WKB (None: not given; "" : not a usable point, a problem is reported)."""
    if table.geometry is None:
        return [None] * len(table)
    out: list[str | None] = []
    for row, geom in zip(table.rows, table.geometry, strict=True):
        if geom is None or geom.is_empty:
            out.append(None)
            continue
        if geom.geom_type == "MultiPoint" and len(geom.geoms) == 1:
            geom = geom.geoms[0]
        x, y = (geom.x, geom.y) if geom.geom_type == "Point" else (float("nan"), float("nan"))
        if geom.geom_type != "Point":
            report.problems.append(problem(row, "geometry", "bad_geometry", "a staff member's home is one point"))
        elif not (-180 <= x <= 180 and -90 <= y <= 90):  # NaN fails both
            report.problems.append(problem(row, "geometry", "bad_geometry",
                                           "the home's coordinates are not longitude/latitude (check the CRS)"))
        else:
            out.append(shapely.to_wkb(shapely.force_2d(geom), hex=True))
            continue
        out.append("")
    return out


def _duplicates_in_file(rows: list[_Row], report: ImportReport) -> None:
    """A key twice in one file: the second row would overwrite the first (or create a twin)."""
    numbers = [r.row for r in rows]
    for keys, field_, what in (([r.external_id for r in rows], "external_id", "external id"),
                               ([r.phone if not r.external_id else None for r in rows], "phone", "phone")):
        for i, first in duplicates(keys, numbers).items():
            report.problems.append(problem(rows[i].row, field_, f"duplicate_{field_}",
                                           f"the same {what} as row {first}"))
            rows[i].ok = False


def _resolve_places(session: Session, rows: list[_Row], ctx: ImportContext, report: ImportReport) -> None:
    """Grid and division codes to ids, with the division taken from the grid; both in territory."""
    grids = {code: (gid, div) for code, gid, div in session.execute(
        text("SELECT code, id, division_id FROM grid WHERE code = ANY(:c)"),
        {"c": sorted({r.grid_code for r in rows if r.grid_code})})}
    divisions = dict(session.execute(text("SELECT code, id FROM division WHERE code = ANY(:c)"),
                                     {"c": sorted({r.division_code for r in rows if r.division_code})}).all())
    grid_names = {gid: code for code, (gid, _) in grids.items()}
    scope = ctx.scope
    for r in rows:
        found = []
        if r.grid_code:
            if r.grid_code not in grids:
                found.append(problem(r.row, "grid", "unknown_grid", "no grid has this code"))
            else:
                r.grid_id, r.division_id = grids[r.grid_code]
                if not scope.everything and r.grid_id not in scope.visible_grids:
                    found.append(problem(r.row, "grid", "outside_scope", "the grid is outside your territory"))
        if r.division_code:
            div = divisions.get(r.division_code)
            if div is None:
                found.append(problem(r.row, "division", "unknown_division", "no division has this code"))
            elif r.grid_code and r.grid_id is not None and div != r.division_id:
                found.append(problem(r.row, "division", "division_mismatch",
                                     f"the grid {grid_names[r.grid_id]} lies in another division"))
            else:
                r.division_id = div
                if not r.grid_code and not scope.everything and div not in scope.own_divisions:
                    found.append(problem(r.row, "division", "outside_scope",
                                         "the division is outside your territory"))
        report.problems.extend(found)
        r.ok = r.ok and not found


def _match(session: Session, rows: list[_Row], ctx: ImportContext, report: ImportReport) -> None:
    """Each row's stored record, by external id, else by phone (see the module's docstring), and
    what would change in it."""
    ext = sorted({r.external_id for r in rows if r.external_id})
    phones = sorted({r.phone for r in rows if r.phone})
    by_ext: dict[str, list[int]] = {}
    by_phone: dict[str, list[tuple[int, bool]]] = {}
    for key, sid in session.execute(text("SELECT external_id, id FROM staff WHERE external_id = ANY(:k)"),
                                    {"k": ext}) if ext else ():
        by_ext.setdefault(key, []).append(sid)
    for key, sid, has_ext in session.execute(text(
            "SELECT phone, id, external_id IS NOT NULL FROM staff WHERE phone = ANY(:k)"), {"k": phones}) if phones else ():
        by_phone.setdefault(key, []).append((sid, has_ext))
    for r in rows:
        if not r.ok:
            continue
        ids = by_ext.get(r.external_id, []) if r.external_id else []
        if r.external_id and not ids and r.phone:
            ids = [sid for sid, has_ext in by_phone.get(r.phone, []) if not has_ext]
        elif not r.external_id and r.phone:
            ids = [sid for sid, _ in by_phone.get(r.phone, [])]
        if len(ids) > 1:
            field_ = "external_id" if r.external_id and by_ext.get(r.external_id) else "phone"
            report.problems.append(problem(r.row, field_, "ambiguous_match", f"{len(ids)} stored staff members"
                                           f" have this {field_.replace('_', ' ')}: give each an external id"))
            r.ok = False
        elif ids:
            r.staff_id = ids[0]
    matched_rows = [r for r in rows if r.staff_id is not None]
    for i, first in duplicates([r.staff_id for r in matched_rows], [r.row for r in matched_rows]).items():
        r = matched_rows[i]
        report.problems.append(problem(r.row, "external_id" if r.external_id else "phone", "duplicate_match",
                                       f"matches the same stored staff member as row {first}"))
        r.ok = False
    if not matched_rows:
        return
    where, params = member_filter(ctx.scope, "staff", "s2")
    stored = {sid: rest for sid, *rest in session.execute(text(
        "SELECT s.id, s.external_id, s.name, s.phone, s.role::text, s.grid_id, s.division_id,"
        f" EXISTS (SELECT 1 FROM staff s2 WHERE s2.id = s.id{where}),"
        " ST_AsHEXEWKB(s.home), (SELECT code FROM grid WHERE id = s.grid_id)"
        " FROM staff s WHERE s.id = ANY(:ids)"), {"ids": [r.staff_id for r in matched_rows], **params})}
    for r in rows:
        if r.staff_id is None or not r.ok:
            continue
        old_ext, name, phone, role, grid_id, division_id, mine, home, grid_code = stored[r.staff_id]
        if not mine:
            report.problems.append(problem(r.row, "external_id" if r.external_id else "phone", "outside_scope",
                                           "matches a staff member outside your territory"))
            r.ok = False
            continue
        r.home = home  # kept unless the file gives one (see _homes)
        if r.external_id and old_ext is None:
            r.detail.append("external id recorded")
        if name != r.name:
            r.detail.append("name updated")
        if r.phone is not None and phone != r.phone:
            r.detail.append("phone updated")
        if role != r.role.value:  # type: ignore[union-attr]
            r.detail.append(f"role {role} → {r.role.value}")  # type: ignore[union-attr]
        if grid_id != r.grid_id:
            new_code = r.grid_code if r.grid_id is not None else "none"
            r.detail.append(f"grid {grid_code or 'none'} → {new_code}")
        elif division_id != r.division_id:
            r.detail.append("division changed")


def _homes(session: Session, rows: list[_Row], ctx: ImportContext, report: ImportReport) -> None:
    """Where each row's person will live, whether that moves a stored one, and whether it is inside
    the territory — in one statement over all rows."""
    live = [r for r in rows if r.ok]
    if not live:
        return
    scope = ctx.scope
    result = session.execute(text("""
        WITH u AS (SELECT * FROM unnest(CAST(:rows AS int[]), CAST(:given AS text[]), CAST(:kept AS text[]),
                                        CAST(:grid AS int[]), CAST(:div AS int[])) AS u(row, given, kept, grid, div)),
             h AS (SELECT u.row, u.kept,
                          coalesce(ST_SetSRID(ST_GeomFromWKB(decode(u.given, 'hex')), 4326),
                                   ST_GeomFromEWKB(decode(u.kept, 'hex')),
                                   (SELECT ST_PointOnSurface(g.geom) FROM grid g WHERE g.id = u.grid),
                                   (SELECT ST_PointOnSurface(d.geom) FROM division d WHERE d.id = u.div)) AS home
                     FROM u)
        SELECT h.row, ST_AsHEXEWKB(h.home),
               h.kept IS NOT NULL AND NOT ST_DWithin(ST_GeomFromEWKB(decode(h.kept, 'hex'))::geography,
                                                     h.home::geography, 0.01),
               :all OR EXISTS (SELECT 1 FROM grid sg WHERE sg.id = ANY(:s_grids) AND ST_Covers(sg.geom, h.home)),
               EXISTS (SELECT 1 FROM division c WHERE c.level = 'county' AND ST_Covers(c.geom, h.home))
          FROM h"""), {"rows": [r.row for r in live], "given": [r.home_wkb for r in live],
                       "kept": [r.home for r in live], "grid": [r.grid_id for r in live],
                       "div": [r.division_id for r in live], "all": scope.everything,
                       "s_grids": list(scope.grids)})
    by_row = {r.row: r for r in live}
    for row, home, moved, in_scope, in_county in result:
        r = by_row[row]
        r.home, r.moved = home, moved
        if moved:
            r.detail.append("home moved")
        if not in_scope:
            report.problems.append(problem(row, "geometry", "outside_scope", "the home lies outside your territory"))
            r.ok = False
        elif not in_county:
            report.problems.append(problem(row, "geometry", "outside_county",
                                           "the home lies outside every county: check the coordinates and their CRS",
                                           severity="warning"))
