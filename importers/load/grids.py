"""Import grids of any layer: the dry run (plan) and the all-or-nothing write (apply).

A row is a grid: ``code`` (17 digits: division 12 + layer prefix 2 + sequence 3; a new grid without one
is numbered as editing numbers it, north→south, west→east), ``name``, ``division`` (code or name; else
the code's first 12 digits), ``parent_grid`` (code, for a layer with a parent layer such as micro-grids)
and ``layer`` (else ``ctx.layer``). Rows are matched to stored grids by code, or with ``ctx.key`` by a
declared external id (kept in ``grid.external_id``; a grid found by it whose code the file changes
becomes a new grid with lineage, because a code is an identity and is never reused), never by their
position in the file.

The writes reuse what grid editing is built on, so an import is an edit like any other: the layer lock
(geo/grids/editing.lock_layer), the history trigger (every changed grid gets a version, authored by the
importer, the file named as the reason), lineage rows, the code counter, and the reassignment of
everything under the changed area (geo/grids/reassign.py). Nothing commits here: the caller's
transaction makes the import all or nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.grids.editing import lock_layer
from geo.grids.reassign import reassign, snapshot
from geo.privacy import audit
from geo.privacy.pii import mask_free_text
from geo.settings import GridRules
from importers.files.source import SourceTable
from importers.load import areal_checks as checks
from importers.load import areal_staging as st
from importers.load.context import ImportContext
from importers.load.grids_resolve import STAGE, bad, resolve
from importers.report import Change, ImportReport, Problem


def plan(session: Session, table: SourceTable, ctx: ImportContext, rules: GridRules | None = None) -> ImportReport:
    """The dry run: what the file would create, change, leave and retire, and every problem, by row."""
    return _plan(session, table, ctx, rules or GridRules())


def apply(session: Session, table: SourceTable, ctx: ImportContext, rules: GridRules | None = None) -> ImportReport:
    """Plan again under the layers' locks, refuse on any error, then write it all in the caller's transaction."""
    for layer_id in sorted(_layer_ids(session, table, ctx)):
        lock_layer(session, layer_id)
    report = _plan(session, table, ctx, rules or GridRules())
    if not report.ok:
        errors = [p for p in report.problems if p.severity == "error"]
        raise InvalidInput(f"the file has {len(errors)} problem{'s' if len(errors) != 1 else ''}; nothing was"
                           " imported (see the dry run)", pointer="file",
                           problems=[p.__dict__ for p in errors[:100]])
    _write(session, table, ctx, report)
    return report


# -- the dry run -------------------------------------------------------------------------------------

def _layer_ids(session: Session, table: SourceTable, ctx: ImportContext) -> set[int]:
    codes = set(st.column(table, "layer", "layer_code") or []) - {""}
    if ctx.layer:
        codes.add(ctx.layer)
    return set(session.execute(text("SELECT id FROM grid_layer WHERE code = ANY(:c)"), {"c": list(codes)}).scalars())


def _plan(session: Session, table: SourceTable, ctx: ImportContext, rules: GridRules) -> ImportReport:
    report = st.new_report(table)
    n = len(table)
    blank = [""] * n
    layer_col = st.column(table, "layer", "layer_code")
    if layer_col is None and not ctx.layer:
        report.problems.append(Problem(None, "layer", "missing_layer",
                                       "say which layer the grids belong to (--layer) or give a layer column"))
        return report
    if ctx.layer and not session.execute(text("SELECT 1 FROM grid_layer WHERE code = :c"), {"c": ctx.layer}).first():
        report.problems.append(Problem(None, "layer", "unknown_layer", f"there is no grid layer {ctx.layer!r}"))
        return report
    key_col = None if ctx.key == "code" else st.column(table, ctx.key)
    if ctx.key != "code" and key_col is None:
        report.problems.append(Problem(None, ctx.key, "missing_key",
                                       f"the rows are to be matched by {ctx.key!r}, but the file has no such column"))
        return report
    st.stage(session, STAGE, table, {
        "code": st.column(table, "code", "grid_code") or blank,
        "key": key_col or blank,
        "name": st.column(table, "name", "grid_name") or blank,
        "division_ref": st.column(table, "division", "division_code", "division_name") or blank,
        "parent_ref": st.column(table, "parent_grid", "parent_grid_code", "parent") or blank,
        # a row's own layer, else the one the import names
        "layer_ref": [v or ctx.layer or "" for v in layer_col] if layer_col else [ctx.layer or ""] * n,
    })
    session.execute(text(
        f"ALTER TABLE {STAGE} ADD COLUMN layer_id int, ADD COLUMN division_id int, ADD COLUMN parent_grid_id int,"
        " ADD COLUMN final_code text, ADD COLUMN recode bool NOT NULL DEFAULT false, ADD COLUMN new_id int"))
    session.execute(text(f"CREATE INDEX ON {STAGE} (stored_id)"))
    tol = st.tolerance_deg(session, STAGE) if n else 1e-6
    resolve(session, table, ctx, report)
    st.check_geometry(session, STAGE, report)
    st.compare_exact(session, STAGE, "grid")
    st.clip_to_parent(session, STAGE, report, "(its division, or its parent grid)", tol)
    st.compare(session, STAGE, "grid", tol)
    _attribute_changes(session)
    _number_new_grids(session, report)
    st.check_degenerate(session, STAGE, report, rules)
    layers = _layers(session)
    _final_state(session, ctx, report)
    checks.overlaps(session, report, [i for i, lay in layers.items() if not lay["allow_overlap"]], tol,
                    "grids of a layer that forbids overlaps")
    checks.gaps(session, report, {i: lay["code"] for i, lay in layers.items()
                                  if lay["full_cover"] and lay["parent_layer_id"] is None}, tol,
                rules.gap_tolerance_m2)
    _successors(session, report)
    report.reassigned = _reassignment_preview(session)
    st.count(report, session, STAGE)
    report.counts["retired"] = session.execute(text("SELECT count(*) FROM imp_retired")).scalar_one()
    report.changes = _changes(session)
    return report


def _attribute_changes(session: Session) -> None:
    """An unchanged shape with a new name, division, parent or code is a change too; say which."""
    session.execute(text(f"""
        UPDATE {STAGE} x SET detail = nullif(concat_ws('; ',
                   CASE WHEN x.recode THEN 'code ' || g.code || ' → ' || x.code || ' (lineage recorded)' END,
                   CASE WHEN x.name <> '' AND x.name <> g.name THEN 'name ' || g.name || ' → ' || x.name END,
                   CASE WHEN x.division_id <> g.division_id THEN 'division changed' END,
                   CASE WHEN x.parent_grid_id IS DISTINCT FROM g.parent_grid_id THEN 'parent grid changed' END), ''),
               action = CASE WHEN x.action = 'unchanged' AND (x.recode OR (x.name <> '' AND x.name <> g.name)
                                  OR x.division_id <> g.division_id
                                  OR x.parent_grid_id IS DISTINCT FROM g.parent_grid_id) THEN 'changed'
                             ELSE x.action END,
               g = CASE WHEN x.action = 'unchanged' THEN g.geom ELSE x.g END  -- unchanged keeps the stored shape
          FROM grid g WHERE g.id = x.stored_id AND NOT x.bad"""))
    session.execute(text(f"UPDATE {STAGE} x SET final_code = CASE WHEN x.code <> '' THEN x.code ELSE g.code END"
                         " FROM grid g WHERE g.id = x.stored_id AND NOT x.bad"))
    session.execute(text(f"UPDATE {STAGE} SET final_code = code WHERE stored_id IS NULL AND code <> '' AND NOT bad"))


def _number_new_grids(session: Session, report: ImportReport) -> None:
    """Codes for new grids that have none: the counter's next numbers, north→south, west→east, as editing
    numbers them (the counter itself moves only in apply), and never below a number the file uses."""
    session.execute(text(f"""
        WITH base AS (
            SELECT x.division_id, x.layer_id, greatest(coalesce(max(c.last_seq), 0),
                   coalesce(max(CAST(right(y.final_code, 3) AS int)), 0)) AS seq
              FROM (SELECT DISTINCT division_id, layer_id FROM {STAGE} WHERE final_code IS NULL AND NOT bad) x
              LEFT JOIN grid_code_counter c ON c.division_id = x.division_id AND c.layer_id = x.layer_id
              LEFT JOIN {STAGE} y ON y.division_id = x.division_id AND y.layer_id = x.layer_id AND y.final_code IS NOT NULL
             GROUP BY x.division_id, x.layer_id),
        numbered AS (
            SELECT x.row, d.code || l.code_prefix AS prefix, b.seq + row_number() OVER (
                       PARTITION BY x.division_id, x.layer_id
                       ORDER BY ST_Y(ST_PointOnSurface(x.g)) DESC, ST_X(ST_PointOnSurface(x.g)), x.row) AS seq
              FROM {STAGE} x JOIN base b USING (division_id, layer_id)
              JOIN division d ON d.id = x.division_id JOIN grid_layer l ON l.id = x.layer_id
             WHERE x.final_code IS NULL AND NOT x.bad)
        UPDATE {STAGE} x SET final_code = n.prefix || CASE WHEN n.seq > 999 THEN CAST(n.seq AS text)
                                                       ELSE lpad(CAST(n.seq AS text), 3, '0') END FROM numbered n
         WHERE n.row = x.row"""))
    bad(session, report, "codes_exhausted", "code",
         f"SELECT row, 'its division has used all 999 grid numbers of the layer' FROM {STAGE}"
         " WHERE NOT bad AND length(final_code) > 17 ORDER BY row")


def _layers(session: Session) -> dict[int, dict[str, Any]]:
    rows = session.execute(text(
        f"SELECT id, code, code_prefix, allow_overlap, full_cover, parent_layer_id FROM grid_layer"
        f" WHERE id IN (SELECT layer_id FROM {STAGE} WHERE NOT bad)")).mappings()
    return {r["id"]: dict(r) for r in rows}


def _final_state(session: Session, ctx: ImportContext, report: ImportReport) -> None:
    """``imp_final``: the layers as the import would leave them, near the file; ``imp_retired``: what
    ``retire_missing`` retires (the stored grids of the file's layers and divisions it does not list)."""
    checks.create_final(session)
    session.execute(text(f"""
        INSERT INTO imp_final (grp, code, division_id, geom, row, stored_id, touched)
        SELECT layer_id, final_code, division_id, g, row, stored_id, action <> 'unchanged'
          FROM {STAGE} WHERE NOT bad"""))
    session.execute(text("DROP TABLE IF EXISTS imp_retired"))
    session.execute(text(
        "CREATE TEMP TABLE imp_retired (id int PRIMARY KEY, code text, grp int, division_id int, geom geometry,"
        " successor_fid int) ON COMMIT DROP"))
    absent = f"""
        SELECT g.id, g.code, g.layer_id, g.division_id, g.geom FROM grid g
         WHERE (g.layer_id, g.division_id) IN (SELECT DISTINCT layer_id, division_id FROM {STAGE}
                                                WHERE layer_id IS NOT NULL AND division_id IS NOT NULL)
           AND NOT EXISTS (SELECT 1 FROM {STAGE} x WHERE x.stored_id = g.id)
           AND (:all OR g.id = ANY(:visible))"""
    params = {"all": ctx.scope.everything, "visible": list(ctx.scope.visible_grids)}
    if ctx.retire_missing:
        session.execute(text(f"INSERT INTO imp_retired (id, code, grp, division_id, geom) {absent}"), params)
    else:
        kept = session.execute(text(f"SELECT count(*) FROM ({absent}) a"), params).scalar_one()
        if kept:
            report.warnings.append(f"{kept} stored grid{'s' if kept != 1 else ''} of the file's layers and divisions"
                                   " are absent from the file and kept (retire them with retire_missing)")
    # the stored grids that stay, near what the file touches (for overlaps and gaps)
    extent = session.execute(text(f"""
        SELECT ST_AsEWKB(ST_SetSRID(ST_Extent(e), 4326)) FROM (
            SELECT g AS e FROM {STAGE} WHERE NOT bad UNION ALL SELECT geom FROM imp_retired
            UNION ALL SELECT d.geom FROM division d WHERE d.id IN (SELECT division_id FROM {STAGE})) ex""")).scalar()
    session.execute(text(f"""
        INSERT INTO imp_final (grp, code, division_id, geom, row, stored_id, touched)
        SELECT g.layer_id, g.code, g.division_id, g.geom, NULL, g.id, false FROM grid g
         WHERE g.layer_id = ANY(:layers) AND g.geom && ST_GeomFromEWKB(:extent)
           AND g.id NOT IN (SELECT stored_id FROM {STAGE} WHERE stored_id IS NOT NULL AND NOT bad)
           AND g.id NOT IN (SELECT id FROM imp_retired)"""),
        {"layers": list(session.execute(text(f"SELECT DISTINCT layer_id FROM {STAGE} WHERE NOT bad")).scalars()),
         "extent": None if extent is None else bytes(extent)})
    checks.index_final(session)


def _successors(session: Session, report: ImportReport) -> None:
    """Who takes over from a retired grid: the final grid of its layer overlapping it most. Its child grids,
    staff and accounts go there; a retired grid with any of those and no successor is an error."""
    session.execute(text("""
        UPDATE imp_retired r SET successor_fid = (
            SELECT f.fid FROM imp_final f WHERE f.grp = r.grp AND f.geom && r.geom
               AND ST_Relate(f.geom, r.geom, '2********')
             ORDER BY ST_Area(ST_Intersection(f.geom, r.geom)) DESC, f.code LIMIT 1)"""))
    rows = session.execute(text("""
        SELECT r.code, (SELECT count(*) FROM grid c WHERE c.parent_grid_id = r.id) AS children,
               (SELECT count(*) FROM staff s WHERE s.grid_id = r.id) AS staff,
               (SELECT count(*) FROM app_user u WHERE u.grid_id = r.id) AS users
          FROM imp_retired r WHERE r.successor_fid IS NULL ORDER BY r.code""")).all()
    for r in rows:
        held = ", ".join(f"{n} {what}" for n, what in ((r.children, "child grids"), (r.staff, "staff"),
                                                         (r.users, "accounts")) if n)
        if held:
            report.problems.append(Problem(None, "code", "orphaned",
                                           f"retiring {r.code} would orphan {held}: no grid of the file takes its"
                                           " place"))


def _touched_sql() -> str:
    """The areas whose membership the import changes, per layer: new and old shapes of what it writes."""
    return f"""
        SELECT layer_id AS grp, g AS geom FROM {STAGE} WHERE NOT bad AND (action = 'created' OR gained IS NOT NULL
                                                                          OR recode)
        UNION ALL SELECT x.layer_id, t.geom FROM {STAGE} x JOIN grid t ON t.id = x.stored_id
         WHERE NOT x.bad AND x.gained IS NOT NULL
        UNION ALL SELECT grp, geom FROM imp_retired"""


def _reassignment_preview(session: Session) -> dict[str, int]:
    """How many of each kind would change grid: those under the touched areas whose covering grid (the
    smallest code, as geo.locating.assign decides) differs from the one they are in now.

    Set-based as geo.locating.assign is: the candidates are found by looping over the touched shapes and
    their new grid by looping over the final grids, each probing an index of points with one prepared
    polygon (a per-entity subquery took over 30 s for 100,000 households under a new layer).
    """
    from geo.locating.assign import ENTITY_GEOMETRY

    session.execute(text(f"DROP TABLE IF EXISTS imp_touched; CREATE TEMP TABLE imp_touched ON COMMIT DROP AS"
                         f" {_touched_sql()}"))
    out: dict[str, int] = {}
    for kind, (table, column) in ENTITY_GEOMETRY.items():
        session.execute(text(f"""
            DROP TABLE IF EXISTS imp_cand;
            CREATE TEMP TABLE imp_cand ON COMMIT DROP AS
            SELECT DISTINCT t.grp, x.id, x.geom FROM imp_touched t
             CROSS JOIN LATERAL (SELECT x.id, x.{column} AS geom FROM {table} x
                                  WHERE x.{column} && t.geom AND ST_Intersects(t.geom, x.{column})) x;
            CREATE INDEX ON imp_cand USING gist (geom); ANALYZE imp_cand"""))
        n = session.execute(text("""
            WITH new AS (
                SELECT DISTINCT ON (c.grp, c.id) c.grp, c.id, f.code FROM imp_final f
                 CROSS JOIN LATERAL (SELECT c.grp, c.id FROM imp_cand c
                                      WHERE c.grp = f.grp AND c.geom && f.geom AND ST_Covers(f.geom, c.geom)) c
                 ORDER BY c.grp, c.id, f.code),
            old AS (
                SELECT m.layer_id AS grp, m.entity_id AS id, g.code FROM grid_membership m JOIN grid g ON g.id = m.grid_id
                 WHERE m.kind = :k AND (m.layer_id, m.entity_id) IN (SELECT grp, id FROM imp_cand))
            SELECT count(*) FROM imp_cand c LEFT JOIN new n ON n.grp = c.grp AND n.id = c.id
              LEFT JOIN old o ON o.grp = c.grp AND o.id = c.id
             WHERE n.code IS DISTINCT FROM o.code"""), {"k": kind.value}).scalar_one()
        if n:
            out[kind.value] = n
    return out


def _changes(session: Session) -> list[Change]:
    rows = session.execute(text(f"""
        SELECT final_code AS code, action, gained, lost, detail FROM {STAGE}
         WHERE NOT bad AND action IN ('created', 'changed')
        UNION ALL SELECT code, 'retired', NULL, NULL, NULL FROM imp_retired ORDER BY code""")).all()
    return [Change(r.code, r.action, None if r.gained is None else round(r.gained, 2),
                   None if r.lost is None else round(r.lost, 2), r.detail) for r in rows]


# -- apply -------------------------------------------------------------------------------------------

def _write(session: Session, table: SourceTable, ctx: ImportContext, report: ImportReport) -> None:
    reason = f"import of {mask_free_text(table.name)} (sha256 {table.sha256})"
    session.execute(text("SELECT set_config('gridmap.actor', :a, true), set_config('gridmap.reason', :r, true)"),
                    {"a": ctx.actor.username, "r": reason[:500]})
    areas = {r.grp: bytes(r.area) for r in session.execute(text(
        f"SELECT grp, ST_AsEWKB(ST_UnaryUnion(ST_Collect(geom))) AS area FROM ({_touched_sql()}) t GROUP BY grp"))}
    before = {layer_id: snapshot(session, layer_id, area) for layer_id, area in areas.items()}
    external = ctx.key != "code"
    # the counter never falls behind a code in use, so editing never hands out one the file took
    session.execute(text(f"""
        INSERT INTO grid_code_counter AS c (division_id, layer_id, last_seq)
        SELECT division_id, layer_id, max(CAST(right(final_code, 3) AS int)) FROM {STAGE}
         WHERE NOT bad AND (action = 'created' OR recode) GROUP BY division_id, layer_id
        ON CONFLICT (division_id, layer_id) DO UPDATE SET last_seq = greatest(c.last_seq, EXCLUDED.last_seq)"""))
    session.execute(text(f"""
        UPDATE grid g SET geom = CASE WHEN x.gained IS NULL THEN g.geom ELSE x.g END,
               name = coalesce(nullif(x.name, ''), g.name), division_id = x.division_id,
               parent_grid_id = x.parent_grid_id,
               external_id = CASE WHEN :ext THEN x.key ELSE g.external_id END
          FROM {STAGE} x WHERE x.stored_id = g.id AND NOT x.bad AND x.action = 'changed' AND NOT x.recode"""),
        {"ext": external})
    if external:  # matched by code the first time: remember the id (no new version: history has no such field)
        session.execute(text(f"UPDATE grid g SET external_id = x.key FROM {STAGE} x WHERE x.stored_id = g.id"
                             " AND NOT x.bad AND x.action = 'unchanged' AND g.external_id IS DISTINCT FROM x.key"))
        session.execute(text(f"UPDATE grid g SET external_id = NULL FROM {STAGE} x WHERE x.stored_id = g.id"
                             " AND x.recode AND NOT x.bad"))
    session.execute(text(f"""
        WITH ins AS (
            INSERT INTO grid (code, layer_id, division_id, parent_grid_id, name, notes, geom, version, external_id)
            SELECT x.final_code, x.layer_id, x.division_id, x.parent_grid_id,
                   coalesce(nullif(x.name, ''), (SELECT name FROM grid WHERE id = x.stored_id)), '', x.g, 1,
                   nullif(x.key, '')
              FROM {STAGE} x WHERE NOT x.bad AND (x.action = 'created' OR x.recode) ORDER BY x.row
            RETURNING id, code)
        UPDATE {STAGE} x SET new_id = ins.id FROM ins WHERE ins.code = x.final_code AND NOT x.bad"""))
    # a renumbered grid is a new grid: the old one hands over everything and is retired, with lineage
    _hand_over(session, f"SELECT stored_id AS old, new_id AS new FROM {STAGE} WHERE recode AND NOT bad", "import",
               ctx.actor.username)
    _hand_over(session, f"""
        SELECT r.id AS old, CASE WHEN f.row IS NULL THEN f.stored_id ELSE coalesce(x.new_id, x.stored_id) END AS new
          FROM imp_retired r
          JOIN imp_final f ON f.fid = r.successor_fid LEFT JOIN {STAGE} x ON x.row = f.row
        UNION ALL SELECT id, NULL FROM imp_retired WHERE successor_fid IS NULL""", "retire", ctx.actor.username)
    moved: Counter[str] = Counter()
    for layer_id, area in areas.items():
        for move in reassign(session, layer_id, area, before[layer_id]):
            moved[move.kind] += move.count
    report.reassigned = dict(moved)
    report.applied = True
    audit.record(session, ctx.actor, action="import.grids", entity="grid", entity_id=table.sha256,
                 detail={"file": mask_free_text(table.name), "sha256": table.sha256, "counts": report.counts,
                         "moved": dict(moved)})


def _hand_over(session: Session, pairs_sql: str, operation: str, author: str) -> None:
    """Retire the grids ``old`` of ``pairs_sql`` (old, new): child grids, staff and accounts go to ``new``,
    memberships go (reassignment recomputes them), the grid leaves ``grid`` (the trigger closes its
    history) and lineage old → new is recorded."""
    session.execute(text(f"DROP TABLE IF EXISTS imp_pairs; CREATE TEMP TABLE imp_pairs ON COMMIT DROP AS {pairs_sql}"))
    for table_name, col in (("grid", "parent_grid_id"), ("staff", "grid_id"), ("app_user", "grid_id")):
        session.execute(text(f"UPDATE {table_name} t SET {col} = p.new FROM imp_pairs p WHERE t.{col} = p.old"
                             " AND p.new IS NOT NULL"))
    session.execute(text("DELETE FROM grid_membership WHERE grid_id IN (SELECT old FROM imp_pairs)"))
    session.execute(text("DELETE FROM grid WHERE id IN (SELECT old FROM imp_pairs)"))
    session.execute(text("INSERT INTO grid_lineage (parent_id, child_id, operation, author)"
                         " SELECT old, new, :op, :a FROM imp_pairs WHERE new IS NOT NULL"), {"op": operation, "a": author})
