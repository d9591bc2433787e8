"""Importing households 户: a county's household register, from any reader's SourceTable.

Fields (after the field map): ``external_id`` (the register's own id 户编号; or the field named by
``ctx.key``), ``address`` (the standard address), the position (the table's point geometry, WGS84),
``division`` (the village: its 12-digit code or its name; else the village the position lies in),
``group`` (the 十联户 linked-household group's code: created when new), ``residents`` (a whole
number) and ``needs_help`` (flags: 独居老人 elderly_alone, 残疾人 disabled, separated by 、,;).

Matching, never by position in the file: a row with an external id is the stored household with
that id — or, the first time a register with ids meets households without them, the one household
of the village with exactly its address and no id yet (which then gets it); a row without an id is
the household with exactly its address in its village. A row without a position takes it from the
register: its address must designate exactly one stored household (geo/events/addresses.py).

A column the file does not have leaves the stored value alone; a column it has is the truth, an
empty cell included (no group, no flags), except that an empty address or residents cell keeps the
stored one.

Scale: one COPY into a TEMP table (points_stage), villages and territory by Shapely against prepared
polygons (points_place), then a handful of set-based statements; apply writes with INSERT … SELECT
and UPDATE … FROM and assigns in bulk (geo/locating/assign.py). bench/import_households.py times a
million rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.events.addresses import match_address
from geo.locating.assign import assign_all, assign_entities
from geo.models.membership import MemberKind
from importers.files.source import SourceTable
from importers.load.context import ImportContext
from importers.load.points_place import stage_points
from importers.load.points_report import (
    audit_import,
    count_actions,
    new_report,
    read_changes,
    read_problems,
    refuse_if_errors,
)
from importers.load.points_stage import column, roomy_temp_buffers
from importers.report import ImportReport, Problem

STAGE, RESOLVED, PLAN = "imp_household_stage", "imp_household_resolved", "imp_household_plan"

# Aliases a reader's field map may leave (the gridmap name first).
FIELDS = {
    "address": ("address",),
    "division": ("division", "village", "division_code", "village_code"),
    "group": ("group", "group_code", "linked_household_group"),
    "residents": ("residents", "residents_count"),
    "needs_help": ("needs_help", "help_needs"),
}
STAGED = {"group": "grp"}  # field → staged column, where the field's name is an SQL keyword
# needs_help words → flag (geo.models.points.HelpNeed); "无"/"none" mean no flag.
HELP_WORDS = {"elderly_alone": "elderly_alone", "独居老人": "elderly_alone", "独居": "elderly_alone",
              "空巢老人": "elderly_alone", "disabled": "disabled", "残疾人": "disabled", "残疾": "disabled",
              "残障": "disabled", "无": None, "none": None}
# A position this close to its declared village (metres) is taken as in it: a point on the shared
# edge moves a centimetre across it when rounded or converted from GCJ-02 (5 in a million of the
# benchmark's generated households did).
DIVISION_EDGE_M = 5
# Above this share of the county's households, reassignment recomputes each layer in one pass
# (geo.locating.assign.assign_all) rather than probing the grid index once per household.
WHOLE_LAYER_SHARE = 0.1


def _key_names(ctx: ImportContext) -> tuple[str, ...]:
    return (ctx.key,) if ctx.key not in ("code", "external_id") else ("external_id", "code")


def _joined(first: list, second: list) -> list:
    """Two text columns end to end (None as nothing, None if both are), elementwise in numpy."""
    a, b = np.empty(len(first), dtype=object), np.empty(len(second), dtype=object)
    a[:], b[:] = first, second
    both_none = (a == None) & (b == None)  # noqa: E711 - elementwise
    a[a == None], b[b == None] = "", ""  # noqa: E711
    out = a.astype(str).astype(object) + b.astype(str).astype(object)
    out[both_none] = None
    return out.tolist()


def _stage(session: Session, table: SourceTable, ctx: ImportContext) -> dict[str, bool]:
    """COPY the table (with each point's village and whether it is in the territory) into STAGE;
    returns which optional columns the file has."""
    n = len(table)
    given = {f: column(table, *names) for f, names in FIELDS.items()}
    number = column(table, "house_number")
    if number is not None:  # a register with the house number 门牌号 in a column of its own
        given["address"] = _joined(given["address"] or [None] * n, number)
    ext = column(table, *_key_names(ctx))
    none = [None] * n
    stage_points(session, STAGE, table, ctx.scope, ctx.county,
                 {"ext": ext or none, **{STAGED.get(f, f): v or none for f, v in given.items()}})
    return {"ext": ext is not None, **{f: v is not None for f, v in given.items()}}


def _resolve(session: Session, ctx: ImportContext) -> None:
    """RESOLVED: the staged rows with their declared village, parsed values, matched household by
    external id and the stored households with the same address in the village."""
    words = ", ".join(f"('{w}', {f'CAST({chr(39)}{f}{chr(39)} AS help_need)' if f else 'NULL'})"
                      for w, f in HELP_WORDS.items())
    session.execute(text(f"DROP TABLE IF EXISTS {RESOLVED}"))
    session.execute(text(f"""
        CREATE TEMP TABLE {RESOLVED} ON COMMIT DROP AS
        WITH villages AS (
            SELECT key, count(DISTINCT id) AS n, min(id) AS id FROM (
                SELECT code AS key, id FROM division WHERE level = 'village'
                 AND (CAST(:county AS text) IS NULL OR code LIKE :county || '%')
                UNION ALL
                SELECT name, id FROM division WHERE level = 'village'
                 AND (CAST(:county AS text) IS NULL OR code LIKE :county || '%')) k
             GROUP BY key),
        words(word, flag) AS (VALUES {words}),
        s AS (
            SELECT s.*, v.n AS division_matches, v.id AS declared_village,
                   s.lon IS NOT NULL AND s.lon <> 'NaN' AS has_pos,
                   h.id AS ext_hid
              FROM {STAGE} s
              LEFT JOIN villages v ON v.key = s.division
              LEFT JOIN household h ON h.external_id = s.ext)
        SELECT s.*,
               coalesce(s.declared_village, nullif(s.pos_village, 0)) AS village,
               CASE WHEN s.residents ~ '^[0-9]{{1,6}}(\\.0+)?$' THEN CAST(CAST(s.residents AS numeric) AS int) END
                   AS n_residents,
               s.residents IS NOT NULL AND s.residents !~ '^[0-9]{{1,6}}(\\.0+)?$' AS bad_residents,
               coalesce(n.flags, CAST('{{}}' AS help_need[])) AS flags, coalesce(n.unknown, false) AS bad_needs,
               CAST(NULL AS bigint) AS reg_hid, CAST(NULL AS text) AS reg_problem
          FROM s
          LEFT JOIN LATERAL (
                SELECT coalesce(array_agg(DISTINCT w.flag ORDER BY w.flag) FILTER (WHERE w.flag IS NOT NULL),
                                CAST('{{}}' AS help_need[])) AS flags,
                       bool_or(w.word IS NULL) AS unknown
                  FROM unnest(regexp_split_to_array(lower(s.needs_help), '\\s*[,;，；、|/]\\s*')) t(token)
                  LEFT JOIN words w ON w.word = t.token
                 WHERE t.token <> '') n ON s.needs_help IS NOT NULL
    """), {"county": ctx.county})


def _resolve_addresses(session: Session) -> None:
    """Rows without a position (and no household of theirs by external id) take the position of the
    one household their address designates in the register: exact first (set-based), then the
    normalised and fuzzy steps of geo/events/addresses.py, one lookup per remaining row."""
    session.execute(text(f"""
        UPDATE {RESOLVED} r SET reg_hid = m.id
          FROM (SELECT r.row, min(h.id) AS id, count(*) AS n FROM {RESOLVED} r
                  JOIN household h ON h.address = r.address AND (r.village IS NULL OR h.division_id = r.village)
                 WHERE NOT r.has_pos AND NOT r.not_point AND NOT r.bad_coords AND r.ext_hid IS NULL
                   AND r.address IS NOT NULL
                 GROUP BY r.row) m
         WHERE m.row = r.row AND m.n = 1"""))
    rest = session.execute(text(f"SELECT row, address, village FROM {RESOLVED} WHERE NOT has_pos AND NOT not_point"
                                " AND NOT bad_coords AND ext_hid IS NULL AND reg_hid IS NULL AND address IS NOT NULL")).all()
    found: list[tuple[int, int | None, str | None]] = []
    for row, address, village in rest:
        try:
            hit = match_address(session, address, reveal_candidates=False)
        except InvalidInput:
            found.append((row, None, "several or no households of the register have this address"))
            continue
        in_village = village is None or session.execute(
            text("SELECT division_id = :v FROM household WHERE id = :h"), {"v": village, "h": hit.household_id}
        ).scalar_one()
        found.append((row, hit.household_id, None) if in_village else
                     (row, None, "the address designates a household of another village"))
    if found:
        session.execute(text(f"UPDATE {RESOLVED} SET reg_hid = :h, reg_problem = :p WHERE row = :r"),
                        [{"r": r, "h": h, "p": p} for r, h, p in found])


def _plan_table(session: Session, ctx: ImportContext, has: dict[str, bool]) -> None:
    """PLAN: every row with its household (matched or none), its problems as boolean columns, ``err``
    and its action."""
    scope = ctx.scope
    stored_scope = ("true" if scope.everything else
                    "EXISTS (SELECT 1 FROM grid_membership m WHERE m.kind = 'household' AND m.entity_id = x.hid"
                    " AND m.layer_id = :s_layer AND m.grid_id = ANY(:s_grids))")
    grp_change = ("c.grp_code IS DISTINCT FROM c.stored_group_code" if has["group"] else "false")
    needs_change = ("c.flags IS DISTINCT FROM c.stored_needs" if has["needs_help"] else "false")
    session.execute(text(f"DROP TABLE IF EXISTS {PLAN}"))
    session.execute(text(f"""
        CREATE TEMP TABLE {PLAN} ON COMMIT DROP AS
        WITH addr AS (
            SELECT h.address, h.division_id, count(*) AS n, min(h.id) AS id,
                   count(*) FILTER (WHERE h.external_id IS NULL) AS n_free,
                   min(h.id) FILTER (WHERE h.external_id IS NULL) AS id_free
              FROM household h
             WHERE h.address IN (SELECT address FROM {RESOLVED} WHERE ext_hid IS NULL AND reg_hid IS NULL)
             GROUP BY h.address, h.division_id),
        m AS (
            SELECT r.*,
                   coalesce(r.ext_hid, r.reg_hid,
                            CASE WHEN r.ext IS NULL AND a.n = 1 THEN a.id
                                 WHEN r.ext IS NOT NULL AND a.n_free = 1 THEN a.id_free END) AS hid,
                   r.ext IS NULL AND coalesce(a.n, 0) > 1 AS ambiguous_address
              FROM {RESOLVED} r
              LEFT JOIN addr a ON a.address = r.address AND a.division_id = r.village
                              AND r.ext_hid IS NULL AND r.reg_hid IS NULL),
        x AS (
            SELECT m.*, h.address AS stored_address, h.division_id AS stored_village, h.residents AS stored_residents,
                   h.needs_help AS stored_needs, h.external_id AS stored_ext, sg.code AS stored_group_code,
                   h.geom AS stored_geom,
                   CASE WHEN m.has_pos THEN ST_SetSRID(ST_MakePoint(m.lon, m.lat), 4326) ELSE h.geom END AS geom,
                   coalesce(m.village, h.division_id) AS final_village,
                   g.id AS group_id, m.grp AS grp_code,
                   row_number() OVER (PARTITION BY m.ext ORDER BY m.row) AS ext_rank,
                   row_number() OVER (PARTITION BY m.ext IS NULL, coalesce(m.village, h.division_id), m.address
                                      ORDER BY m.row) AS addr_rank
              FROM m
              LEFT JOIN household h ON h.id = m.hid
              LEFT JOIN linked_household_group sg ON sg.id = h.group_id
              LEFT JOIN linked_household_group g ON g.code = m.grp),
        c AS (
            SELECT x.*,
                   x.not_point AS p_not_point,
                   x.bad_coords AS p_bad_coords,
                   NOT x.has_pos AND NOT x.not_point AND NOT x.bad_coords AND x.address IS NULL AND x.hid IS NULL
                       AS p_no_position,
                   x.reg_problem IS NOT NULL AS p_unresolved,
                   x.has_pos AND x.pos_village = 0 AS p_outside_county,
                   (x.has_pos AND x.pos_village <> 0 AND NOT x.pos_in_scope)
                       OR (x.hid IS NOT NULL AND NOT {stored_scope}) AS p_outside_territory,
                   x.division IS NOT NULL AND x.division_matches IS NULL AS p_unknown_division,
                   coalesce(x.division_matches, 0) > 1 AS p_ambiguous_division,
                   CASE WHEN x.declared_village IS NOT NULL AND x.has_pos AND x.pos_village <> 0
                             AND x.pos_village <> x.declared_village
                        THEN NOT ST_DWithin((SELECT CAST(d.geom AS geography) FROM division d
                                              WHERE d.id = x.declared_village), CAST(x.geom AS geography),
                                            {DIVISION_EDGE_M})
                        ELSE false END AS p_outside_division,
                   x.address IS NULL AND x.hid IS NULL AND (x.has_pos OR x.not_point OR x.bad_coords)
                       AS p_missing_address,
                   x.bad_residents AS p_bad_residents,
                   x.bad_needs AS p_bad_needs,
                   char_length(x.grp_code) > 24 AS p_bad_group,
                   char_length(x.ext) > 64 AS p_bad_key,
                   x.ext IS NOT NULL AND x.ext_rank > 1 AS p_duplicate_key,
                   x.ext IS NULL AND x.address IS NOT NULL AND x.addr_rank > 1 AS p_duplicate_address,
                   x.ambiguous_address AS p_ambiguous_address,
                   x.hid IS NOT NULL AND row_number() OVER (PARTITION BY x.hid ORDER BY x.row) > 1
                       AND NOT (x.ext IS NOT NULL AND x.ext_rank > 1) AS p_same_household
              FROM x)
        SELECT d.*, CASE WHEN d.hid IS NULL THEN 'created'
            WHEN d.ch_address OR d.ch_village OR d.ch_group OR d.ch_residents OR d.ch_needs OR d.ch_ext OR d.moved
            THEN 'changed' ELSE 'unchanged' END AS action
          FROM (
        SELECT c.*,
               p_not_point OR p_bad_coords OR p_no_position OR p_unresolved OR p_outside_county
                   OR p_outside_territory OR p_unknown_division OR p_ambiguous_division OR p_outside_division
                   OR p_missing_address OR p_bad_residents OR p_bad_needs OR coalesce(p_bad_group, false)
                   OR coalesce(p_bad_key, false) OR p_duplicate_key OR p_duplicate_address OR p_ambiguous_address
                   OR p_same_household AS err,
               c.address IS NOT NULL AND c.hid IS NOT NULL AND c.address <> c.stored_address
                   AND c.reg_hid IS NULL AS ch_address,
               c.hid IS NOT NULL AND c.final_village <> c.stored_village AS ch_village,
               c.hid IS NOT NULL AND ({grp_change}) AS ch_group,
               c.hid IS NOT NULL AND c.n_residents IS NOT NULL AND c.n_residents <> c.stored_residents AS ch_residents,
               c.hid IS NOT NULL AND ({needs_change}) AS ch_needs,
               c.hid IS NOT NULL AND c.ext IS NOT NULL AND c.stored_ext IS NULL AS ch_ext,
               c.hid IS NOT NULL AND c.has_pos
                   AND NOT (abs(ST_X(c.stored_geom) - c.lon) < 1e-9 AND abs(ST_Y(c.stored_geom) - c.lat) < 1e-9)
                   AS moved
          FROM c) d
    """), {"s_layer": scope.layer_id, "s_grids": list(scope.grids)})


CHECKS = [
    ("p_not_point", "geometry", "invalid_position", "the geometry is not a point: a household stands at one point"),
    ("p_bad_coords", "geometry", "invalid_position", "the coordinates are not a longitude and a latitude"
                                                     " (NaN, infinite or out of range)"),
    ("p_no_position", "geometry", "missing_position", "no position and no address: give the coordinates or an"
                                                      " address of the household register"),
    ("p_unresolved", "address", "unresolved_address", "no position, and the address does not designate exactly one"
                                                      " household of the register in its village: give the"
                                                      " coordinates or more of the address"),
    ("p_outside_county", "geometry", "outside_county", "the position lies outside the county (data in GCJ-02 read"
                                                       " as WGS84 lands a few hundred metres off: check --crs)"),
    ("p_outside_territory", "geometry", "outside_territory", "the household is outside your territory"),
    ("p_unknown_division", "division", "unknown_division", "no village of the county has this code or name"),
    ("p_ambiguous_division", "division", "ambiguous_division", "several villages have this name: give the"
                                                               " 12-digit division code"),
    ("p_outside_division", "division", "outside_division", "the position lies in another village, more than"
                                                           " 5 m from the one given"),
    ("p_missing_address", "address", "missing_address", "a new household needs an address"),
    ("p_bad_residents", "residents", "invalid_residents", "residents must be a whole number, 0 or more"),
    ("p_bad_needs", "needs_help", "invalid_needs_help", "unknown flag: use 独居老人 (elderly_alone) or 残疾人"
                                                        " (disabled), separated by 、 or commas"),
    ("coalesce(p_bad_group, false)", "group", "invalid_group", "a linked-household group code has at most 24"
                                                               " characters"),
    ("coalesce(p_bad_key, false)", "external_id", "invalid_key", "an external id has at most 64 characters"),
    ("p_duplicate_key", "external_id", "duplicate_key", "this external id is on an earlier row of the file too"),
    ("p_duplicate_address", "address", "duplicate_key", "an earlier row without an external id has the same address"
                                                        " in the same village"),
    ("p_ambiguous_address", "address", "ambiguous_address", "several stored households of the village have this"
                                                            " address: give the external id"),
    ("p_same_household", "external_id", "duplicate_key", "an earlier row of the file is the same stored household"),
]

_DETAIL = """nullif(concat_ws(', ',
    CASE WHEN ch_address THEN 'address' END, CASE WHEN ch_village THEN 'village' END,
    CASE WHEN ch_group THEN 'group' END,
    CASE WHEN ch_residents THEN 'residents ' || stored_residents || ' → ' || n_residents END,
    CASE WHEN ch_needs THEN 'needs_help' END, CASE WHEN ch_ext THEN 'external id recorded' END,
    CASE WHEN moved THEN 'moved ' || round(CAST(ST_Distance(CAST(stored_geom AS geography),
                                                              CAST(geom AS geography)) AS numeric), 1) || ' m' END),
    '')"""


def _missing_columns(table: SourceTable, has: dict[str, bool]) -> list[Problem]:
    if table.geometry is None and not has["address"]:
        return [Problem(None, "geometry", "missing_column", "the file has neither positions nor an address column:"
                                                            " households need one of them")]
    return []


def plan(session: Session, table: SourceTable, ctx: ImportContext) -> ImportReport:
    """The dry run: what an apply would create, change and reassign, and every row's problems.

    Leaves only TEMP tables (dropped at the end of the transaction); the stored data is untouched.
    """
    report = new_report(table)
    roomy_temp_buffers(session)
    has = _stage(session, table, ctx)
    report.problems += _missing_columns(table, has)
    if report.problems and not len(table):
        return report
    _resolve(session, ctx)
    _resolve_addresses(session)
    _plan_table(session, ctx, has)
    report.problems += read_problems(session, PLAN, CHECKS)
    count_actions(session, PLAN, report)
    report.changes = read_changes(session, PLAN, "coalesce(ext, stored_ext)", _DETAIL)
    report.reassigned = {"household": session.execute(text(
        f"SELECT count(*) FROM {PLAN} WHERE NOT err AND (action = 'created' OR moved)")).scalar_one()}
    new_groups = session.execute(text(
        f"SELECT count(DISTINCT grp_code) FROM {PLAN} WHERE NOT err AND grp_code IS NOT NULL AND group_id IS NULL"
    )).scalar_one()
    if new_groups:
        report.warnings.append(f"{new_groups} new linked-household group(s) 十联户 will be created")
    return report


def apply(session: Session, table: SourceTable, ctx: ImportContext) -> ImportReport:
    """Write the plan in the caller's transaction (the caller commits): new groups, changed and new
    households, their grids in every layer, one audit row. Refuses (InvalidInput) on any plan error;
    an unchanged file writes nothing but the audit row."""
    report = plan(session, table, ctx)
    refuse_if_errors(report)
    moving = report.reassigned["household"]
    if report.counts["created"] or report.counts["changed"]:
        whole_layers = moving > WHOLE_LAYER_SHARE * (
            report.counts["created"] + session.execute(text("SELECT count(*) FROM household")).scalar_one())
        with _indexes_rebuilt_if(session, whole_layers and _owns_household(session)):
            created = _write(session, returning=not whole_layers)
        if whole_layers:
            assign_all(session, kinds=[MemberKind.HOUSEHOLD])
        elif moving:
            moved = session.execute(text(f"SELECT hid FROM {PLAN} WHERE NOT err AND moved")).scalars().all()
            assign_entities(session, kind=MemberKind.HOUSEHOLD, entity_ids=list(moved) + created)
    report.applied = True
    audit_import(session, ctx, report, "household")
    return report


def _owns_household(session: Session) -> bool:
    """Whether the session's role may drop and create household's indexes (the CLI's owner role may,
    the server's gridmap_app may not)."""
    return bool(session.execute(text(
        "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = CAST('household' AS regclass)"
    )).scalar())


@contextmanager
def _indexes_rebuilt_if(session: Session, rebuild: bool) -> Iterator[None]:
    """For a bulk load, household's secondary indexes dropped before the INSERT and built again after it,
    in the same transaction.

    Why: the trigram GIN index on the address key and the three B-trees on the address take each new
    row one at a time; built once over the loaded table they cost a fraction (a million households
    kept the demo loader's COPY busy for over a quarter of an hour here, most of it index
    maintenance). The price: DROP INDEX holds household's ACCESS EXCLUSIVE lock until the commit, so
    readers of households wait for a bulk import (an import of a county's register, not a daily
    edit: it is done only when the file creates more than WHOLE_LAYER_SHARE of the households).
    Unique indexes and the primary key stay: they are the checks, not just the lookups.
    """
    if not rebuild:
        yield
        return
    indexes = session.execute(text("""
        SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
         WHERE x.indrelid = CAST('household' AS regclass) AND NOT x.indisunique AND NOT x.indisprimary""")).all()
    session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))  # for the builds; this transaction only
    for name, _ in indexes:
        session.execute(text(f'DROP INDEX "{name}"'))
    yield
    for _, definition in indexes:
        session.execute(text(definition))


def _write(session: Session, *, returning: bool) -> list[int]:
    """New groups, then changed and created households; the created ids when ``returning``."""
    session.execute(text(f"""
        INSERT INTO linked_household_group (code, division_id)
        SELECT grp_code, (array_agg(final_village ORDER BY row))[1] FROM {PLAN}
         WHERE NOT err AND grp_code IS NOT NULL AND group_id IS NULL AND action <> 'unchanged'
         GROUP BY grp_code"""))
    session.execute(text(f"""
        UPDATE household h SET
               address = CASE WHEN p.ch_address THEN p.address ELSE h.address END,
               division_id = p.final_village,
               group_id = CASE WHEN p.ch_group THEN coalesce(p.group_id, g.id) ELSE h.group_id END,
               residents = coalesce(p.n_residents, h.residents),
               needs_help = CASE WHEN p.ch_needs THEN p.flags ELSE h.needs_help END,
               external_id = coalesce(h.external_id, p.ext),
               geom = p.geom
          FROM {PLAN} p LEFT JOIN linked_household_group g ON p.group_id IS NULL AND g.code = p.grp_code
         WHERE p.action = 'changed' AND h.id = p.hid"""))
    result = session.execute(text(f"""
        INSERT INTO household (external_id, address, division_id, group_id, residents, needs_help, geom)
        SELECT p.ext, p.address, p.final_village, coalesce(p.group_id, g.id), coalesce(p.n_residents, 1),
               coalesce(p.flags, '{{}}'), p.geom
          FROM {PLAN} p LEFT JOIN linked_household_group g ON p.group_id IS NULL AND g.code = p.grp_code
         WHERE p.action = 'created' ORDER BY p.row
        {'RETURNING id' if returning else ''}"""))
    return list(result.scalars().all()) if returning else []
