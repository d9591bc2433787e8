"""Shapefile field names: dBASE allows 10 bytes, some of gridmap's names are longer.

Deterministic, so the same export always has the same fields, and recognisable: a name of at most
10 characters is kept; the long names the importers look for get the short name the importers also
recognise by default (importers/files/fields.py: ``division_code`` → ``division``, ``parent_code`` →
``parent``, ``household_id`` → ``household``), so a Shapefile round trip needs no field map either.
Any other long name is cut to 10 characters, which is what GDAL, QGIS and ArcGIS do; two names that
cut alike get ``_1``, ``_2`` … in place of their last characters, in column order (GDAL's rule,
written here so that it does not depend on GDAL's version).
"""

from __future__ import annotations

LIMIT = 10
SHORT = {"division_code": "division", "parent_code": "parent", "household_id": "household",
         "reported_at": "reported"}


def shapefile_names(names: list[str]) -> list[str]:
    """Each name shortened to ``LIMIT`` characters, unique (case-insensitively, as dBASE compares)."""
    out: list[str] = []
    taken: set[str] = set()
    for name in names:
        short = SHORT.get(name, name)[:LIMIT]
        n = 0
        while short.lower() in taken:
            n += 1
            suffix = f"_{n}"
            short = name[:LIMIT - len(suffix)] + suffix
        taken.add(short.lower())
        out.append(short)
    return out
