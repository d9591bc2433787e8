"""What every basemap file reader gives: the file's description and its tiles by XYZ address.

Why one small interface: MBTiles (SQLite, TMS rows) and PMTiles (one file of Hilbert-ordered runs)
store tiles very differently, but the route, the TileJSON and the page config only need "what is
it" (:class:`BasemapInfo`) and "the bytes at z/x/y" (:class:`Tile`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = ["BasemapError", "BasemapInfo", "Tile", "TileFile", "CONTENT_TYPES", "RASTER", "VECTOR", "sniff_format"]

# Tile formats as MBTiles' ``format`` spells them, and their HTTP content types.
CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "pbf": "application/vnd.mapbox-vector-tile",
}
RASTER = frozenset({"png", "jpg", "webp"})
VECTOR = frozenset({"pbf"})
_ALIASES = {"jpeg": "jpg", "mvt": "pbf", "application/vnd.mapbox-vector-tile": "pbf", "image/png": "png",
            "image/jpeg": "jpg", "image/webp": "webp"}


class BasemapError(Exception):
    """The basemap file cannot be served: the message names the path and what is wrong with it."""


@dataclass(frozen=True)
class BasemapInfo:
    """A tile file's own description (MBTiles metadata table, PMTiles header and JSON metadata)."""

    path: Path
    format: str  # png | jpg | webp | pbf
    minzoom: int
    maxzoom: int
    bounds: tuple[float, float, float, float] | None = None  # WGS84 west, south, east, north
    name: str | None = None
    attribution: str | None = None
    vector_layers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "vector" if self.format in VECTOR else "raster"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


@dataclass(frozen=True)
class Tile:
    data: bytes
    gzipped: bool  # the stored bytes are gzip-compressed (common for MVT): sent with Content-Encoding gzip


class TileFile(Protocol):
    info: BasemapInfo

    def tile(self, z: int, x: int, y: int) -> Tile | None:
        """The tile at XYZ (y counted from the north), or None when the file has none there."""
        ...


def normalise_format(path: Path, value: str | None) -> str | None:
    """The canonical spelling of a declared format; a format we cannot serve is a BasemapError."""
    if value is None or not str(value).strip():
        return None
    fmt = str(value).strip().lower()
    fmt = _ALIASES.get(fmt, fmt)
    if fmt not in CONTENT_TYPES:
        raise BasemapError(f"{path}: tile format {value!r} is not one of png, jpg, webp, pbf/mvt")
    return fmt


def sniff_format(data: bytes) -> str | None:
    """The format of one tile from its first bytes, for files whose metadata does not say."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"\x1f\x8b"):  # gzip: in a tile file, a compressed vector tile
        return "pbf"
    return None
