"""Shapefile field names: dBASE allows 10 bytes, gridmap's names are longer.

Deterministic, so the same export always has the same fields, and recognisable: a name of at most
10 characters is kept; a longer one is cut to 10 characters, which is exactly what GDAL, QGIS and
ArcGIS do when they write a Shapefile (``division_code`` → ``division_c``), so the importers,
which must read Shapefiles made by those tools, recognise ours too. Two names that cut to the
same 10 characters get ``_1``, ``_2`` … in place of their last characters, in the dataset's column
order (GDAL's own rule, written here so that it does not depend on GDAL's version).
"""

from __future__ import annotations

LIMIT = 10


def shapefile_names(names: list[str]) -> list[str]:
    """Each name shortened to ``LIMIT`` characters, unique (case-insensitively, as dBASE compares)."""
    out: list[str] = []
    taken: set[str] = set()
    for name in names:
        short = name[:LIMIT]
        n = 0
        while short.lower() in taken:
            n += 1
            suffix = f"_{n}"
            short = name[:LIMIT - len(suffix)] + suffix
        taken.add(short.lower())
        out.append(short)
    return out
