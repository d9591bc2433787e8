"""Fast bulk writes with PostgreSQL COPY.

Why: the demo, importers and benchmarks write hundreds of thousands of rows;
COPY is an order of magnitude faster than INSERT through the ORM. Geometries
travel as hex EWKB, which PostGIS parses directly.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session


def hex_ewkb(geoms: Sequence[Any] | np.ndarray, srid: int = 4326) -> np.ndarray:
    """Hex EWKB of many shapely geometries at once."""
    arr = shapely.set_srid(np.asarray(geoms, dtype=object), srid)
    return shapely.to_wkb(arr, hex=True, include_srid=True)


def _cell(value: Any) -> str:
    if value is None:
        return r"\N"
    s = str(value)
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_rows(session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY ``rows`` into ``table`` inside the session's transaction; returns the row count."""
    buf = io.StringIO()
    n = 0
    for row in rows:
        buf.write("\t".join(_cell(v) for v in row))
        buf.write("\n")
        n += 1
    buf.seek(0)
    cursor = session.connection().connection.cursor()
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buf)
    return n


def sync_sequence(session: Session, table: str, column: str = "id") -> None:
    """Move the id sequence past rows inserted with explicit ids."""
    session.execute(
        text(
            f"SELECT setval(pg_get_serial_sequence(:t, :c), coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"
        ),
        {"t": table, "c": column},
    )


def analyze_after_load(engine: Engine, tables: Sequence[str]) -> None:
    """``VACUUM (ANALYZE)`` the tables a bulk load wrote, once its transaction has committed.

    Why after the commit: statistics taken inside the loading transaction describe the tables as
    they were at that moment. The demo loader analysed before it assigned everything to its grids,
    so ``grid_membership`` was analysed empty; after the commit the planner took it for a table of
    no rows and a planner's first merge ran 2.1 s instead of 83 ms until autovacuum came round
    (issue 11). Measuring here, after the last write, cannot miss a table written late. VACUUM
    cannot run inside a transaction at all, and it is what sets the visibility map and the hint
    bits, so the first edits and reads do not pay for them either.

    Runs as the connection's role, which must own the tables (the CLI's owner role does).
    """
    if not tables:
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM (ANALYZE) {', '.join(tables)}"))
