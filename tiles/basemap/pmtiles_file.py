"""PMTiles v3 read with the ``pmtiles`` package (protomaps' own), over a read-only mmap.

Why the package: the format (varint-delta directory entries, run lengths, leaf directories, Hilbert
tile ids) is easy to get subtly wrong by hand, and the package is the reference implementation. Its
header, directory parser, tile-id and binary-search functions are used as they are; only the walk
from the root to a tile is ours, because ``Reader.get`` re-reads the header and decompresses and
parses the root and leaf directories on every call: 100 ms per tile for a county file of 7,600
tiles (bench/basemap.py). The parsed directories are kept in an LRU cache instead.
The mmap is shared by the thread pool's threads: reading slices of a read-only mapping is safe.
"""

from __future__ import annotations

import functools
import gzip
import mmap
from pathlib import Path
from typing import Any

from pmtiles.reader import MmapSource, Reader
from pmtiles.tile import Compression, Entry, TileType, deserialize_directory, find_tile, zxy_to_tileid

from tiles.basemap.source import BasemapError, BasemapInfo, Tile

__all__ = ["PMTilesFile"]

# PMTiles v3 nests leaf directories at most three deep below the root.
_MAX_DEPTH = 4
# Parsed directories kept: the root and the leaves of the area in use (a leaf holds up to a few thousand entries).
_DIRECTORIES_CACHED = 32

_FORMATS = {TileType.MVT: "pbf", TileType.PNG: "png", TileType.JPEG: "jpg", TileType.WEBP: "webp"}


class PMTilesFile:
    """One .pmtiles file: header and JSON metadata read once at opening, tiles on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file = path.open("rb")
            self._get = MmapSource(self._file)
            reader = Reader(self._get)
            header = reader.header()
            if header["internal_compression"] != Compression.GZIP:
                raise BasemapError(f"{path}: directories compressed with {header['internal_compression'].name}; "
                                   "only gzip (what the pmtiles tools write) is read")
            metadata = reader.metadata() if header["metadata_length"] else {}
            self._directory = functools.lru_cache(maxsize=_DIRECTORIES_CACHED)(self._read_directory)
            self._directory(header["root_offset"], header["root_length"])  # a corrupt root fails here, not per tile
        except BasemapError:
            raise
        except (OSError, ValueError, EOFError, gzip.BadGzipFile, mmap.error) as exc:
            raise BasemapError(f"{path}: not a readable PMTiles v3 file ({exc})") from None
        except Exception as exc:  # the package's MagicNumberNotFound, SpecVersionUnsupported, bad enums
            raise BasemapError(f"{path}: not a readable PMTiles v3 file ({type(exc).__name__}: {exc})") from None
        size = path.stat().st_size
        if size < header["tile_data_offset"] + header["tile_data_length"]:
            raise BasemapError(f"{path}: truncated ({size} bytes; its header says "
                               f"{header['tile_data_offset'] + header['tile_data_length']})")
        self._header = header
        if header["version"] != 3:
            raise BasemapError(f"{path}: PMTiles version {header['version']}; only version 3 is read")
        fmt = _FORMATS.get(header["tile_type"])
        if fmt is None:
            raise BasemapError(f"{path}: tile type {header['tile_type'].name} is not one of MVT, PNG, JPEG, WEBP")
        compression = header["tile_compression"]
        if fmt == "pbf" and compression not in (Compression.NONE, Compression.GZIP, Compression.UNKNOWN):
            raise BasemapError(f"{path}: vector tiles compressed with {compression.name}; browsers are sent "
                               "gzip or plain tiles (re-pack with `pmtiles convert` or tippecanoe -z gzip)")
        self._gzipped = fmt == "pbf" and compression == Compression.GZIP
        if not 0 <= header["min_zoom"] <= header["max_zoom"] <= 30:
            raise BasemapError(f"{path}: zooms {header['min_zoom']}..{header['max_zoom']} are not a range")
        self.info = BasemapInfo(
            path=path, format=fmt, minzoom=header["min_zoom"], maxzoom=header["max_zoom"],
            bounds=_bounds(header), name=_text(metadata, "name"), attribution=_text(metadata, "attribution"),
            vector_layers=[v for v in (metadata.get("vector_layers") or []) if isinstance(v, dict)]
            if isinstance(metadata, dict) else [])

    def _read_directory(self, offset: int, length: int) -> list[Entry]:
        return deserialize_directory(self._get(offset, length))

    def tile(self, z: int, x: int, y: int) -> Tile | None:
        tile_id = zxy_to_tileid(z, x, y)
        h = self._header
        offset, length = h["root_offset"], h["root_length"]
        for _ in range(_MAX_DEPTH):
            entry = find_tile(self._directory(offset, length), tile_id)
            if entry is None:
                return None
            if entry.run_length > 0:  # a tile (or a run of identical ones)
                data = bytes(self._get(h["tile_data_offset"] + entry.offset, entry.length))
                break
            offset, length = h["leaf_directory_offset"] + entry.offset, entry.length  # a leaf directory
        else:
            return None
        if not data:
            return None
        # The header says how every tile is compressed; gzip's magic confirms it (UNKNOWN compression).
        return Tile(data, gzipped=self._gzipped or data[:2] == b"\x1f\x8b")


def _text(metadata: Any, key: str) -> str | None:
    value = metadata.get(key) if isinstance(metadata, dict) else None
    return str(value) if value not in (None, "") else None


def _bounds(header: dict[str, Any]) -> tuple[float, float, float, float] | None:
    west, south = header["min_lon_e7"] / 1e7, header["min_lat_e7"] / 1e7
    east, north = header["max_lon_e7"] / 1e7, header["max_lat_e7"] / 1e7
    if -180 <= west < east <= 180 and -90 <= south < north <= 90:
        return west, south, east, north
    return None  # a writer that left the bounds at zero: the whole world, as far as we know
