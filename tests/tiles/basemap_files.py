"""Small basemap files made in the test: MBTiles with sqlite3, PMTiles with the pmtiles package's writer.

Tiles are solid-colour PNGs (written with zlib, so no imaging library is needed) or any bytes the
caller gives; each tile's colour can say where it belongs, so a test can see a y flip or a mix-up.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path

from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer

Tiles = Mapping[tuple[int, int, int], bytes]  # XYZ address (y from the north) -> bytes


def png(rgb: tuple[int, int, int], size: int = 256) -> bytes:
    """A solid-colour RGB PNG."""
    row = b"\x00" + bytes(rgb) * size

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * size)) + chunk(b"IEND", b""))


def write_mbtiles(path: Path, tiles: Tiles, *, fmt: str | None = "png", metadata: Mapping[str, str] | None = None,
                  tms_rows: Mapping[tuple[int, int, int], bytes] | None = None) -> Path:
    """An MBTiles 1.3 file. ``tiles`` are by XYZ address and stored under MBTiles' TMS row
    (``2**z - 1 - y``); ``tms_rows`` are stored exactly as given (zoom, column, row)."""
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE metadata (name text, value text)")
        db.execute("CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)")
        meta = dict(metadata or {})
        if fmt is not None:
            meta.setdefault("format", fmt)
        db.executemany("INSERT INTO metadata VALUES (?, ?)", list(meta.items()))
        rows = [(z, x, (1 << z) - 1 - y, data) for (z, x, y), data in tiles.items()]
        rows += [(z, x, r, data) for (z, x, r), data in (tms_rows or {}).items()]
        db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", rows)
        # As the MBTiles tools write it (the spec's recommendation): without it every read is a table scan.
        db.execute("CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)")
    return path


def write_pmtiles(path: Path, tiles: Tiles, *, tile_type: TileType = TileType.PNG,
                  compression: Compression = Compression.NONE, metadata: Mapping[str, object] | None = None,
                  bounds: tuple[float, float, float, float] | None = None) -> Path:
    """A PMTiles v3 file by the reference writer."""
    header: dict[str, object] = {"tile_type": tile_type, "tile_compression": compression}
    if bounds:
        west, south, east, north = bounds
        header.update(min_lon_e7=round(west * 1e7), min_lat_e7=round(south * 1e7),
                      max_lon_e7=round(east * 1e7), max_lat_e7=round(north * 1e7))
    with path.open("wb") as f:
        writer = Writer(f)
        for (z, x, y), data in sorted(tiles.items(), key=lambda item: zxy_to_tileid(*item[0])):
            writer.write_tile(zxy_to_tileid(z, x, y), data)
        writer.finalize(header, dict(metadata or {}))
    return path


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def vector_metadata(layers: list[str]) -> str:
    return json.dumps({"vector_layers": [{"id": name, "fields": {}} for name in layers]})
