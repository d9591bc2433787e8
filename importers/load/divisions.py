"""Import township and village boundaries: the dry run (plan) and the all-or-nothing write (apply).

A row is a division with its 12-digit statistical code (统计用区划代码: 6 county + 3 township + 3
village digits) and a name. The code says everything else: a village code (last three digits not
000) has the township ``code[:9] + '000'`` as parent, a township code (``code[6:9]`` not 000, village
digits 000) the county ``code[:6] + '000000'``. Rows are matched by code. A parent may be stored or
come in the same file (townships are written before their villages).

Divisions of one level may not overlap, and each must lie in its parent (within the rounding
tolerance of importers/load/areal_staging.py; what is outside within it is cut away). A changed
boundary can leave grids partly outside their division: the dry run warns with their number, and
the layer's topology report shows where.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.privacy import audit
from geo.privacy.pii import mask_free_text
from geo.settings import GridRules
from importers.files.source import SourceTable
from importers.load import areal_checks as checks
from importers.load import areal_staging as st
from importers.load.context import ImportContext
from importers.report import Change, ImportReport, Problem

STAGE = "imp_division"
LOCK = (72002, 0)  # advisory lock of division imports (geo/grids/editing.py locks layers in namespace 72001)
LEVELS = {"township": 1, "village": 2}
# what refers to a division: a division in use is never retired by an import
REFERENCES = (("grid", "division_id", "grids"), ("division", "parent_id", "divisions"),
              ("household", "division_id", "households"), ("staff", "division_id", "staff"),
              ("app_user", "division_id", "accounts"), ("linked_household_group", "division_id", "household groups"),
              ("event", "assignee_division_id", "events"))


def plan(session: Session, table: SourceTable, ctx: ImportContext, rules: GridRules | None = None) -> ImportReport:
    """The dry run: what the file would create, change, leave and retire, and every problem, by row."""
    return _plan(session, table, ctx, rules or GridRules())


def apply(session: Session, table: SourceTable, ctx: ImportContext, rules: GridRules | None = None) -> ImportReport:
    """Plan again under the divisions' lock, refuse on any error, then write it in the caller's transaction."""
    session.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": LOCK[0], "b": LOCK[1]})
    report = _plan(session, table, ctx, rules or GridRules())
    if not report.ok:
        errors = [p for p in report.problems if p.severity == "error"]
        raise InvalidInput(f"the file has {len(errors)} problem{'s' if len(errors) != 1 else ''}; nothing was"
                           " imported (see the dry run)", pointer="file", problems=[p.__dict__ for p in errors[:100]])
    _write(session, table, ctx, report)
    return report


def _bad(session: Session, report: ImportReport, code: str, field: str, sql: str, params: dict | None = None) -> None:
    rows = session.execute(text(sql), params or {}).all()
    st.add(report, rows, code, field)
    if rows:
        session.execute(text(f"UPDATE {STAGE} SET bad = true WHERE row = ANY(:r)"), {"r": [r[0] for r in rows]})


def _plan(session: Session, table: SourceTable, ctx: ImportContext, rules: GridRules) -> ImportReport:
    report = st.new_report(table)
    n = len(table)
    blank = [""] * n
    st.stage(session, STAGE, table, {"code": st.column(table, "code", "division_code") or blank,
                                     "name": st.column(table, "name", "division_name") or blank})
    session.execute(text(f"ALTER TABLE {STAGE} ADD COLUMN level text, ADD COLUMN parent_code text,"
                         " ADD COLUMN parent_id int"))
    s = STAGE
    _bad(session, report, "bad_code", "code",
         f"SELECT row, CASE WHEN code = '' THEN 'the division has no code'"
         " ELSE 'a division code has 12 digits, not ' || quote_literal(code) END"
         f" FROM {s} WHERE code !~ '^[0-9]{{12}}$' ORDER BY row")
    session.execute(text(f"""
        UPDATE {s} SET level = CASE WHEN right(code, 3) <> '000' THEN 'village'
                                    WHEN substr(code, 7, 3) <> '000' THEN 'township' END,
                       parent_code = CASE WHEN right(code, 3) <> '000' THEN left(code, 9) || '000'
                                          ELSE left(code, 6) || '000000' END
         WHERE NOT bad"""))
    _bad(session, report, "bad_level", "code",
         f"SELECT row, 'code ' || code || ' is a county''s: only townships and villages are imported' FROM {s}"
         " WHERE NOT bad AND level IS NULL ORDER BY row")
    if ctx.county:
        _bad(session, report, "other_county", "code",
             f"SELECT row, 'code ' || code || ' is not in county ' || :c FROM {s} WHERE NOT bad AND left(code, 6) <> :c"
             " ORDER BY row", {"c": ctx.county})
    st.duplicates(session, s, "code", report, "code")
    session.execute(text(f"UPDATE {s} x SET stored_id = d.id FROM division d WHERE d.code = x.code AND NOT x.bad"))
    _bad(session, report, "missing_name", "name",
         f"SELECT row, 'a new division needs a name' FROM {s} WHERE NOT bad AND stored_id IS NULL AND name = ''"
         " ORDER BY row")
    # the parent: stored, or a row of the file (a new township with its villages)
    session.execute(text(f"UPDATE {s} x SET parent_id = d.id, parent = d.geom FROM division d"
                         " WHERE d.code = x.parent_code AND NOT x.bad"))
    _bad(session, report, "unknown_parent", "code",
         f"SELECT x.row, 'its parent ' || x.parent_code || ' is neither stored nor in the file' FROM {s} x"
         f" WHERE NOT x.bad AND x.parent_id IS NULL AND NOT EXISTS (SELECT 1 FROM {s} p WHERE p.code = x.parent_code"
         "   AND NOT p.bad) ORDER BY x.row")
    if not ctx.scope.everything:
        own = list(ctx.scope.own_divisions)
        _bad(session, report, "outside_territory", "code",
             f"SELECT row, 'division ' || code || ' is outside your territory' FROM {s}"
             " WHERE NOT bad AND NOT (stored_id = ANY(:own) OR coalesce(parent_id = ANY(:own), false))"
             " ORDER BY row", {"own": own})
    st.check_geometry(session, s, report)
    st.compare_exact(session, s, "division")
    # a parent in the file bounds its children with its new shape
    session.execute(text(f"UPDATE {s} x SET parent = p.g FROM {s} p WHERE p.code = x.parent_code AND NOT p.bad"
                         " AND NOT x.bad"))
    tol = st.tolerance_deg(session, s) if n else 1e-6
    st.clip_to_parent(session, s, report, "division", tol)
    st.compare(session, s, "division", tol)
    session.execute(text(f"""
        UPDATE {s} x SET action = CASE WHEN x.name <> '' AND x.name <> d.name THEN 'changed' ELSE x.action END,
               detail = CASE WHEN x.name <> '' AND x.name <> d.name THEN 'name ' || d.name || ' → ' || x.name END,
               g = CASE WHEN x.action = 'unchanged' THEN d.geom ELSE x.g END
          FROM division d WHERE d.id = x.stored_id AND NOT x.bad"""))
    _final_state(session, ctx, report)
    checks.overlaps(session, report, list(LEVELS.values()), tol, "divisions of one level")
    _grids_left_outside(session, report, tol)
    st.count(report, session, s)
    report.counts["retired"] = session.execute(text("SELECT count(*) FROM imp_retired")).scalar_one()
    report.changes = [Change(r.code, r.action, None if r.gained is None else round(r.gained, 2),
                             None if r.lost is None else round(r.lost, 2), r.detail)
                      for r in session.execute(text(f"""
        SELECT code, action, gained, lost, detail FROM {s} WHERE NOT bad AND action IN ('created', 'changed')
        UNION ALL SELECT code, 'retired', NULL, NULL, NULL FROM imp_retired ORDER BY code"""))]
    return report


def _final_state(session: Session, ctx: ImportContext, report: ImportReport) -> None:
    """Divisions as the import leaves them, near the file (``imp_final``, ``grp`` = level), and those
    ``retire_missing`` retires: stored siblings of the file's rows (same level, same parent) it does not list."""
    s = STAGE
    checks.create_final(session)
    session.execute(text(f"""
        INSERT INTO imp_final (grp, code, division_id, geom, row, stored_id, touched)
        SELECT CASE level WHEN 'township' THEN 1 ELSE 2 END, code, stored_id, g, row, stored_id,
               action <> 'unchanged' FROM {s} WHERE NOT bad"""))
    session.execute(text("DROP TABLE IF EXISTS imp_retired"))
    session.execute(text("CREATE TEMP TABLE imp_retired (id int PRIMARY KEY, code text, grp int, division_id int,"
                         " geom geometry) ON COMMIT DROP"))
    absent = f"""
        SELECT d.id, d.code, d.level::text AS level FROM division d
         WHERE d.level::text IN ('township', 'village')
           AND (d.parent_id, d.level::text) IN (SELECT DISTINCT parent_id, level FROM {s} WHERE parent_id IS NOT NULL)
           AND NOT EXISTS (SELECT 1 FROM {s} x WHERE x.code = d.code)
           AND (:all OR d.id = ANY(:own))"""
    params = {"all": ctx.scope.everything, "own": list(ctx.scope.own_divisions)}
    if ctx.retire_missing:
        refs = " || ".join(
            f"coalesce(', ' || nullif((SELECT count(*) FROM {t} r WHERE r.{c} = a.id), 0) || ' {what}', '')"
            for t, c, what in REFERENCES)
        for r in session.execute(text(f"SELECT a.code, substr({refs}, 3) AS used FROM ({absent}) a ORDER BY a.code"),
                                 params):
            if r.used:
                report.problems.append(Problem(None, "code", "in_use",
                                               f"division {r.code} is absent from the file but cannot be retired:"
                                               f" {r.used} refer to it"))
        session.execute(text(f"INSERT INTO imp_retired (id, code, grp, division_id, geom)"
                             f" SELECT a.id, a.code, CASE a.level WHEN 'township' THEN 1 ELSE 2 END, a.id, d.geom"
                             f" FROM ({absent}) a JOIN division d ON d.id = a.id"), params)
    else:
        kept = session.execute(text(f"SELECT count(*) FROM ({absent}) a"), params).scalar_one()
        if kept:
            report.warnings.append(f"{kept} stored division{'s' if kept != 1 else ''} beside the file's are absent"
                                   " from it and kept (retire them with retire_missing)")
    session.execute(text(f"""
        INSERT INTO imp_final (grp, code, division_id, geom, row, stored_id, touched)
        SELECT CASE d.level::text WHEN 'township' THEN 1 ELSE 2 END, d.code, d.id, d.geom, NULL, d.id, false
          FROM division d
         WHERE d.level::text IN ('township', 'village')
           AND d.geom && (SELECT ST_SetSRID(ST_Extent(g), 4326) FROM {s} WHERE NOT bad)
           AND NOT EXISTS (SELECT 1 FROM {s} x WHERE x.code = d.code AND NOT x.bad)
           AND NOT EXISTS (SELECT 1 FROM imp_retired r WHERE r.id = d.id)"""))
    checks.index_final(session)


def _grids_left_outside(session: Session, report: ImportReport, tol_deg: float) -> None:
    """A warning per reshaped division whose grids would reach beyond its new boundary."""
    rows = session.execute(text(f"""
        SELECT x.code, count(*) AS n FROM {STAGE} x JOIN grid g ON g.division_id = x.stored_id
         WHERE NOT x.bad AND x.gained IS NOT NULL AND g.geom && x.g
           AND NOT ST_CoveredBy(g.geom, ST_Buffer(x.g, :tol))
         GROUP BY x.code ORDER BY x.code"""), {"tol": tol_deg}).all()
    for r in rows:
        report.warnings.append(f"{r.n} grid{'s' if r.n != 1 else ''} of {r.code} would reach outside its new boundary:"
                               " see the layers' topology reports after the import")


def _write(session: Session, table: SourceTable, ctx: ImportContext, report: ImportReport) -> None:
    s = STAGE
    session.execute(text(f"""
        UPDATE division d SET geom = CASE WHEN x.gained IS NULL THEN d.geom ELSE x.g END,
               name = coalesce(nullif(x.name, ''), d.name)
          FROM {s} x WHERE x.stored_id = d.id AND NOT x.bad AND x.action = 'changed'"""))
    for level in LEVELS:  # townships first: a new village's parent may be a new township
        session.execute(text(f"""
            INSERT INTO division (code, name, level, parent_id, geom)
            SELECT x.code, x.name, CAST(:level AS division_level), p.id, x.g
              FROM {s} x JOIN division p ON p.code = x.parent_code
             WHERE NOT x.bad AND x.action = 'created' AND x.level = :level ORDER BY x.row"""), {"level": level})
    session.execute(text("DELETE FROM grid_code_counter WHERE division_id IN (SELECT id FROM imp_retired)"))
    session.execute(text("DELETE FROM division WHERE id IN (SELECT id FROM imp_retired)"))
    report.applied = True
    audit.record(session, ctx.actor, action="import.divisions", entity="division", entity_id=table.sha256,
                 detail={"file": mask_free_text(table.name), "sha256": table.sha256, "counts": report.counts})
