"""Importing cameras (雪亮工程): code, position, where they look and how far, from a SourceTable.

Fields (after the field map): ``code`` (or the field named by ``ctx.key``; cameras are matched by
it), ``name`` (defaults to the code), the position (the table's point geometry, WGS84), ``bearing``
(degrees clockwise from north, 0–360; 360 is stored as 0), ``fov`` (field of view, degrees, more than
0 up to 360), ``range_m`` (metres, more than 0) and ``status`` (online/offline/maintenance, or 在线,
离线, 维修). A new camera needs all of them but name and status (default online); for a stored one
an absent column or an empty cell keeps the stored value.

Same shape as the households import: one COPY into a TEMP table, Shapely for where the points fall,
set-based SQL for the checks and the writes, every created or moved camera assigned to its grid in
every layer (geo/locating/assign.py), one audit row naming the file and its SHA-256.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.locating.assign import assign_entities
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

STAGE, PLAN = "imp_camera_stage", "imp_camera_plan"
FIELDS = {"name": ("name",), "bearing": ("bearing", "azimuth"), "fov": ("fov", "field_of_view"),
          "range_m": ("range_m", "range"), "status": ("status",)}
STATUS_WORDS = {"online": "online", "在线": "online", "正常": "online", "offline": "offline", "离线": "offline",
                "maintenance": "maintenance", "维修": "maintenance", "维护": "maintenance", "故障": "maintenance"}
_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _stage(session: Session, table: SourceTable, ctx: ImportContext) -> dict[str, bool]:
    n = len(table)
    code = column(table, ctx.key, "code")
    given = {f: column(table, *names) for f, names in FIELDS.items()}
    none = [None] * n
    stage_points(session, STAGE, table, ctx.scope, ctx.county,
                 {"code": code or none, **{f: v or none for f, v in given.items()}})
    return {"code": code is not None, **{f: v is not None for f, v in given.items()}}


def _plan_table(session: Session, ctx: ImportContext) -> None:
    scope = ctx.scope
    stored_scope = ("true" if scope.everything else
                    "EXISTS (SELECT 1 FROM grid_membership m WHERE m.kind = 'camera' AND m.entity_id = c.id"
                    " AND m.layer_id = :s_layer AND m.grid_id = ANY(:s_grids))")
    words = ", ".join(f"('{w}', '{s}')" for w, s in STATUS_WORDS.items())
    session.execute(text(f"DROP TABLE IF EXISTS {PLAN}"))
    session.execute(text(f"""
        CREATE TEMP TABLE {PLAN} ON COMMIT DROP AS
        WITH words(word, status) AS (VALUES {words}),
        s AS (
            SELECT s.*, s.lon IS NOT NULL AND s.lon <> 'NaN' AS has_pos,
                   CASE WHEN s.bearing ~ :num THEN CAST(s.bearing AS float8) END AS b,
                   CASE WHEN s.fov ~ :num THEN CAST(s.fov AS float8) END AS f,
                   CASE WHEN s.range_m ~ :num THEN CAST(s.range_m AS float8) END AS r,
                   w.status AS st,
                   c.id, c.name AS s_name, c.bearing AS s_bearing, c.fov AS s_fov, c.range_m AS s_range,
                   CAST(c.status AS text) AS s_status, c.geom AS stored_geom,
                   row_number() OVER (PARTITION BY s.code ORDER BY s.row) AS code_rank
              FROM {STAGE} s
              LEFT JOIN words w ON w.word = lower(s.status)
              LEFT JOIN camera c ON c.code = s.code),
        x AS (
            SELECT s.*,
                   s.code IS NULL AS p_no_code,
                   coalesce(char_length(s.code) > 32, false) AS p_bad_code,
                   s.code IS NOT NULL AND s.code_rank > 1 AS p_duplicate,
                   s.not_point AS p_not_point, s.bad_coords AS p_bad_coords,
                   s.id IS NULL AND NOT s.has_pos AND NOT s.not_point AND NOT s.bad_coords AS p_no_position,
                   s.has_pos AND s.pos_village = 0 AS p_outside_county,
                   (s.has_pos AND s.pos_village <> 0 AND NOT s.pos_in_scope)
                       OR (s.id IS NOT NULL AND NOT {stored_scope.replace('c.id', 's.id')}) AS p_outside_territory,
                   (s.bearing IS NOT NULL AND NOT coalesce(s.b BETWEEN 0 AND 360, false))
                       OR (s.id IS NULL AND s.bearing IS NULL) AS p_bad_bearing,
                   (s.fov IS NOT NULL AND NOT coalesce(s.f > 0 AND s.f <= 360, false))
                       OR (s.id IS NULL AND s.fov IS NULL) AS p_bad_fov,
                   (s.range_m IS NOT NULL AND NOT coalesce(s.r > 0 AND s.r < 'Infinity', false))
                       OR (s.id IS NULL AND s.range_m IS NULL) AS p_bad_range,
                   s.status IS NOT NULL AND s.st IS NULL AS p_bad_status,
                   coalesce(char_length(s.name) > 200, false) AS p_bad_name,
                   CASE WHEN s.has_pos THEN ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326) ELSE s.stored_geom END
                       AS geom,
                   CASE WHEN s.b = 360 THEN 0 ELSE s.b END AS bearing_value
              FROM s),
        d AS (
            SELECT x.*,
                   p_no_code OR p_bad_code OR p_duplicate OR p_not_point OR p_bad_coords OR p_no_position
                       OR p_outside_county OR p_outside_territory OR p_bad_bearing OR p_bad_fov OR p_bad_range
                       OR p_bad_status OR p_bad_name AS err,
                   -- Angles and ranges compare within a micro-degree and 0.1 mm: a spreadsheet keeps 15
                   -- significant digits, so an exported camera read back must not count as changed.
                   x.id IS NOT NULL AND x.name IS NOT NULL AND x.name <> x.s_name AS ch_name,
                   x.id IS NOT NULL AND x.bearing_value IS NOT NULL AND abs(x.bearing_value - x.s_bearing) > 1e-6 AS ch_bearing,
                   x.id IS NOT NULL AND x.f IS NOT NULL AND abs(x.f - x.s_fov) > 1e-6 AS ch_fov,
                   x.id IS NOT NULL AND x.r IS NOT NULL AND abs(x.r - x.s_range) > 1e-4 AS ch_range,
                   x.id IS NOT NULL AND x.st IS NOT NULL AND x.st <> x.s_status AS ch_status,
                   x.id IS NOT NULL AND x.has_pos
                       AND NOT (abs(ST_X(x.stored_geom) - x.lon) < 1e-9 AND abs(ST_Y(x.stored_geom) - x.lat) < 1e-9)
                       AS moved
              FROM x)
        SELECT d.*, CASE WHEN d.id IS NULL THEN 'created'
                         WHEN ch_name OR ch_bearing OR ch_fov OR ch_range OR ch_status OR moved THEN 'changed'
                         ELSE 'unchanged' END AS action
          FROM d
    """), {"s_layer": scope.layer_id, "s_grids": list(scope.grids), "num": _NUMBER})


CHECKS = [
    ("p_no_code", "code", "missing_code", "a camera needs its code"),
    ("p_bad_code", "code", "invalid_code", "a camera code has at most 32 characters"),
    ("p_duplicate", "code", "duplicate_code", "this code is on an earlier row of the file too"),
    ("p_not_point", "geometry", "invalid_position", "the geometry is not a point: a camera stands at one point"),
    ("p_bad_coords", "geometry", "invalid_position", "the coordinates are not a longitude and a latitude"
                                                     " (NaN, infinite or out of range)"),
    ("p_no_position", "geometry", "missing_position", "a new camera needs its position"),
    ("p_outside_county", "geometry", "outside_county", "the position lies outside the county (data in GCJ-02 read"
                                                       " as WGS84 lands a few hundred metres off: check --crs)"),
    ("p_outside_territory", "geometry", "outside_territory", "the camera is outside your territory"),
    ("p_bad_bearing", "bearing", "invalid_bearing", "bearing must be a number of degrees from 0 to 360"
                                                    " (clockwise from north)"),
    ("p_bad_fov", "fov", "invalid_fov", "field of view must be a number of degrees, more than 0 and at most 360"),
    ("p_bad_range", "range_m", "invalid_range", "range must be a number of metres, more than 0"),
    ("p_bad_status", "status", "invalid_status", "status must be online, offline or maintenance (在线, 离线, 维修)"),
    ("p_bad_name", "name", "invalid_name", "a camera name has at most 200 characters"),
]

_DETAIL = """nullif(concat_ws(', ', CASE WHEN ch_name THEN 'name' END,
    CASE WHEN ch_bearing THEN 'bearing ' || round(CAST(s_bearing AS numeric), 2) || '° → '
                                         || round(CAST(bearing_value AS numeric), 2) || '°' END,
    CASE WHEN ch_fov THEN 'fov ' || round(CAST(s_fov AS numeric), 2) || '° → ' || round(CAST(f AS numeric), 2) || '°' END,
    CASE WHEN ch_range THEN 'range ' || round(CAST(s_range AS numeric), 2) || ' → ' || round(CAST(r AS numeric), 2)
                            || ' m' END,
    CASE WHEN ch_status THEN 'status ' || s_status || ' → ' || st END,
    CASE WHEN moved THEN 'moved ' || round(CAST(ST_Distance(CAST(stored_geom AS geography),
                                                              CAST(geom AS geography)) AS numeric), 1) || ' m' END),
    '')"""


def plan(session: Session, table: SourceTable, ctx: ImportContext) -> ImportReport:
    """The dry run: created / changed / unchanged cameras, the row problems and what would be
    reassigned. Leaves only TEMP tables."""
    report = new_report(table)
    roomy_temp_buffers(session)
    has = _stage(session, table, ctx)
    if not has["code"]:
        report.problems.append(Problem(None, "code", "missing_column", "the file has no camera code column:"
                                                                       " cameras are matched by their code"))
        return report
    _plan_table(session, ctx)
    report.problems += read_problems(session, PLAN, CHECKS)
    count_actions(session, PLAN, report)
    report.changes = read_changes(session, PLAN, "code", _DETAIL)
    report.reassigned = {"camera": session.execute(text(
        f"SELECT count(*) FROM {PLAN} WHERE NOT err AND (action = 'created' OR moved)")).scalar_one()}
    return report


def apply(session: Session, table: SourceTable, ctx: ImportContext) -> ImportReport:
    """Write the plan in the caller's transaction: changed and new cameras, their grids in every
    layer, one audit row. Refuses (InvalidInput) on any plan error."""
    report = plan(session, table, ctx)
    refuse_if_errors(report)
    if report.counts["created"] or report.counts["changed"]:
        session.execute(text(f"""
            UPDATE camera c SET name = coalesce(p.name, c.name), bearing = coalesce(p.bearing_value, c.bearing),
                   fov = coalesce(p.f, c.fov), range_m = coalesce(p.r, c.range_m),
                   status = coalesce(CAST(p.st AS camera_status), c.status), geom = p.geom
              FROM {PLAN} p WHERE p.action = 'changed' AND c.id = p.id"""))
        created = session.execute(text(f"""
            INSERT INTO camera (code, name, bearing, fov, range_m, status, geom)
            SELECT code, coalesce(name, code), bearing_value, f, r, CAST(coalesce(st, 'online') AS camera_status), geom
              FROM {PLAN} WHERE action = 'created' ORDER BY row RETURNING id""")).scalars().all()
        moved = session.execute(text(f"SELECT id FROM {PLAN} WHERE action = 'changed' AND moved")).scalars().all()
        assign_entities(session, kind=MemberKind.CAMERA, entity_ids=[*moved, *created])
    report.applied = True
    audit_import(session, ctx, report, "camera")
    return report
