"""Benchmark: importing 10,000 grids with full validation (validity, parent, overlaps, gaps). Target < 30 s.

`python -m bench.import_grids` (also step 8 of `make bench`). Its own database: the benchmark county
(bench/common.SCALE: 20 townships, 1,000 villages, 10,000 comprehensive grids), with 100,000
households so that reassignment has something to move. The file is the comprehensive layer as an
export writes it (the 7-decimal ``geom_out``), handed to the importer as the SourceTable a reader
produces: reading the GeoPackage itself (importers/files, written beside this) is not in these
figures.

Three runs, each in its own transaction:
1. dry run of the layer exported and imported again: 10,000 unchanged, every check run;
2. the same shapes as a new full-cover layer (10,000 created, coded, overlaps and gaps checked,
   every household assigned), applied and committed;
3. the same file applied again: nothing changes (idempotent).
"""

from __future__ import annotations

import dataclasses
import hashlib

from shapely import wkb
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.common import SCALE, fresh_database, timed
from geo.access.scope import Scope
from geo.bulk import analyze_after_load
from geo.db import make_engine, make_sessionmaker, transaction
from geo.privacy.audit import Actor
from geo.settings import DatabaseSettings
from importers.demo import load_demo
from importers.demo.loader import DATA_TABLES
from importers.files.source import SourceTable
from importers.load import grids
from importers.load.context import ImportContext

ACTOR = Actor(None, "bench")


def _exported(session, layer: str) -> list:  # noqa: ANN001
    return session.execute(text("""
        SELECT g.code, g.name, d.code AS division, ST_AsBinary(g.geom_out) AS geom FROM grid g
          JOIN grid_layer l ON l.id = g.layer_id JOIN division d ON d.id = g.division_id
         WHERE l.code = :l ORDER BY g.code"""), {"l": layer}).all()


def _table(rows: list, prefix: str | None = None) -> SourceTable:
    codes = [r.code if prefix is None else r.code[:12] + prefix + r.code[14:] for r in rows]
    geoms = [wkb.loads(bytes(r.geom)) for r in rows]
    digest = hashlib.sha256(b"".join(bytes(r.geom) for r in rows)).hexdigest()
    return SourceTable(name="comprehensive.gpkg", sha256=digest, kind="grids", rows=list(range(1, len(rows) + 1)),
                       columns={"code": codes, "name": [r.name for r in rows], "division": [r.division for r in rows]},
                       geometry=geoms, crs="EPSG:4326")


def run(results: dict[str, float], *, reuse: bool = False) -> None:
    """``reuse``: the database of the last run, already loaded (the setup takes minutes)."""
    name = "gridmap_bench_import_grids"
    if reuse:
        url = make_url(DatabaseSettings().database_url).set(database=name).render_as_string(hide_password=False)
    else:
        url = fresh_database(name)
        loader = make_engine(DatabaseSettings(database_url=url, statement_timeout_ms=3_600_000))
        with timed("setup: benchmark county with 10,000 grids, 100k households", results), \
                transaction(make_sessionmaker(loader)) as s:
            load_demo(s, params=dataclasses.replace(SCALE, households=100_000))
        analyze_after_load(loader, DATA_TABLES)
        loader.dispose()
    engine = make_engine(DatabaseSettings.for_bulk(database_url=url))  # the CLI's: an hour per statement
    sm = make_sessionmaker(engine)
    with transaction(sm) as s:
        rows = _exported(s, "comprehensive")
        s.execute(text("DELETE FROM grid_membership WHERE layer_id IN (SELECT id FROM grid_layer WHERE code = 'imported')"))
        s.execute(text("DELETE FROM grid WHERE layer_id IN (SELECT id FROM grid_layer WHERE code = 'imported')"))
        s.execute(text("DELETE FROM grid_version WHERE layer_id IN (SELECT id FROM grid_layer WHERE code = 'imported')"))
        s.execute(text("DELETE FROM grid_code_counter WHERE layer_id IN (SELECT id FROM grid_layer WHERE code = 'imported')"))
        s.execute(text("INSERT INTO grid_layer (code, name, code_prefix, allow_overlap, full_cover, sort_order,"
                       " color, description) VALUES ('imported', '导入网格', '09', false, true, 9, '#000000', '')"
                       " ON CONFLICT DO NOTHING"))
    print(f"  {len(rows)} grids in the file")
    county = ImportContext(actor=ACTOR, scope=Scope.county(), layer="comprehensive")
    same = _table(rows)
    with timed(f"dry run, {len(rows)} grids exported and re-imported (all checks)", results):
        with transaction(sm) as s:
            report = grids.plan(s, same, county)
            s.rollback()
    print(f"  counts {report.counts}, problems {len(report.problems)}")
    new_layer = ImportContext(actor=ACTOR, scope=Scope.county(), layer="imported")
    fresh = _table(rows, prefix="09")
    with timed(f"dry run, {len(rows)} grids as a new full-cover layer", results):
        with transaction(sm) as s:
            report = grids.plan(s, _table(rows, prefix="09"), new_layer)
            s.rollback()
    print(f"  counts {report.counts}, problems {len(report.problems)}")
    for p in report.problems[:5]:
        print(f"    {p}")
    with timed(f"apply, {len(rows)} grids as a new full-cover layer, assigned, committed", results):
        with transaction(sm) as s:
            report = grids.apply(s, fresh, new_layer)
    print(f"  counts {report.counts}, moved {report.reassigned}, problems {len(report.problems)}")
    with timed(f"apply again, {len(rows)} grids (idempotent: nothing changes)", results):
        with transaction(sm) as s:
            report = grids.apply(s, fresh, new_layer)
    print(f"  counts {report.counts}")
    engine.dispose()


if __name__ == "__main__":
    import sys

    run({}, reuse="--reuse" in sys.argv)
