"""Exporting a million households: time and peak memory of ``gridmap export households`` per format.

Each format runs as its own process (the command a county officer runs), so its peak resident set
(``ru_maxrss`` of the finished child) is the export's alone; the rows stream from a server-side
cursor in chunks (importers/export/datasets.py), so the peak should not grow with the row count.

    python -m bench.export_households                 # a fresh database with the benchmark county
    GRIDMAP_BENCH_EXPORT_URL=postgresql+psycopg2://… python -m bench.export_households [FORMAT ...]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

FORMATS = ("csv", "gpkg", "shp", "geojson", "xlsx", "kml")


def _database() -> str:
    url = os.environ.get("GRIDMAP_BENCH_EXPORT_URL")
    if url:
        return url
    from bench.common import SCALE, fresh_database
    from geo.db import make_engine, make_sessionmaker, transaction
    from geo.settings import DatabaseSettings
    from importers.demo import clear_district, load_demo

    url = fresh_database("gridmap_bench_export")
    engine = make_engine(DatabaseSettings(database_url=url))
    with transaction(make_sessionmaker(engine)) as session:
        clear_district(session)
        load_demo(session, params=SCALE, cameras_per_township=10, events=100)
    engine.dispose()
    return url


def run(url: str, formats: tuple[str, ...]) -> list[dict[str, object]]:
    """Each format for one township, then for the county: if the rows stream, the peak memory is the same."""
    gridmap = str(Path(sys.executable).with_name("gridmap"))
    engine = create_engine(url)
    with engine.connect() as c:
        town, in_town = c.execute(text(
            "SELECT t.code, count(*) FROM household h JOIN division v ON v.id = h.division_id"
            " JOIN division t ON t.id = v.parent_id GROUP BY 1 ORDER BY 1 LIMIT 1")).one()
        county = c.execute(text("SELECT count(*) FROM household")).scalar_one()
    engine.dispose()
    results = []
    with tempfile.TemporaryDirectory(prefix="gridmap-bench-export-") as tmp:
        for fmt, division, households in ((f, d, n) for f in formats for d, n in ((town, in_town), (None, county))):
            out = Path(tmp) / f"households.{'zip' if fmt == 'shp' else fmt}"
            start = time.perf_counter()
            with tempfile.TemporaryFile() as err:
                child = subprocess.Popen([gridmap, "export", "households", "--format", fmt, "--out", str(out),
                                          *(["--division", division] if division else [])],
                                         env={**os.environ, "GRIDMAP_DATABASE_URL": url}, stdout=subprocess.DEVNULL,
                                         stderr=err)
                _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage: its peak, not the largest so far
                child.returncode = os.waitstatus_to_exitcode(status)
                seconds = time.perf_counter() - start
                err.seek(0)
                stderr = err.read().decode(errors="replace")
            ok = child.returncode == 0
            row = {"format": fmt, "rows": households, "ok": ok, "s": round(seconds, 1),
                   "peak_rss_mb": round(usage.ru_maxrss / 1024), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
                   "file_mb": round(out.stat().st_size / 2**20, 1) if out.exists() else None,
                   "rows_per_s": round(households / seconds) if ok else None}
            if not ok:
                row["error"] = stderr.strip()[-300:]
            print(f"  {row}", flush=True)
            results.append(row)
            out.unlink(missing_ok=True)
    return results


def main() -> None:
    formats = tuple(sys.argv[1:]) or FORMATS
    run(_database(), formats)


if __name__ == "__main__":
    main()
