"""Staging a point table (households, cameras) in PostgreSQL: one COPY into a TEMP table.

Why: a county's household register has a million rows. Every check and every write after this is
one set-based statement over the staged rows (SQL) or one vectorised call (Shapely, numpy), never a
statement or an ORM object per row. The COPY text is built column by column with C-level joins and
replaces, not a Python loop formatting each cell (``geo.bulk.copy_rows`` does that; it costs about
as much as the rest of the plan at this scale).

The TEMP tables are dropped at the end of the transaction, so a dry run leaves nothing visible.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from importers.files.source import SourceTable

NULL = r"\N"


def column(table: SourceTable, *names: str) -> list[Any] | None:
    """The first of ``names`` that the table has (after the field map), or None: aliases of one field."""
    for name in names:
        if name in table.columns:
            return table.columns[name]
    return None


def _text_cells(values: Sequence[Any]) -> list[str]:
    """COPY text cells of one column: None and empty (or blank) text as NULL, the rest escaped.

    The escaping runs once over the joined column (``str.replace`` on one long string), not per cell.
    """
    cells = ["" if v is None else v.strip() if isinstance(v, str) else str(v) for v in values]
    joined = "\x00".join(cells)
    if joined.count("\x00") != len(cells) - 1:  # a NUL inside a value (PostgreSQL refuses it anyway)
        cells = [c.replace("\x00", "") for c in cells]
        joined = "\x00".join(cells)
    if any(c in joined for c in "\\\t\n\r"):
        joined = joined.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        cells = joined.split("\x00")
    return [c or NULL for c in cells]


def _float_cells(values: np.ndarray) -> list[str]:
    """Shortest round-trip text of each float (``repr``), NaN as PostgreSQL's NaN."""
    return list(map(repr, values.tolist()))


def stage(session: Session, name: str, columns: dict[str, tuple[str, Sequence[Any] | np.ndarray]]) -> int:
    """CREATE TEMP TABLE ``name`` (… ON COMMIT DROP) and COPY the columns into it; returns the row count.

    ``columns`` maps a column name to (SQL type, values); ``float8`` columns take numpy arrays, every
    other column text-like values. Values are never interpolated into SQL: they travel as COPY data.
    """
    session.execute(text(f"DROP TABLE IF EXISTS {name}"))
    session.execute(text(f"CREATE TEMP TABLE {name} ({', '.join(f'{c} {t}' for c, (t, _) in columns.items())})"
                         " ON COMMIT DROP"))
    cells = [_float_cells(np.asarray(v, dtype=float)) if t == "float8" else _text_cells(v)
             for t, v in columns.values()]
    n = len(cells[0]) if cells else 0
    if n == 0:
        return 0
    buf = io.StringIO("\n".join(map("\t".join, zip(*cells))) + "\n")
    cursor = session.connection().connection.cursor()
    cursor.copy_expert(f"COPY {name} ({', '.join(columns)}) FROM STDIN", buf)
    session.execute(text(f"ANALYZE {name}"))
    return n


def positions(table: SourceTable) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lon, lat, not_point, bad_coords) of each row's geometry; lon and lat are NaN where no usable
    point is given.

    ``not_point`` marks rows with a geometry of another type (a polygon drawn for a household) and
    ``bad_coords`` points whose coordinates are no longitude and latitude (NaN, infinite, out of
    range): problems of their own, not a missing position. No geometry, or an empty one, is missing.
    """
    n = len(table)
    if table.geometry is None:
        return np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    geoms = np.asarray(table.geometry, dtype=object)
    kind = shapely.get_type_id(geoms)  # -1 for None
    point = (kind == 0) & ~shapely.is_empty(geoms)
    with np.errstate(invalid="ignore"):
        lon, lat = shapely.get_x(geoms), shapely.get_y(geoms)
        usable = point & np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    return (np.where(usable, lon, np.nan), np.where(usable, lat, np.nan), kind > 0, point & ~usable)
