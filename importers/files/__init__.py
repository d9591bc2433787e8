"""Reading a county's own files: vector formats through GDAL (pyogrio), spreadsheets, encodings, CRSs, field maps.

``read_source(path, kind, crs=, encoding=, mapping=, layer=, territory=)`` is the one entry point
(read.py); ``parse_map`` turns ``name=网格名称,code=网格编码`` into a field map, and profiles.py keeps
named field maps in the database.

The readers pull in GDAL, pyproj and the spreadsheet libraries (seconds of imports on a loaded
machine), so they are imported on first use: a command that only needs ``files.source`` (the CLI's
usage line, say) does not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importers.files.fields import parse_map
    from importers.files.read import read_source, read_sources

__all__ = ["read_source", "read_sources", "parse_map"]
_HOME = {"read_source": "importers.files.read", "read_sources": "importers.files.read",
         "parse_map": "importers.files.fields"}


def __getattr__(name: str) -> Any:  # PEP 562: the module's attributes on first use
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value
