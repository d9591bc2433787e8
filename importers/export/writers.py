"""Writing an export's chunks to a file, one format each, without holding the whole export in memory.

The vector formats (GeoPackage, Shapefile, KML, GeoJSON) go through GDAL (pyogrio) as one Arrow
stream: ``write_arrow`` opens the file once and writes each record batch as it is produced. Writing
chunk by chunk with ``append=True`` instead reopens the dataset every time, and GDAL's GeoJSON and
KML drivers re-read what is already there on each append: measured on 120,000 points in chunks of
20,000, the sixth KML append took 9.2 s against 0.4 s for the first.

CSV is UTF-8 with a byte-order mark (Excel reads BOM-less UTF-8 as the local code page and turns
Chinese into mojibake) and CRLF line ends. CSV and XLSX cells that Excel would run as a formula
(``=``, ``+``, ``-``, ``@`` …) are written as text. XLSX is written with openpyxl's write-only
workbook, which streams rows to a temporary file; a sheet holds at most 1,048,576 rows, so a larger
export continues on a second sheet.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import shapely

from geo.errors import InvalidInput
from importers.export.datasets import Chunk, Column
from importers.export.fieldnames import shapefile_names

VECTOR_DRIVERS = {"gpkg": "GPKG", "shp": "ESRI Shapefile", "kml": "KML", "geojson": "GeoJSON"}
XLSX_ROWS = 1_048_576  # rows per sheet, the header included
XLSX_CELL = 32_767  # characters per cell
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _arrow_type(kind: str):  # noqa: ANN202 - a pyarrow DataType
    import pyarrow as pa

    return {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}[kind]


def _batches(columns: list[Column], names: list[str], chunks: Iterable[Chunk], counter: list[int]):  # noqa: ANN202
    """The chunks as an Arrow RecordBatchReader (geometry last, as GeoArrow WKB)."""
    import pyarrow as pa

    schema = pa.schema([*(pa.field(n, _arrow_type(c.type)) for c, n in zip(columns, names, strict=True)),
                        pa.field("geometry", pa.binary(), metadata={"ARROW:extension:name": "geoarrow.wkb"})])

    def gen() -> Iterator[pa.RecordBatch]:
        for chunk in chunks:
            counter[0] += len(chunk)
            arrays = [pa.array(chunk.columns[c.name], _arrow_type(c.type)) for c in columns]
            yield pa.record_batch([*arrays, pa.array(chunk.wkb, pa.binary())], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, gen())


def write_vector(fmt: str, path: Path, columns: list[Column], geometry_type: str, chunks: Iterable[Chunk], *,
                 layer: str, encoding: str = "UTF-8") -> int:
    """GeoPackage, Shapefile (the .shp set beside ``path``), KML or GeoJSON; returns the rows written."""
    from pyogrio.raw import write_arrow

    names = shapefile_names([c.name for c in columns]) if fmt == "shp" else [c.name for c in columns]
    options: dict[str, object] = {}
    if fmt == "shp":
        options["encoding"] = encoding  # GDAL writes it into the .cpg too
    elif fmt == "geojson":
        options["layer_options"] = {"RFC7946": "YES", "WRITE_NAME": "NO"}
    elif fmt == "kml":
        options["dataset_options"] = {"NameField": "name", "DescriptionField": "description"}
    counter = [0]
    write_arrow(_batches(columns, names, chunks, counter), str(path), layer=layer, driver=VECTOR_DRIVERS[fmt],
                geometry_name="geometry", geometry_type=geometry_type, crs="EPSG:4326", **options)
    return counter[0]


def zip_shapefile(shp: Path, out: Path) -> None:
    """The .shp, .shx, .dbf, .prj and .cpg of one Shapefile in a .zip, as offices pass them around."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
            part = shp.with_suffix(ext)
            if part.exists():
                z.write(part, part.name)


def _cell(value: object) -> object:
    """A text value Excel would run as a formula, quoted as text (CSV)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _geometry_columns(coords: str) -> list[str]:
    return ["lon", "lat"] if coords == "lonlat" else ["wkt"]


def _geometry_cells(wkb: list[bytes | None], coords: str) -> list[list[object]]:
    """WKT (full precision: it reads back to the same doubles), or lon/lat of a point (a point inside a
    polygon: ``ST_PointOnSurface``'s equivalent, for finding a shape on a map, not for reimporting it)."""
    geoms = shapely.from_wkb(np.array(wkb, dtype=object))
    if coords == "lonlat":
        points = shapely.point_on_surface(geoms)
        xs, ys = shapely.get_x(points), shapely.get_y(points)
        return [[None, None] if g is None else [float(x), float(y)] for g, x, y in zip(geoms, xs, ys, strict=True)]
    return [[w] for w in shapely.to_wkt(geoms, rounding_precision=-1, trim=True).tolist()]


def _rows(columns: list[Column], chunk: Chunk, coords: str) -> Iterator[list[object]]:
    values = [chunk.columns[c.name] for c in columns]
    for i, geometry in enumerate(_geometry_cells(chunk.wkb, coords)):
        yield [v[i] for v in values] + geometry


def write_csv(path: Path, columns: list[Column], chunks: Iterable[Chunk], *, coords: str) -> int:
    n = 0
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow([c.name for c in columns] + _geometry_columns(coords))
        for chunk in chunks:
            writer.writerows([_cell(v) for v in row] for row in _rows(columns, chunk, coords))
            n += len(chunk)
    return n


def write_xlsx(path: Path, columns: list[Column], chunks: Iterable[Chunk], *, coords: str, sheet: str) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    header = [c.name for c in columns] + _geometry_columns(coords)
    ws, used, sheets, n = None, XLSX_ROWS, 0, 0

    def text_cell(value: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(ws, value)
        cell.data_type = "s"  # never a formula, whatever it starts with
        return cell

    for chunk in chunks:
        for row in _rows(columns, chunk, coords):
            if used == XLSX_ROWS:
                sheets += 1
                ws = wb.create_sheet(sheet if sheets == 1 else f"{sheet} ({sheets})")
                ws.append(header)
                used = 1
            for v in row:
                if isinstance(v, str) and len(v) > XLSX_CELL:
                    raise InvalidInput(f"row {n + 1}: a value of {len(v):,} characters does not fit an XLSX cell"
                                       f" ({XLSX_CELL:,} at most); export this as GeoPackage or CSV", pointer="format")
            # openpyxl reads only a leading "=" as a formula: a typed cell for those alone, plain values otherwise
            ws.append([text_cell(v) if isinstance(v, str) and v.startswith("=") else v for v in row])
            used += 1
            n += 1
    if ws is None:  # an empty export still has its header
        wb.create_sheet(sheet).append(header)
    wb.save(path)
    return n
