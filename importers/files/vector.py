"""Vector files through GDAL (pyogrio, Arrow): GeoJSON, GeoPackage, Shapefile (.zip or file set), KML, KMZ.

The pyogrio wheel's GDAL has every driver needed here (GeoJSON, GPKG, ESRI Shapefile, LIBKML, which
reads KMZ too), checked by ``drivers_missing``. Shapefiles are read with their text as latin-1, i.e.
one character per byte as stored, and decoded here: GDAL would trust a .cpg (or guess ISO-8859-1
without one) and hand back replacement characters or mojibake that no one could then tell apart
from a name. A zipped Shapefile's members are extracted under ASCII names first: Chinese Windows
zips name them in GBK without saying so, which /vsizip/ would read as CP437.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio
import shapely

from geo.errors import InvalidInput
from importers.files import encoding as enc
from importers.report import Problem

VECTOR_SUFFIXES = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".shp": "ESRI Shapefile",
                   ".zip": "ESRI Shapefile", ".kml": "LIBKML", ".kmz": "LIBKML"}
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx")
_MAX_UNZIPPED = 4 << 30  # a Shapefile cannot exceed 2 GB per part; anything bigger is not one
# A zip bomb writes gigabytes to the server's disk from a small upload. Real Shapefiles pack 3–30:1
# (a .dbf of mostly blank text fields reaches about 60:1); more than 200:1 beyond the first 64 MB is
# not a county's data.
_MAX_RATIO = 200
_RATIO_FREE = 64 << 20


def drivers_missing() -> list[str]:
    """GDAL drivers this module needs that the installed GDAL lacks (none, with pyogrio's wheel)."""
    have = pyogrio.list_drivers()
    return [d for d in sorted(set(VECTOR_SUFFIXES.values())) if d not in have]


@dataclass
class Raw:
    """A layer as read, before field maps and CRSs: source column names and values, native geometry."""

    fields: list[str]
    values: dict[str, pa.Array | list[Any]]  # convert with plain(): only the mapped columns need it
    geometry: np.ndarray  # Shapely geometries (None where a feature has none), in the file's CRS
    crs: str | None  # what the file says (EPSG code or WKT), None when it says nothing
    encoding: str | None
    layer: str | None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def gdal_message(exc: BaseException, path: Path, name: str) -> str:
    """GDAL's message with the file called by the caller's name: GDAL names it by its full path in the
    server's temporary directory (and a zipped Shapefile by the name it was extracted under)."""
    return str(exc).replace(str(path), name).replace(str(path.parent) + os.sep, "")


def _zip_name(info: zipfile.ZipInfo) -> str:
    """A member's name as its author wrote it: without the UTF-8 flag it is usually GBK, not CP437."""
    if info.flag_bits & 0x800:
        return info.filename
    raw = info.filename.encode("cp437")
    return raw.decode(enc.detect(raw))


def _shapefile_sets(names: Sequence[str]) -> dict[str, dict[str, str]]:
    """stem -> suffix -> name, for every stem that has a .shp."""
    sets: dict[str, dict[str, str]] = {}
    for name in names:
        stem, suffix = os.path.splitext(name)
        if suffix.lower() in SHAPEFILE_PARTS:
            sets.setdefault(stem, {})[suffix.lower()] = name
    return {stem: parts for stem, parts in sets.items() if ".shp" in parts}


def _pick(stems: Sequence[str], layer: str | None, *, file: str) -> str:
    if layer is not None:
        for stem in stems:
            if stem == layer or os.path.basename(stem) == layer:
                return stem
        raise InvalidInput(f"{file} has no layer {layer!r}; its layers are {', '.join(map(os.path.basename, stems))}",
                           pointer="layer")
    if not stems:
        raise InvalidInput(f"{file} holds no Shapefile (no .shp)", pointer="file")
    if len(stems) > 1:
        raise InvalidInput(f"{file} holds several layers: {', '.join(map(os.path.basename, stems))}; "
                           f"choose one with layer=", pointer="layer")
    return stems[0]


def _check_unpacked_size(unpacked: int, packed: int, file: str) -> None:
    """Refuse a Shapefile zip that would unpack to more than 4 GB, or far more than zip files pack."""
    if unpacked > _MAX_UNZIPPED:
        raise InvalidInput(f"{file}: the Shapefile unpacks to more than 4 GB", pointer="file")
    if unpacked > max(_RATIO_FREE, _MAX_RATIO * packed):
        raise InvalidInput(f"{file}: the Shapefile would unpack to {unpacked:,} bytes from {packed:,}, more than "
                           f"{_MAX_RATIO} times its size; that is not a Shapefile but a zip bomb", pointer="file")


@contextmanager
def shapefile_dir(paths: Sequence[Path], layer: str | None) -> Iterator[tuple[Path, str]]:
    """The chosen Shapefile's parts in a private directory as ``layer.*``; yields (the .shp, its stem)."""
    tmp = Path(tempfile.mkdtemp(prefix="gridmap-shp-"))
    try:
        if len(paths) == 1 and paths[0].suffix.lower() == ".zip":
            file = paths[0].name
            try:
                archive = zipfile.ZipFile(paths[0])
            except zipfile.BadZipFile:
                raise InvalidInput(f"{file} is not a readable zip file", pointer="file") from None
            with archive:
                infos = {_zip_name(i): i for i in archive.infolist() if not i.is_dir()}
                sets = _shapefile_sets(list(infos))
                stem = _pick(sorted(sets), layer, file=file)
                _check_unpacked_size(sum(infos[n].file_size for n in sets[stem].values()),
                                     paths[0].stat().st_size, file)
                try:
                    for suffix, name in sets[stem].items():
                        with archive.open(infos[name]) as src, open(tmp / f"layer{suffix}", "wb") as dst:
                            shutil.copyfileobj(src, dst, 1 << 20)
                except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                    # a member whose bytes disagree with its header (sizes, CRC), truncated, or packed
                    # with a method Python lacks: the file is damaged, not the server
                    raise InvalidInput(f"{file} is a damaged zip file ({exc})", pointer="file") from None
        else:
            file = next((p.name for p in paths if p.suffix.lower() == ".shp"), paths[0].name)
            if len(paths) == 1:  # a .shp by itself: its parts are beside it
                paths = sorted(p for p in paths[0].parent.iterdir() if p.stem == paths[0].stem)
            where = {p.name: p for p in paths}  # an upload's parts may sit in different folders
            sets = _shapefile_sets(list(where))
            stem = _pick(sorted(sets), layer, file=file)
            for suffix, name in sets[stem].items():
                os.symlink(where[name].resolve(), tmp / f"layer{suffix}")
        if not (tmp / "layer.dbf").exists():
            raise InvalidInput(f"{file}: the Shapefile's .dbf (its attributes) is missing", pointer="file")
        yield tmp / "layer.shp", os.path.basename(stem)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def choose_layer(path: Path, layer: str | None, *, spatial: bool, merge: bool = False) -> list[str]:
    """The layer(s) to read: the one named, the only one, or (``merge``, KML folders) all non-empty ones.
    Several layers and none chosen is an error that names them."""
    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:  # noqa: BLE001 - GDAL's message names the format problem
        raise InvalidInput(f"{path.name} cannot be read: {gdal_message(exc, path, path.name)}", pointer="file") from None
    names = [str(n) for n, _ in layers]
    if layer is not None:
        if layer not in names:
            raise InvalidInput(f"{path.name} has no layer {layer!r}; its layers are {', '.join(names)}",
                               pointer="layer")
        return [layer]
    candidates = [str(n) for n, g in layers if not spatial or g is not None]
    if merge:
        candidates = [n for n in candidates if pyogrio.read_info(path, layer=n)["features"] != 0] or candidates[:1]
    if not candidates:
        raise InvalidInput(f"{path.name} has no layer with geometries", pointer="file")
    if len(candidates) > 1 and not merge:
        raise InvalidInput(f"{path.name} has several layers: {', '.join(candidates)}; choose one with layer=",
                           pointer="layer")
    return candidates


def _plain(values: list[Any]) -> list[Any]:
    """Arrow's Python values as SourceTable's: str, int, float or None (dates as ISO text)."""
    out: list[Any] = []
    for v in values:
        if v is None or isinstance(v, (str, int, float)) and not isinstance(v, bool):
            out.append(None if isinstance(v, float) and v != v else v)
        elif isinstance(v, bool):
            out.append(int(v))
        elif hasattr(v, "isoformat"):
            out.append(v.isoformat())
        else:
            out.append(str(v))
    return out


def plain(column: pa.Array | pa.ChunkedArray | list[Any]) -> list[Any]:
    """A column as SourceTable values, converted only when asked for (only mapped columns are): text
    and integers as they are, NaN as None, booleans as 0/1, anything else through ``_plain``."""
    if isinstance(column, list):
        return _plain(column)
    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t):
        return column.to_pylist()
    if pa.types.is_floating(t):
        values = column.to_pylist()
        return [None if v != v else v for v in values] if pc.any(pc.is_nan(column)).as_py() else values
    if pa.types.is_boolean(t):
        return column.cast(pa.int8()).to_pylist()
    return _plain(column.to_pylist())


def _read_arrow(path: Path, layer: str | None, *, file: str, encoding: str | None = None) -> tuple[dict[str, Any], pa.Table]:
    try:
        return pyogrio.read_arrow(path, layer=layer, encoding=encoding, datetime_as_string=True)
    except InvalidInput:
        raise
    except Exception as exc:  # noqa: BLE001 - GDAL's message names the format problem
        raise InvalidInput(f"{file} cannot be read: {gdal_message(exc, path, file)}", pointer="file") from None


def _split(meta: dict[str, Any], table: pa.Table) -> tuple[list[str], dict[str, pa.Array], np.ndarray]:
    geom_name = meta.get("geometry_name") or "wkb_geometry"
    names = [n for n in table.column_names if n != geom_name]
    if geom_name in table.column_names:
        wkb = table.column(geom_name).combine_chunks().to_numpy(zero_copy_only=False)
        geometry = shapely.from_wkb(wkb, on_invalid="ignore")
        if geometry.size and shapely.has_z(geometry).any():
            geometry = shapely.force_2d(geometry)
    else:
        geometry = np.full(table.num_rows, None, dtype=object)
    return names, {n: table.column(n).combine_chunks() for n in names}, geometry


@contextmanager
def _kml_names_as_written() -> Iterator[None]:
    """LIBKML turns every non-ASCII ExtendedData name (网格编码) into underscores unless told not to."""
    before = pyogrio.get_gdal_config_option("LIBKML_LAUNDER_FIELD_NAMES")
    pyogrio.set_gdal_config_options({"LIBKML_LAUNDER_FIELD_NAMES": "NO"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"LIBKML_LAUNDER_FIELD_NAMES": before})


def read_layer(path: Path, layer: str | None, *, file: str) -> Raw:
    """One layer of a UTF-8 format (GeoJSON, GeoPackage, KML)."""
    if path.suffix.lower() in (".kml", ".kmz"):
        with _kml_names_as_written():
            meta, table = _read_arrow(path, layer, file=file)
    else:
        meta, table = _read_arrow(path, layer, file=file)
    names, values, geometry = _split(meta, table)
    return Raw(names, values, geometry, meta.get("crs"), enc.UTF8, layer)


def merge_layers(parts: Sequence[Raw]) -> Raw:
    """KML folders as one table, features in file order; a field absent from a folder is None there."""
    if len(parts) == 1:
        return parts[0]
    names: list[str] = []
    for p in parts:
        names += [n for n in p.fields if n not in names]
    values: dict[str, pa.Array | list[Any]] = {
        n: [v for p in parts for v in (plain(p.values[n]) if n in p.values else [None] * len(p.geometry))]
        for n in names}
    geometry = np.concatenate([p.geometry for p in parts])
    out = Raw(names, values, geometry, parts[0].crs, parts[0].encoding, None)
    out.warnings.append(f"read the layers {', '.join(str(p.layer) for p in parts)} together")
    return out


def read_shapefile(shp: Path, stem: str, *, file: str, encoding: str | None) -> Raw:
    """A Shapefile, its text decoded as ``encoding`` (the user's), else its .cpg, else detected."""
    meta, table = _read_arrow(shp, None, file=file, encoding="ISO-8859-1")
    names_raw, values_raw, geometry = _split(meta, table)
    text_cols = [n for n in names_raw if pa.types.is_string(table.column(n).type)]
    text_raw = {n: values_raw[n].to_pylist() for n in text_cols}
    cpg = shp.with_suffix(".cpg")
    sample = "\x00".join([*names_raw, *(v for n in text_cols for v in text_raw[n] if v)]).encode("latin-1")
    detected = enc.detect(sample)
    problems: list[Problem] = []
    warnings: list[str] = []
    if encoding:
        codec, source = enc.codec_name(encoding), "encoding="
    elif cpg.exists():
        declared = cpg.read_text("ascii", errors="replace").strip()
        try:
            codec, source = enc.codec_name(declared), f"{stem}.cpg"
        except ValueError:
            warnings.append(f"{file}: {stem}.cpg names an unknown encoding; detected {enc.label(detected)}")
            codec, source = detected, "detected"
        else:
            if codec != "utf-8" and detected == "utf-8" and not sample.isascii():
                problems.append(Problem(None, None, "encoding_mismatch",
                                        f"{stem}.cpg says {declared} but the text is valid UTF-8, which GBK-encoded "
                                        f"Chinese almost never is: read it with encoding=utf-8 (or fix the .cpg)"))
    else:
        codec, source = detected, "detected"
    names, bad_names = enc.decode_values(names_raw, codec)
    if bad_names:  # field names are matched, never stored: read them as they look, and say so
        names, bad_names = enc.decode_values(names_raw, detected)
        warnings.append(f"{file}: the field names are not valid {enc.label(codec)} ({source}); read them as "
                        f"{enc.label(detected)}")
        if bad_names:
            raise InvalidInput(f"{file}: its field names are neither {enc.label(codec)} nor "
                               f"{enc.label(detected)}: give the encoding with encoding=", pointer="encoding")
    values: dict[str, pa.Array | list[Any]] = {}
    undecodable = 0
    for raw_name, name in zip(names_raw, names):
        column: pa.Array | list[Any] = values_raw[raw_name]
        if raw_name in text_cols:
            column, bad = enc.decode_values(text_raw[raw_name], codec)
            undecodable += len(bad)
            problems += [Problem(i + 1, name, "undecodable",
                                 f"{name}: the text is not valid {enc.label(codec)} ({source}); the value is left out")
                         for i in bad]
        values[name] = column
    if undecodable and detected != codec:
        warnings.append(f"{file}: {undecodable} values are not valid {enc.label(codec)} ({source}) but the file "
                        f"reads as {enc.label(detected)}: try encoding={enc.label(detected)}")
    return Raw(names, values, geometry, meta.get("crs") if shp.with_suffix(".prj").exists() else None,  # type: ignore[arg-type]
               enc.label(codec), stem, problems, warnings)
