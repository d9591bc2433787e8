"""What a reader hands to an importer: one file's rows, decoded, mapped to gridmap's fields, in WGS84.

The readers (GeoJSON, GeoPackage, Shapefile, KML/KMZ, CSV, XLSX) differ in everything; the importers
of each kind (divisions, grids, households, cameras, staff, residents) should not care which one
produced a table. This is the one shape between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from importers.report import Problem

KINDS = ("divisions", "grids", "households", "cameras", "staff", "residents")


@dataclass
class SourceTable:
    """One file (or one layer of it), read.

    ``rows[i]`` is the number a user finds the record by: the feature number (1-based) in a vector
    file, the spreadsheet row number (header is row 1, so the first record is row 2) in CSV/XLSX.
    ``columns`` maps gridmap field names (after the field map) to one value per row; values are
    ``str``, ``int``, ``float`` or ``None``, already decoded to text. ``geometry`` holds Shapely
    geometries in EPSG:4326 (``None`` where a row has none), or is ``None`` for a kind without
    geometry. ``crs`` says what the coordinates were read as (``"EPSG:4549"``, ``"gcj02"``).
    """

    name: str  # the file's name as the user gave it, without directories
    sha256: str  # of the file's bytes (of the .zip / .kmz / the .shp set as uploaded)
    kind: str  # one of KINDS
    rows: list[int]
    columns: dict[str, list[Any]]
    geometry: list[Any] | None
    crs: str
    encoding: str | None = None
    layer: str | None = None  # the layer read, for multi-layer files (GeoPackage)
    problems: list[Problem] = field(default_factory=list)  # per-row reading problems
    warnings: list[str] = field(default_factory=list)  # file-level (e.g. "fits the territory in GCJ-02")
    # gridmap field -> the file's column it was read from ("name" -> "网格名称"; "lon"/"lat" for coordinates)
    source_fields: dict[str, str] = field(default_factory=dict)
    # Point tables from spreadsheets (CSV/XLSX): the same positions as float64 arrays (WGS84 lon, lat; NaN
    # where ``geometry`` is None), so a bulk importer can COPY a million of them without touching Shapely.
    lonlat: tuple[Any, Any] | None = None

    def __len__(self) -> int:
        return len(self.rows)
