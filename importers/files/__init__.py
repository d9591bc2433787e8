"""Reading a county's own files: vector formats through GDAL (pyogrio), spreadsheets, encodings, CRSs, field maps.

``read_source(path, kind, crs=, encoding=, mapping=, layer=, territory=)`` is the one entry point
(read.py); ``parse_map`` turns ``name=网格名称,code=网格编码`` into a field map, and profiles.py keeps
named field maps in the database.
"""

from importers.files.fields import parse_map
from importers.files.read import read_source, read_sources

__all__ = ["read_source", "read_sources", "parse_map"]
