"""MBTiles (the SQLite tile container) read with the standard library's sqlite3.

MBTiles stores rows in TMS order (row 0 at the south), while the web map asks in XYZ order (row 0
at the north): ``tile_row = 2**z - 1 - y``. The file is opened read-only (``mode=ro``), one
connection per thread, because FastAPI runs sync routes in a thread pool and a sqlite3 connection
must not be shared across threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from tiles.basemap.source import BasemapError, BasemapInfo, Tile, normalise_format, sniff_format

__all__ = ["MBTilesFile"]


class MBTilesFile:
    """One .mbtiles file: its metadata read once at opening, its tiles on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        try:
            self.info = self._read_info(self._connection())
        except sqlite3.Error as exc:
            raise BasemapError(f"{path}: not a readable MBTiles file ({exc})") from None

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, check_same_thread=True)
            self._local.conn = conn
        return conn

    def _read_info(self, conn: sqlite3.Connection) -> BasemapInfo:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        if not {"metadata", "tiles"} <= tables:
            raise BasemapError(f"{self.path}: not an MBTiles file (it needs the tables metadata and tiles)")
        meta = {str(k): v for k, v in conn.execute("SELECT name, value FROM metadata")}
        fmt = normalise_format(self.path, meta.get("format"))
        if fmt is None:
            first = conn.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()
            fmt = sniff_format(first[0]) if first else None
            if fmt is None:
                raise BasemapError(f"{self.path}: no format in its metadata and no tile to tell it from")
        low, high = conn.execute("SELECT min(zoom_level), max(zoom_level) FROM tiles").fetchone()
        minzoom = _int(self.path, meta, "minzoom", low)
        maxzoom = _int(self.path, meta, "maxzoom", high)
        if minzoom is None or maxzoom is None:
            raise BasemapError(f"{self.path}: holds no tiles")
        if not 0 <= minzoom <= maxzoom <= 30:
            raise BasemapError(f"{self.path}: zooms {minzoom}..{maxzoom} are not a range within 0..30")
        extra: dict[str, Any] = {}
        if meta.get("json"):
            try:
                extra = json.loads(meta["json"])
            except ValueError:
                raise BasemapError(f"{self.path}: its metadata 'json' is not JSON") from None
        return BasemapInfo(
            path=self.path, format=fmt, minzoom=minzoom, maxzoom=maxzoom,
            bounds=_bounds(self.path, meta.get("bounds")), name=meta.get("name"),
            attribution=meta.get("attribution"),
            vector_layers=list(extra.get("vector_layers") or []) if isinstance(extra, dict) else [])

    def tile(self, z: int, x: int, y: int) -> Tile | None:
        row = self._connection().execute(
            "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (z, x, (1 << z) - 1 - y)).fetchone()
        if row is None or row[0] is None:
            return None
        data = bytes(row[0])
        return Tile(data, gzipped=data[:2] == b"\x1f\x8b")


def _int(path: Path, meta: dict[str, str], key: str, fallback: int | None) -> int | None:
    if meta.get(key) in (None, ""):
        return fallback
    try:
        return int(float(meta[key]))
    except ValueError:
        raise BasemapError(f"{path}: metadata {key} {meta[key]!r} is not a number") from None


def _bounds(path: Path, value: str | None) -> tuple[float, float, float, float] | None:
    if not value:
        return None
    try:
        west, south, east, north = (float(v) for v in value.split(","))
    except ValueError:
        raise BasemapError(f"{path}: metadata bounds {value!r} is not 'west,south,east,north'") from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise BasemapError(f"{path}: metadata bounds {value!r} are not WGS84 degrees west<east, south<north")
    return west, south, east, north
