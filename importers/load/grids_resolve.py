"""Grid import, step one of the plan: each staged row's layer, stored match, division and parent, and
whether it lies in the importer's territory. A row that fails is marked bad and its problem filed with
the row, field and reason; the rest of the plan (importers/load/grids.py) looks only at good rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.privacy.pii import find_personal_numbers
from importers.files.source import SourceTable
from importers.load import areal_staging as st
from importers.load.context import ImportContext
from importers.report import ImportReport

STAGE = "imp_grid"


def bad(session: Session, report: ImportReport, code: str, field: str, sql: str, params: dict[str, Any] | None = None
         ) -> None:
    """Run ``sql`` (SELECT row, message FROM imp_grid ...), mark those rows bad, file the problems."""
    rows = session.execute(text(sql), params or {}).all()
    st.add(report, rows, code, field)
    if rows:
        session.execute(text(f"UPDATE {STAGE} SET bad = true WHERE row = ANY(:r)"), {"r": [r[0] for r in rows]})


def resolve(session: Session, table: SourceTable, ctx: ImportContext, report: ImportReport) -> None:
    """Layer, stored match, division and parent of every row; attribute problems."""
    s = STAGE
    session.execute(text(f"UPDATE {s} x SET layer_id = l.id FROM grid_layer l WHERE l.code = x.layer_ref"))
    bad(session, report, "unknown_layer", "layer",
         f"SELECT row, CASE WHEN layer_ref = '' THEN 'no layer given' ELSE 'no grid layer ' || quote_literal(layer_ref)"
         f" END FROM {s} WHERE layer_id IS NULL ORDER BY row")
    bad(session, report, "bad_code", "code",
         f"SELECT row, 'a grid code has 17 digits (division 12, layer 2, sequence 3), not ' || quote_literal(code)"
         f" FROM {s} WHERE code <> '' AND code !~ '^[0-9]{{17}}$' ORDER BY row")
    if ctx.key == "code":
        bad(session, report, "missing_code", "code",
             f"SELECT row, 'the rows are matched by code and this one has none: give its code, or match the rows by an id'"
             f" || ' of your own (key), so that importing the file again finds the grid' FROM {s} WHERE code = ''"
             " ORDER BY row")
        st.duplicates(session, s, "code", report, "code")
        session.execute(text(f"UPDATE {s} x SET stored_id = g.id FROM grid g WHERE g.code = x.code AND NOT x.bad"))
    else:
        bad(session, report, "missing_key", ctx.key,
             f"SELECT row, 'the rows are matched by ' || :k || ', and this one has none' FROM {s} WHERE key = ''"
             " ORDER BY row", {"k": ctx.key})
        st.duplicates(session, s, "key", report, ctx.key)
        st.duplicates(session, s, "code", report, "code")
        session.execute(text(f"UPDATE {s} x SET stored_id = g.id FROM grid g"
                             " WHERE g.layer_id = x.layer_id AND g.external_id = x.key AND NOT x.bad"))
        # not matched by the id yet: a grid of the same code that has no external id is the same grid
        session.execute(text(f"UPDATE {s} x SET stored_id = g.id FROM grid g WHERE x.stored_id IS NULL"
                             " AND g.code = x.code AND g.external_id IS NULL AND NOT x.bad"))
        session.execute(text(f"UPDATE {s} x SET recode = true FROM grid g"
                             " WHERE g.id = x.stored_id AND x.code <> '' AND x.code <> g.code"))
    bad(session, report, "wrong_layer", "code",
         f"SELECT x.row, 'grid ' || g.code || ' belongs to layer ' || l.code || ', not ' || x.layer_ref FROM {s} x"
         " JOIN grid g ON g.id = x.stored_id JOIN grid_layer l ON l.id = g.layer_id"
         " WHERE g.layer_id <> x.layer_id AND NOT x.bad ORDER BY x.row")
    # a new code (a new grid, or a grid the file renumbers) must never have been used
    bad(session, report, "code_in_use", "code",
         f"SELECT x.row, 'code ' || x.code || ' is already the code of another grid' FROM {s} x"
         " WHERE NOT x.bad AND x.code <> '' AND (x.stored_id IS NULL OR x.recode)"
         "   AND x.code IN (SELECT g.code FROM grid g) ORDER BY x.row")
    bad(session, report, "code_retired", "code",
         f"SELECT x.row, 'code ' || x.code || ' belonged to a retired grid: codes are never reused' FROM {s} x"
         " WHERE NOT x.bad AND x.code <> '' AND (x.stored_id IS NULL OR x.recode)"
         "   AND x.code NOT IN (SELECT g.code FROM grid g)"
         "   AND x.code IN (SELECT v.code FROM grid_version v) ORDER BY x.row")  # hashed: no index on history codes
    _resolve_parents(session, report)
    check_scope(session, ctx, report)
    bad(session, report, "missing_name", "name",
         f"SELECT row, 'a new grid needs a name' FROM {s} WHERE NOT bad AND stored_id IS NULL AND name = '' ORDER BY row")
    names = session.execute(text(f"SELECT row, name FROM {s} WHERE name <> '' AND NOT bad")).all()
    published = [(r.row, "a grid's name is shown to everyone who reads the map: it may not hold an ID number or"
                  " a phone number") for r in names if find_personal_numbers(r.name)]
    st.add(report, published, "personal_number", "name")
    if published:
        session.execute(text(f"UPDATE {s} SET bad = true WHERE row = ANY(:r)"), {"r": [r[0] for r in published]})


def _resolve_parents(session: Session, report: ImportReport) -> None:
    """Division (code, unique name, or the code's first 12 digits) or, in a layer with a parent layer, the
    parent grid, whose division the grid takes; and the shape the grid must lie in."""
    s = STAGE
    session.execute(text(f"""
        UPDATE {s} x SET parent_grid_id = p.id, division_id = p.division_id, parent = p.geom
          FROM grid_layer l, grid p
         WHERE l.id = x.layer_id AND l.parent_layer_id IS NOT NULL AND p.layer_id = l.parent_layer_id
           AND p.code = x.parent_ref AND NOT x.bad"""))
    bad(session, report, "unknown_parent", "parent_grid",
         f"SELECT x.row, CASE WHEN x.parent_ref = '' THEN 'grids of layer ' || l.code || ' need a parent grid (its code)'"
         f" ELSE 'no grid ' || quote_literal(x.parent_ref) || ' in the parent layer ' || pl.code END"
         f" FROM {s} x JOIN grid_layer l ON l.id = x.layer_id JOIN grid_layer pl ON pl.id = l.parent_layer_id"
         " WHERE x.parent_grid_id IS NULL AND NOT x.bad ORDER BY x.row")
    bad(session, report, "no_parent_layer", "parent_grid",
         f"SELECT x.row, 'layer ' || l.code || ' has no parent layer: leave parent_grid empty' FROM {s} x"
         " JOIN grid_layer l ON l.id = x.layer_id WHERE l.parent_layer_id IS NULL AND x.parent_ref <> '' AND NOT x.bad"
         " ORDER BY x.row")
    # one equi-join per way of naming it (an OR of them made a nested loop: 10,000 rows x 1,000 divisions)
    for way in ("x.division_ref ~ '^[0-9]{12}$' AND d.code = x.division_ref",
                "x.division_ref = '' AND x.code <> '' AND d.code = left(x.code, 12)"):
        session.execute(text(f"UPDATE {s} x SET division_id = d.id FROM division d"
                             f" WHERE x.division_id IS NULL AND NOT x.bad AND {way}"))
    session.execute(text(f"""
        UPDATE {s} x SET division_id = d.id
          FROM (SELECT name, min(id) AS id FROM division GROUP BY name HAVING count(*) = 1) d
         WHERE x.division_id IS NULL AND NOT x.bad AND x.division_ref !~ '^[0-9]{{12}}$' AND d.name = x.division_ref"""))
    session.execute(text(f"UPDATE {s} x SET division_id = g.division_id FROM grid g WHERE x.division_id IS NULL"
                         " AND NOT x.bad AND x.division_ref = '' AND x.code = '' AND g.id = x.stored_id"))
    bad(session, report, "unknown_division", "division",
         f"SELECT row, CASE WHEN division_ref = '' THEN 'say which division the grid belongs to'"
         f" WHEN (SELECT count(*) FROM division e WHERE e.name = division_ref) > 1"
         f" THEN 'several divisions are named ' || quote_literal(division_ref) || ': give its 12-digit code'"
         f" ELSE 'no division ' || quote_literal(division_ref) END FROM {s} WHERE division_id IS NULL AND NOT bad"
         " ORDER BY row")
    bad(session, report, "bad_code", "code",
         "SELECT x.row, 'code ' || x.code || ' does not start with its division ' || d.code || ' and the layer''s'"
         " || ' prefix ' || l.code_prefix FROM " + s + " x JOIN division d ON d.id = x.division_id"
         " JOIN grid_layer l ON l.id = x.layer_id"
         " WHERE NOT x.bad AND x.code <> '' AND left(x.code, 14) <> d.code || l.code_prefix ORDER BY x.row")
    session.execute(text(f"UPDATE {s} x SET parent = d.geom FROM division d WHERE d.id = x.division_id"
                         " AND x.parent IS NULL AND NOT x.bad"))


def check_scope(session: Session, ctx: ImportContext, report: ImportReport) -> None:
    """A row must belong to the importer's territory, and so must the stored grid it would replace."""
    if ctx.scope.everything:
        return
    own = list(ctx.scope.own_divisions)
    grids = list(ctx.scope.grids)
    bad(session, report, "outside_territory", "division",
         f"SELECT x.row, 'the grid belongs to ' || d.name || ' (' || d.code || '), outside your territory'"
         f" FROM {STAGE} x JOIN division d ON d.id = x.division_id"
         " WHERE NOT x.bad AND (NOT (x.division_id = ANY(:own) OR coalesce(x.parent_grid_id = ANY(:grids), false))"
         "   OR (x.stored_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM grid g WHERE g.id = x.stored_id"
         "       AND (g.division_id = ANY(:own) OR coalesce(g.parent_grid_id = ANY(:grids), false)))))"
         " ORDER BY x.row", {"own": own, "grids": grids})
