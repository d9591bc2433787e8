"""What a file's coordinates are, and turning them into WGS84 (the storage datum).

自然资源 offices deliver CGCS2000 Gauss–Krüger coordinates (EPSG:4491–4554): 6° zones 13–23 and 3°
zones 25–45, each in two spellings, with the zone number prefixed to the easting (zone 35:
x ≈ 35 500 000, EPSG:4523) or without it (x ≈ 500 000, "CM 105E", EPSG:4544). A file read with the
wrong spelling lands thousands of kilometres away, so the eastings are checked against the CRS's
false easting and the right EPSG code is named. The EPSG definitions list northing first; files
store easting first, hence ``always_xy``. GCJ-02 and BD-09 are in no file's metadata (PROJ does not
know them): they are declared by the user and converted by geo.spatial.crs, vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from geo.errors import InvalidInput
from geo.spatial.crs import to_wgs84

_DECLARED = {"wgs84": "EPSG:4326", "cgcs2000": "EPSG:4490", "crs84": "EPSG:4326"}
_OBFUSCATED = ("gcj02", "bd09")


@dataclass(frozen=True)
class Frame:
    """The coordinate system rows are read in: an EPSG/WKT CRS, or the obfuscated gcj02/bd09."""

    label: str  # SourceTable.crs: "EPSG:4523", "gcj02"
    crs: CRS | None  # None for gcj02/bd09 (lon/lat on WGS84, shifted)

    @property
    def obfuscated(self) -> str | None:
        return None if self.crs is not None else self.label

    @property
    def projected(self) -> bool:
        return self.crs is not None and self.crs.is_projected


def _label(crs: CRS) -> str:
    epsg = crs.to_epsg(min_confidence=70)
    return f"EPSG:{epsg}" if epsg else crs.name


def parse_crs(text: str, *, file: str, pointer: str = "crs") -> Frame:
    """A user's ``crs=`` (wgs84, cgcs2000, gcj02, bd09, EPSG:4545, WKT) as a Frame."""
    key = text.strip().lower().replace("-", "").replace("_", "")
    if key in _OBFUSCATED:
        return Frame(key, None)
    try:
        crs = CRS.from_user_input(_DECLARED.get(key, text.strip()))
    except CRSError:
        raise InvalidInput(f"{file}: unknown CRS {text.strip()!r}; give wgs84, cgcs2000, gcj02, bd09 or an EPSG "
                           f"code such as EPSG:4545", pointer=pointer) from None
    return Frame(_label(crs), crs)


def file_frame(metadata: str | None, *, file: str) -> Frame | None:
    """The CRS a file's metadata (.prj, GeoPackage SRS, GeoJSON crs) declares, or None without one."""
    if not metadata:
        return None
    try:
        crs = CRS.from_user_input(metadata)
    except CRSError:
        raise InvalidInput(f"{file}: its coordinate system ({metadata[:80]!r}) is not one PROJ knows; "
                           f"say which it is with crs= (e.g. EPSG:4545)", pointer="crs") from None
    if crs.is_engineering or not (crs.is_geographic or crs.is_projected):
        raise InvalidInput(f"{file}: its coordinate system {crs.name!r} is a local one with no datum; "
                           f"say which it is with crs=", pointer="crs")
    return Frame(_label(crs), crs)


def choose(declared: str | None, metadata: str | None, x: np.ndarray, *, file: str,
           warnings: list[str]) -> Frame:
    """The frame to read in: the user's declaration, else the metadata, else WGS84 for data that looks
    like longitudes (with a warning), else an error naming the file."""
    if declared:
        frame = parse_crs(declared, file=file)
        try:
            from_file = file_frame(metadata, file=file)
        except InvalidInput:  # the user's declaration replaces what could not be read
            from_file = None
        if from_file is not None and frame.crs is not None and not frame.crs.equals(from_file.crs):
            warnings.append(f"{file}: read as {frame.label} as asked, though the file says {from_file.label}")
        return frame
    from_file = file_frame(metadata, file=file)
    if from_file is not None:
        return from_file
    finite = x[np.isfinite(x)]
    if finite.size == 0 or np.median(np.abs(finite)) <= 180.0:  # a stray bad row is a row problem
        warnings.append(f"{file}: no coordinate system given; read as WGS84 (EPSG:4326) longitude/latitude. "
                        f"Say crs=gcj02 for AMap/Tencent/WeChat coordinates, crs=bd09 for Baidu's")
        return Frame("EPSG:4326", CRS.from_epsg(4326))
    raise InvalidInput(f"{file}: the coordinates are projected (x up to {_metres(np.nanmax(np.abs(finite)))}) but the "
                       f"file says no coordinate system; give it with crs= (e.g. EPSG:4523 for CGCS2000 3° zone 35)",
                       pointer="crs")


def _false_easting(crs: CRS) -> float | None:
    conv = crs.coordinate_operation
    if conv is None:
        return None
    for p in conv.params:
        if p.name.lower() == "false easting":
            return float(p.value)
    return None


def _cgcs2000_gk(prefix: int | None, central: float | None) -> str:
    """The EPSG code of a CGCS2000 Gauss–Krüger zone, from its prefix or its central meridian."""
    if prefix is not None:
        if 25 <= prefix <= 45:
            return f"EPSG:{4513 + prefix - 25} (3° zone {prefix})"
        if 13 <= prefix <= 23:
            return f"EPSG:{4491 + prefix - 13} (6° zone {prefix})"
        return "the CRS of that zone"
    if central is not None and float(central).is_integer():
        cm = int(central)
        if cm % 3 == 0 and 75 <= cm <= 135:
            return f"EPSG:{4534 + (cm - 75) // 3} (3° CM {cm}E)"
    return "the CRS without the zone prefix"


def _metres(value: float) -> str:
    """A coordinate for a message: 35,512,345 as such, 1e308 as 1e+308 (not 309 digits)."""
    return f"{value:,.0f}" if abs(value) < 1e12 else f"{value:.3g}"


def check_eastings(frame: Frame, x: np.ndarray, *, file: str) -> None:
    """Refuse eastings that disagree with the CRS's false easting (a zone prefix present or missing)."""
    if not frame.projected:
        return
    fe = _false_easting(frame.crs)  # type: ignore[arg-type]
    finite = x[np.isfinite(x)]
    if finite.size and np.median(np.abs(finite)) <= 180.0:
        raise InvalidInput(f"{file}: the coordinates look like longitudes (x ≤ 180) but {frame.label} is projected "
                           f"(metres); give the right CRS with crs= (wgs84, cgcs2000, gcj02)", pointer="crs")
    if fe is None or finite.size == 0:
        return
    median = float(np.median(finite))
    if abs(median) >= 100_000_000:  # zone prefixes have two digits: 13 to 45 (x < 46,000,000)
        raise InvalidInput(f"{file}: the eastings (x ≈ {_metres(median)}) are beyond any Gauss–Krüger zone of "
                           f"{frame.label}; check the file's coordinates and its CRS", pointer="crs")
    data_prefix = int(median // 1_000_000) if median >= 10_000_000 else None
    crs_prefix = int(fe // 1_000_000) if fe >= 10_000_000 else None
    if data_prefix == crs_prefix:
        return
    central = None
    for p in frame.crs.coordinate_operation.params:  # type: ignore[union-attr]
        if p.name.lower() == "longitude of natural origin":
            central = p.value
    if data_prefix is not None and crs_prefix is None:
        raise InvalidInput(f"{file}: the eastings carry the zone prefix {data_prefix} (x ≈ {median:,.0f}) but "
                           f"{frame.label} has none (false easting {fe:,.0f}); read it as {_cgcs2000_gk(data_prefix, None)}",
                           pointer="crs")
    if data_prefix is None and crs_prefix is not None:
        raise InvalidInput(f"{file}: {frame.label} expects eastings with the zone prefix {crs_prefix} "
                           f"(x ≈ {fe:,.0f}) but they have none (x ≈ {median:,.0f}); read it as "
                           f"{_cgcs2000_gk(None, central)}", pointer="crs")
    raise InvalidInput(f"{file}: the eastings are in zone {data_prefix} (x ≈ {median:,.0f}) but {frame.label} is "
                       f"zone {crs_prefix}; read it as {_cgcs2000_gk(data_prefix, None)}", pointer="crs")


@lru_cache(maxsize=32)
def _transformer(wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_wkt(wkt), CRS.from_epsg(4326), always_xy=True)


def xy_to_wgs84(frame: Frame, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arrays of coordinates in ``frame`` to WGS84 lon/lat (NaN in, NaN out)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if frame.crs is None:
        lon, lat = to_wgs84(x, y, frame.label)
        return np.asarray(lon), np.asarray(lat)
    if frame.crs.equals(CRS.from_epsg(4326)) or frame.label in ("EPSG:4326", "EPSG:4490"):
        return x.copy(), y.copy()  # CGCS2000 is WGS84 to a few centimetres (geo/spatial/crs.py)
    lon, lat = _transformer(frame.crs.to_wkt()).transform(x, y, errcheck=False)
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    lon[bad] = np.nan
    lat[bad] = np.nan
    return lon, lat


def geometries_to_wgs84(frame: Frame, geoms: np.ndarray) -> np.ndarray:
    """Every vertex of an array of Shapely geometries to WGS84 at once (one call, no loop over rows)."""
    if frame.label == "EPSG:4326" or geoms.size == 0:
        return geoms

    def convert(coords: np.ndarray) -> np.ndarray:
        lon, lat = xy_to_wgs84(frame, coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, convert)
