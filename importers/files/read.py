"""``read_source``: a county's file (or a Shapefile's file set) as a SourceTable, in WGS84.

The steps are the same for every format: read the cells and geometries (vector.py, sheets.py),
decide what the coordinates are (projection.py) and convert them, apply the field map (fields.py),
and, given the county's boundary, look for the GCJ-02 mistake (territory.py). Whatever is wrong with
one row is a Problem with its row number; what is wrong with the file is an InvalidInput naming it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from geo.errors import InvalidInput
from importers.files import fields as fmap
from importers.files import projection, sheets, territory, vector
from importers.files.coords import parse_numbers
from importers.files.encoding import codec_name
from importers.files.source import KINDS, SourceTable
from importers.report import Problem

PathLike = str | os.PathLike[str]
SUPPORTED = ".geojson .json .gpkg .shp (+ .dbf .shx .prj .cpg) .zip (a Shapefile) .kml .kmz .csv .xlsx .xls"
_COORD_FIELDS = ("lon", "lat", "wkt")  # field-map targets that name coordinate columns, not gridmap fields


def file_digest(paths: Sequence[Path]) -> str:
    """SHA-256 of one file's bytes, or of a file set in name order (the same as importers.pipeline's)."""
    if len(paths) == 1:
        digest = hashlib.sha256()
        with open(paths[0], "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    digest = hashlib.sha256()
    for name, p in sorted((p.name, p) for p in paths):
        data = p.read_bytes()
        digest.update(name.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def read_source(path: PathLike | Sequence[PathLike], kind: str, *, crs: str | None = None,
                encoding: str | None = None, mapping: Mapping[str, str] | str | None = None,
                layer: str | None = None, territory: shapely.Geometry | None = None,
                field_map: Mapping[str, str] | str | None = None) -> SourceTable:
    """Read one file (or a Shapefile's parts, given as a list) for importing as ``kind``.

    ``crs`` declares what the coordinates are (wgs84, cgcs2000, gcj02, bd09, EPSG:4545), overriding
    the file; ``encoding`` overrides a .cpg and detection; ``mapping`` (or its alias ``field_map``) is
    a field map, ``{"name": "网格名称"}`` or ``"name=网格名称"``, over the default Chinese and English
    names; ``layer`` chooses a GeoPackage layer, a sheet, a KML folder or a zipped Shapefile;
    ``territory`` (the county, WGS84) enables the GCJ-02 check."""
    paths = [Path(path)] if isinstance(path, (str, os.PathLike)) else [Path(p) for p in path]
    return read_sources(paths, kind, crs=crs, encoding=encoding, mapping=mapping if mapping is not None else field_map,
                        layer=layer, territory=territory)


def read_sources(paths: Sequence[PathLike], kind: str, *, crs: str | None = None, encoding: str | None = None,
                 mapping: Mapping[str, str] | str | None = None, layer: str | None = None,
                 territory: shapely.Geometry | None = None) -> SourceTable:
    """``read_source`` for several paths: a Shapefile uploaded as its .shp/.dbf/.shx/.prj/.cpg set."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown kind {kind!r}: expected one of {', '.join(KINDS)}", pointer="kind")
    files = [Path(p) for p in paths]
    if not files:
        raise InvalidInput("no file given", pointer="file")
    for p in files:
        if not p.is_file():
            raise InvalidInput(f"{p.name}: no such file", pointer="file")
    if isinstance(mapping, str):
        mapping = fmap.parse_map(mapping)
    mapping = dict(mapping or {})
    if encoding:
        try:
            codec_name(encoding)
        except ValueError as exc:
            raise InvalidInput(str(exc), pointer="encoding") from None
    suffixes = {p.suffix.lower() for p in files}
    if len(files) > 1 and ".shp" not in suffixes:
        raise InvalidInput(f"several files ({', '.join(p.name for p in files)}) are read together only as a "
                           f"Shapefile's parts, and there is no .shp among them", pointer="file")
    suffix = ".shp" if len(files) > 1 else files[0].suffix.lower()
    name = next((p.name for p in files if p.suffix.lower() == ".shp"), files[0].name)
    digest = file_digest(files)
    spatial = kind in fmap.SPATIAL_KINDS
    if suffix in vector.VECTOR_SUFFIXES:
        table = _read_vector(files, suffix, kind, name=name, crs=crs, encoding=encoding, mapping=mapping,
                             layer=layer, spatial=spatial)
    elif suffix in sheets.SHEET_SUFFIXES:
        table = _read_sheet(files[0], suffix, kind, crs=crs, encoding=encoding, mapping=mapping, layer=layer,
                            spatial=spatial)
    else:
        raise InvalidInput(f"{name}: cannot read {suffix or 'files without a suffix'}; readable are {SUPPORTED}",
                           pointer="file")
    table.sha256 = digest
    if territory is not None and table.geometry is not None:
        warning = territory_warning(table, territory)
        if warning:
            table.warnings.append(warning)
    return table


def territory_warning(table: SourceTable, county: shapely.Geometry) -> str | None:
    """The GCJ-02 warning for a table already read (see territory.py)."""
    if table.geometry is None:
        return None
    geoms = np.array(table.geometry, dtype=object)
    return territory.gcj_warning(geoms, county, declared=table.crs, file=table.name)


def _columns(kind: str, fields: list[str], values: Mapping[str, list[Any]], mapping: Mapping[str, str], *,
             file: str, skip: Sequence[str] = ()) -> tuple[dict[str, list[Any]], dict[str, str]]:
    chosen = fmap.resolve(kind, fields, {k: v for k, v in mapping.items() if k not in _COORD_FIELDS}, file=file,
                          skip=skip)
    return {f: vector.plain(values[c]) for f, c in chosen.items()}, chosen


def _renamed(problems: list[Problem], chosen: Mapping[str, str], columns: Sequence[str]) -> list[Problem]:
    """Reading problems name the file's column; report them under the gridmap field, and drop those of
    columns the import does not use (an undecodable remark nobody imports blocks nothing)."""
    field_of = {c: f for f, c in chosen.items()}
    out = []
    for p in problems:
        if p.field in columns:
            if p.field not in field_of:
                continue
            p = Problem(p.row, field_of[p.field], p.code, p.message, p.severity)
        out.append(p)
    return out


def _out_of_range(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return ~((np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0))


def _read_vector(files: list[Path], suffix: str, kind: str, *, name: str, crs: str | None, encoding: str | None,
                 mapping: Mapping[str, str], layer: str | None, spatial: bool) -> SourceTable:
    if suffix in (".shp", ".zip"):
        with vector.shapefile_dir(files, layer) as (shp, stem):
            raw = vector.read_shapefile(shp, stem, file=name, encoding=encoding)
    else:
        path = files[0]
        merge = suffix in (".kml", ".kmz")
        chosen = vector.choose_layer(path, layer, spatial=spatial, merge=merge)
        raw = vector.merge_layers([vector.read_layer(path, n, file=name) for n in chosen])
        if len(chosen) == 1:
            raw.layer = chosen[0]
    for m in (k for k in mapping if k in _COORD_FIELDS):
        raise InvalidInput(f"field map: {m} names a coordinate column, which only spreadsheets have; "
                           f"{name} has its geometries", pointer="map")
    columns, chosen_fields = _columns(kind, raw.fields, raw.values, mapping, file=name)
    problems = _renamed(raw.problems, chosen_fields, raw.fields)
    warnings = [w if w.startswith(name) else f"{name}: {w}" for w in raw.warnings]
    n = len(raw.geometry)
    rows = list(range(1, n + 1))
    if not spatial:
        return SourceTable(name, "", kind, rows, columns, None, "none", raw.encoding, raw.layer, problems,
                           warnings, chosen_fields)
    geoms = raw.geometry
    coords = shapely.get_coordinates(geoms[~shapely.is_missing(geoms)])
    frame = projection.choose(crs, raw.crs, coords[:, 0] if coords.size else np.empty(0), file=name,
                              warnings=warnings)
    projection.check_eastings(frame, coords[:, 0] if coords.size else np.empty(0), file=name)
    wgs = projection.geometries_to_wgs84(frame, geoms)
    wgs = _drop_out_of_range(wgs, rows, problems)
    return SourceTable(name, "", kind, rows, columns, list(wgs), frame.label, raw.encoding, raw.layer, problems,
                       warnings, chosen_fields)


def _drop_out_of_range(geoms: np.ndarray, rows: list[int], problems: list[Problem]) -> np.ndarray:
    """Geometries with a vertex off the globe (a wrong CRS, a NaN) become None with a row problem."""
    present = np.flatnonzero(~shapely.is_missing(geoms))
    if present.size == 0:
        return geoms
    bounds = shapely.bounds(geoms[present])
    bad = _out_of_range(bounds[:, 0], bounds[:, 1]) | _out_of_range(bounds[:, 2], bounds[:, 3])
    if bad.any():
        geoms = geoms.copy()
        for i in present[bad]:
            geoms[i] = None
            problems.append(Problem(rows[i], "geometry", "coordinates_out_of_range",
                                    "the coordinates are not longitudes/latitudes on the globe once converted: "
                                    "check the CRS"))
    return geoms


def _read_sheet(path: Path, suffix: str, kind: str, *, crs: str | None, encoding: str | None,
                mapping: Mapping[str, str], layer: str | None, spatial: bool) -> SourceTable:
    name = path.name
    if sheets.SHEET_SUFFIXES[suffix] == "CSV":
        if layer is not None:
            raise InvalidInput(f"{name}: a CSV file has no layers (layer={layer!r})", pointer="layer")
        sheet = sheets.read_csv(path, encoding=encoding)
    else:
        sheet = sheets.read_xlsx(path, layer=layer)
    warnings = list(sheet.warnings)
    rows = sheet.rows
    lon_col = lat_col = wkt_col = None
    if spatial:
        lon_col, lat_col, wkt_col = _coordinate_columns(sheet.fields, mapping, file=name)
    skip = [c for c in (lon_col, lat_col, wkt_col) if c]
    values = {c: sheet.columns[c] for c in sheet.fields if c not in skip}
    columns, chosen_fields = _columns(kind, [c for c in sheet.fields if c not in skip], values, mapping,
                                      file=name, skip=skip)
    problems = _renamed(sheet.problems, {**chosen_fields, "geometry": lon_col or wkt_col or ""}, sheet.fields)
    row_list = rows.tolist()
    if not spatial:
        return SourceTable(name, "", kind, row_list, columns, None, "none", sheet.encoding, sheet.layer, problems,
                           warnings, chosen_fields)
    lonlat = None
    if lon_col and lat_col:
        chosen_fields.update(lon=lon_col, lat=lat_col)
        address = sheet.columns[chosen_fields["address"]] if "address" in chosen_fields else None
        geometry, label, lonlat = _points(sheet, lon_col, lat_col, address, crs=crs, file=name, problems=problems,
                                          warnings=warnings)
    elif wkt_col:
        chosen_fields["wkt"] = wkt_col
        geometry, label = _wkt(sheet, wkt_col, crs=crs, file=name, problems=problems, warnings=warnings)
    else:
        geometry, label = [None] * len(row_list), (projection.parse_crs(crs, file=name).label if crs else "EPSG:4326")
        if "address" not in columns:
            warnings.append(f"{name}: no coordinate columns (经度/纬度, lon/lat, x/y) and no address column")
    return SourceTable(name, "", kind, row_list, columns, geometry, label, sheet.encoding, sheet.layer, problems,
                       warnings, chosen_fields, lonlat)


def _coordinate_columns(fields: list[str], mapping: Mapping[str, str], *,
                        file: str) -> tuple[str | None, str | None, str | None]:
    found: dict[str, str | None] = {}
    for key, names in (("lon", fmap.LON_NAMES), ("lat", fmap.LAT_NAMES), ("wkt", fmap.WKT_NAMES)):
        if key in mapping:
            col = fmap.find_column(fields, [mapping[key]])
            if col is None:
                raise InvalidInput(f"field map: {file} has no field {mapping[key]!r} (for {key}); its fields are "
                                   f"{', '.join(fields)}", pointer="map")
            found[key] = col
        else:
            found[key] = fmap.find_column(fields, names)
    if (found["lon"] is None) != (found["lat"] is None):
        have, lack = ("lon", "lat") if found["lon"] else ("lat", "lon")
        raise InvalidInput(f"{file}: it has a {have} column ({found[have]}) but no {lack} column; name it with "
                           f"map {lack}=<column>", pointer="map")
    return found["lon"], found["lat"], found["wkt"]


def _points(sheet: sheets.Sheet, lon_col: str, lat_col: str, address: Any, *, crs: str | None,
            file: str, problems: list[Problem], warnings: list[str]) -> tuple[list[Any], str, tuple[Any, Any]]:
    """Points from two coordinate columns, converted to WGS84 in one vectorised pass."""
    xs = parse_numbers(sheets.as_arrow(sheet.columns[lon_col]))
    ys = parse_numbers(sheets.as_arrow(sheet.columns[lat_col]))
    rows = sheet.rows
    both_missing = xs.missing & ys.missing
    has_address = np.zeros(len(rows), dtype=bool) if address is None else sheets.non_empty(address)
    for i in np.flatnonzero(both_missing):
        if has_address[i]:
            continue  # the households importer resolves the address
        problems.append(Problem(int(rows[i]), "geometry", "missing_coordinates",
                                f"no coordinates ({lon_col}, {lat_col}) and no address"))
    for col, nums, other in ((lon_col, xs, ys), (lat_col, ys, xs)):
        for i in np.flatnonzero(nums.invalid):
            problems.append(Problem(int(rows[i]), "geometry", "not_a_number", f"{col} is not a number"))
        for i in np.flatnonzero(nums.missing & ~other.missing):
            problems.append(Problem(int(rows[i]), "geometry", "missing_coordinates", f"{col} is empty"))
    x, y = xs.values, ys.values
    frame = projection.choose(crs, None, x, file=file, warnings=warnings)
    if not frame.projected and _swapped(x, y):
        warnings.append(f"{file}: {lon_col} holds latitudes and {lat_col} longitudes; read them swapped")
        x, y = y, x
    if frame.projected and _northing_first(x, y):
        warnings.append(f"{file}: {lon_col} holds northings and {lat_col} eastings (the surveyors' X/Y); "
                        f"read them swapped")
        x, y = y, x
    projection.check_eastings(frame, x, file=file)
    ok = np.isfinite(x) & np.isfinite(y)
    if not frame.projected:
        off = ok & _out_of_range(x, y)
        for i in np.flatnonzero(off):
            problems.append(Problem(int(rows[i]), "geometry", "coordinates_out_of_range",
                                    f"{lon_col}/{lat_col} are not a longitude (−180…180) and latitude (−90…90)"))
        ok &= ~off
    lon = np.full(len(x), np.nan)
    lat = np.full(len(x), np.nan)
    lon[ok], lat[ok] = projection.xy_to_wgs84(frame, x[ok], y[ok])
    converted = np.isfinite(lon) & np.isfinite(lat) & ~_out_of_range(lon, lat)
    for i in np.flatnonzero(ok & ~converted):
        problems.append(Problem(int(rows[i]), "geometry", "coordinates_out_of_range",
                                f"{lon_col}/{lat_col} fall off the globe in {frame.label}: check the CRS"))
    geometry = np.full(len(x), None, dtype=object)
    geometry[converted] = shapely.points(lon[converted], lat[converted])
    lon[~converted] = np.nan
    lat[~converted] = np.nan
    return geometry.tolist(), frame.label, (lon, lat)


def _swapped(x: np.ndarray, y: np.ndarray) -> bool:
    """Latitude and longitude columns exchanged: "longitudes" that all fit China's latitudes (3–54) and
    "latitudes" that all fit its longitudes (73–136) — which no place in China has the other way round."""
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return False
    x, y = x[ok], y[ok]
    return bool(np.all((x >= 3) & (x <= 54)) and np.all((y >= 73) & (y <= 136)))


def _northing_first(x: np.ndarray, y: np.ndarray) -> bool:
    """Chinese survey tables call the northing X and the easting Y. In China a northing is 0.3–6.1 million
    metres and an easting is 0.1–0.9 million, or carries a zone prefix (13–45 million): the two never overlap
    in the data's median, so the swap is certain when x looks like the one and y like the other."""
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return False
    mx, my = float(np.median(x[ok])), float(np.median(y[ok]))
    easting = 1e5 <= my <= 9e5 or 1.3e7 <= my <= 4.6e7
    return easting and 1e6 <= mx <= 6.2e6


def _wkt(sheet: sheets.Sheet, wkt_col: str, *, crs: str | None, file: str, problems: list[Problem],
         warnings: list[str]) -> tuple[list[Any], str]:
    """Geometries written as WKT in a column (a grid's boundary in a spreadsheet)."""
    text = np.array(sheets.as_values(sheet.columns[wkt_col]), dtype=object)
    geoms = shapely.from_wkt(text, on_invalid="ignore")
    bad = np.flatnonzero(shapely.is_missing(geoms) & np.array([t is not None for t in text], dtype=bool))
    problems += [Problem(int(sheet.rows[i]), "geometry", "invalid_wkt", f"{wkt_col} is not WKT") for i in bad]
    coords = shapely.get_coordinates(geoms[~shapely.is_missing(geoms)])
    frame = projection.choose(crs, None, coords[:, 0] if coords.size else np.empty(0), file=file, warnings=warnings)
    projection.check_eastings(frame, coords[:, 0] if coords.size else np.empty(0), file=file)
    wgs = projection.geometries_to_wgs84(frame, shapely.force_2d(geoms))
    wgs = _drop_out_of_range(wgs, sheet.rows.tolist(), problems)
    return wgs.tolist(), frame.label
