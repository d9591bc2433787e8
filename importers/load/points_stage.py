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
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from importers.files.source import SourceTable


def column(table: SourceTable, *names: str) -> list[Any] | None:
    """The first of ``names`` that the table has (after the field map), or None: aliases of one field."""
    for name in names:
        if name in table.columns:
            return table.columns[name]
    return None


def _text_column(values: Sequence[Any]) -> str:
    """One column as COPY text, one line per row: escaped, None (and empty text) as the empty line,
    which COPY reads as NULL (``NULL ''``).

    The None test runs in numpy, and the escaping once over the joined column (``str.replace`` on
    one long string), not per cell: at a million rows a Python expression per cell costs seconds.
    """
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    none = arr == None  # noqa: E711 - elementwise, on an object array
    if none.any():
        arr[none] = ""
    cells = arr.tolist()
    try:
        joined = "\x00".join(cells)
    except TypeError:  # numbers among the text: the reader kept a cell's type
        cells = list(map(str, cells))
        joined = "\x00".join(cells)
    if joined.count("\x00") != len(cells) - 1:  # a NUL inside a value (PostgreSQL refuses it anyway)
        joined = "\x00".join(c.replace("\x00", "") for c in cells)
    if any(c in joined for c in "\\\t\n\r"):
        joined = joined.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return joined.replace("\x00", "\n") + "\n"


_BINARY = {"float8": ">f8", "bigint": ">i8", "int": ">i4", "boolean": "?"}


def _binary_rows(columns: dict[str, tuple[str, np.ndarray]], n: int) -> bytes:
    """The numeric columns as PostgreSQL's binary COPY format, built by numpy in one go: a
    fixed-size big-endian record per row (field count, then length and value of each field)."""
    dtype = [("count", ">i2")]
    for i, (sql_type, _) in enumerate(columns.values()):
        dtype += [(f"len{i}", ">i4"), (f"v{i}", _BINARY[sql_type])]
    rec = np.zeros(n, dtype=dtype)
    rec["count"] = len(columns)
    for i, (sql_type, values) in enumerate(columns.values()):
        rec[f"len{i}"] = np.dtype(_BINARY[sql_type]).itemsize
        rec[f"v{i}"] = values
    return b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8 + rec.tobytes() + b"\xff\xff"


def _copy(session: Session, sql: str, data: bytes | str) -> None:
    cursor = session.connection().connection.cursor()
    cursor.copy_expert(sql, io.BytesIO(data) if isinstance(data, bytes) else io.StringIO(data))


def roomy_temp_buffers(session: Session, size: str = "512MB") -> None:
    """Give this session's TEMP tables memory before it first uses one (PostgreSQL allows the change
    only then; afterwards the attempt is undone in its savepoint and the default stays).

    Why: with the default 8 MB, a million staged rows are read back from disk by every statement of
    the plan (seen as DataFileRead waits on the first million-row run). Memory is taken only as used.
    """
    try:
        with session.begin_nested():
            session.execute(text(f"SET LOCAL temp_buffers = '{size}'"))
    except DBAPIError:
        pass


def stage(session: Session, name: str, numbers: dict[str, tuple[str, np.ndarray]],
          texts: dict[str, Sequence[Any]]) -> int:
    """CREATE TEMP TABLE ``name`` (… ON COMMIT DROP) holding the columns, one row per table row, and
    return the row count.

    ``numbers`` (SQL type float8, bigint, int or boolean, and a numpy array; no NULLs: NaN or 0 stand
    for none) travel in one binary COPY; each text column in a COPY of its own, one line per row, so
    no Python code ever visits a row. The parts are numbered in COPY order (an identity column) and
    joined on that number. Values never reach SQL text: they travel as COPY data.
    """
    n = len(next(iter(numbers.values()))[1])
    parts = [f"{name}_t{i}" for i in range(len(texts))]
    for table in (name, f"{name}_n", *parts):
        session.execute(text(f"DROP TABLE IF EXISTS {table}"))
    session.execute(text(f"CREATE TEMP TABLE {name}_n (ord int, "
                         f"{', '.join(f'{c} {t}' for c, (t, _) in numbers.items())}) ON COMMIT DROP"))
    _copy(session, f"COPY {name}_n FROM STDIN WITH (FORMAT binary)",
          _binary_rows({"ord": ("int", np.arange(1, n + 1)), **numbers}, n))
    for part, values in zip(parts, texts.values()):
        session.execute(text(f"CREATE TEMP TABLE {part} (ord int GENERATED ALWAYS AS IDENTITY, v text)"
                             " ON COMMIT DROP"))
        if n:
            _copy(session, f"COPY {part} (v) FROM STDIN WITH (NULL '')", _text_column(values))
    joins = " ".join(f"JOIN {part} USING (ord)" for part in parts)
    picks = "".join(f", {part}.v AS {c}" for part, c in zip(parts, texts))
    session.execute(text(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS SELECT {name}_n.*{picks}"
                         f" FROM {name}_n {joins}"))
    for table in (f"{name}_n", *parts):
        session.execute(text(f"DROP TABLE {table}"))
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
