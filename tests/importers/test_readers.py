"""The readers on real files written here with GDAL (pyogrio), openpyxl or plain bytes: every format,
encodings (GBK without .cpg, a wrong .cpg), CRSs (CGCS2000 Gauss–Krüger zones, GCJ-02), field maps,
row problems. No database: reading a file is pure."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import prcoords
import pyogrio
import pytest
import shapely
from pyogrio.raw import write
from pyproj import Geod, Transformer

from geo.errors import InvalidInput
from importers.files import parse_map, read_source
from importers.files.vector import drivers_missing

GEOD = Geod(ellps="WGS84")
NAMES = ["花溪村", "青岩镇", "石板镇"]
CODES = ["52011100120101001", "52011100120101002", "52011100120101003"]


def squares(n: int = 3, x0: float = 106.60, y0: float = 26.40, size: float = 0.01) -> list[shapely.Polygon]:
    """Grids near Huaxi, side ``size`` degrees, west to east."""
    return [shapely.box(x0 + i * size, y0, x0 + (i + 1) * size, y0 + size) for i in range(n)]


def write_layer(path: Path, geoms: list, fields: dict[str, list], *, crs: str = "EPSG:4326", driver: str | None = None,
                layer: str | None = None, encoding: str | None = None, append: bool = False) -> Path:
    gtype = "Polygon" if isinstance(geoms[0], shapely.Polygon) else "Point"
    write(path, shapely.to_wkb(np.array(geoms, dtype=object)),
          field_data=[np.array(v, dtype=object) for v in fields.values()], fields=list(fields),
          geometry_type=gtype, crs=crs, driver=driver, layer=layer, encoding=encoding, append=append)
    return path


def same(a: list, b: list) -> bool:
    """The same shapes to 1e-7 degrees (1 cm): formats round coordinates differently."""
    return len(a) == len(b) and all(shapely.hausdorff_distance(g, h) < 1e-7 for g, h in zip(a, b))


def distances_m(a: list, b: list) -> np.ndarray:
    """For every vertex of each shape in ``a``, metres to the nearest vertex of its pair in ``b`` (formats may
    start rings elsewhere or turn them clockwise)."""
    out = []
    for g, h in zip(a, b, strict=True):
        ca, cb = shapely.get_coordinates(g), shapely.get_coordinates(h)
        d = GEOD.inv(*np.broadcast_arrays(ca[:, None, 0], ca[:, None, 1], cb[None, :, 0], cb[None, :, 1]))[2]
        out.append(d.min(axis=1))
    return np.concatenate(out)


def test_the_wheels_gdal_has_every_driver_the_readers_use() -> None:
    assert drivers_missing() == []


# --- GeoJSON, GeoPackage ---------------------------------------------------------------------------------

def test_geojson_is_read_in_wgs84_with_default_chinese_fields(tmp_path: Path) -> None:
    path = write_layer(tmp_path / "网格.geojson", squares(), {"网格编码": CODES, "网格名称": NAMES,
                                                               "所属村（社区）": ["520111001201"] * 3},
                       driver="GeoJSON")
    t = read_source(path, "grids")
    assert (t.name, t.kind, t.crs, t.encoding, len(t)) == ("网格.geojson", "grids", "EPSG:4326", "UTF-8", 3)
    assert t.columns == {"code": CODES, "name": NAMES, "division": ["520111001201"] * 3}
    assert t.rows == [1, 2, 3]
    assert same(t.geometry, squares())
    import hashlib
    assert t.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert t.source_fields["division"] == "所属村（社区）"


def test_geojson_crs_member_is_honoured(tmp_path: Path) -> None:
    to_gk = Transformer.from_crs(4326, 4544, always_xy=True)
    projected = [shapely.transform(g, lambda c: np.column_stack(to_gk.transform(c[:, 0], c[:, 1]))) for g in squares()]
    path = write_layer(tmp_path / "grids.geojson", projected, {"code": CODES}, crs="EPSG:4544", driver="GeoJSON")
    assert "EPSG::4544" in path.read_text()
    t = read_source(path, "grids")
    assert t.crs == "EPSG:4544"
    assert distances_m(t.geometry, squares()).max() < 0.01


def test_geopackage_with_several_layers_names_them_and_reads_the_one_chosen(tmp_path: Path) -> None:
    path = tmp_path / "county.gpkg"
    write_layer(path, squares(), {"网格编码": CODES}, layer="综合网格", driver="GPKG")
    write_layer(path, squares(2), {"网格编码": CODES[:2]}, layer="党建网格", driver="GPKG", append=True)
    with pytest.raises(InvalidInput) as err:
        read_source(path, "grids")
    assert "综合网格" in err.value.detail and "党建网格" in err.value.detail and "layer=" in err.value.detail
    t = read_source(path, "grids", layer="党建网格")
    assert (t.layer, len(t), t.columns["code"]) == ("党建网格", 2, CODES[:2])
    with pytest.raises(InvalidInput, match="no layer '应急网格'"):
        read_source(path, "grids", layer="应急网格")


@pytest.mark.parametrize(("epsg", "prefix"), [(4523, True), (4544, False)])
def test_cgcs2000_3_degree_zone_lands_within_centimetres_of_the_wgs84_truth(tmp_path: Path, epsg: int,
                                                                              prefix: bool) -> None:
    truth = squares(3, x0=106.62, y0=26.38, size=0.004)
    to_gk = Transformer.from_crs(4326, epsg, always_xy=True)
    gk = [shapely.transform(g, lambda c: np.column_stack(to_gk.transform(c[:, 0], c[:, 1]))) for g in truth]
    # The central meridian (105°E) maps to the false easting: with the zone prefix 35 500 000, else 500 000.
    assert to_gk.transform(105.0, 26.4)[0] == pytest.approx(35_500_000 if prefix else 500_000, abs=1e-6)
    path = write_layer(tmp_path / "grids.gpkg", gk, {"网格编码": CODES}, crs=f"EPSG:{epsg}", driver="GPKG")
    t = read_source(path, "grids")
    assert t.crs == f"EPSG:{epsg}"
    assert distances_m(t.geometry, truth).max() < 0.02


def test_zone_prefix_missing_or_present_against_the_crs_is_refused_naming_the_right_code(tmp_path: Path) -> None:
    truth = squares()
    to_zone = Transformer.from_crs(4326, 4523, always_xy=True)
    zoned = [shapely.transform(g, lambda c: np.column_stack(to_zone.transform(c[:, 0], c[:, 1]))) for g in truth]
    path = write_layer(tmp_path / "zoned.gpkg", zoned, {"网格编码": CODES}, crs="EPSG:4523", driver="GPKG")
    with pytest.raises(InvalidInput) as err:
        read_source(path, "grids", crs="EPSG:4544")
    assert "zone prefix 35" in err.value.detail and "EPSG:4523" in err.value.detail
    to_cm = Transformer.from_crs(4326, 4544, always_xy=True)
    plain = [shapely.transform(g, lambda c: np.column_stack(to_cm.transform(c[:, 0], c[:, 1]))) for g in truth]
    path = write_layer(tmp_path / "plain.gpkg", plain, {"网格编码": CODES}, crs="EPSG:4523", driver="GPKG")
    with pytest.raises(InvalidInput) as err:
        read_source(path, "grids")
    assert "EPSG:4544" in err.value.detail


def test_a_projected_file_without_a_crs_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    to_gk = Transformer.from_crs(4326, 4544, always_xy=True)
    gk = [shapely.transform(g, lambda c: np.column_stack(to_gk.transform(c[:, 0], c[:, 1]))) for g in squares()]
    path = write_layer(tmp_path / "无坐标系.shp", gk, {"code": CODES}, crs="EPSG:4544", driver="ESRI Shapefile")
    path.with_suffix(".prj").unlink()
    with pytest.raises(InvalidInput) as err:
        read_source(path, "grids")
    assert "无坐标系.shp" in err.value.detail and "crs=" in err.value.detail
    t = read_source(path, "grids", crs="EPSG:4544")
    assert distances_m(t.geometry, squares()).max() < 0.02


def test_missing_crs_on_lonlat_data_assumes_wgs84_with_a_warning(tmp_path: Path) -> None:
    path = write_layer(tmp_path / "grids.shp", squares(), {"code": CODES}, driver="ESRI Shapefile")
    path.with_suffix(".prj").unlink()
    t = read_source(path, "grids")
    assert t.crs == "EPSG:4326"
    assert any("no coordinate system" in w and "gcj02" in w for w in t.warnings)


def test_an_unknown_crs_is_refused(tmp_path: Path) -> None:
    path = write_layer(tmp_path / "grids.shp", squares(), {"code": CODES}, driver="ESRI Shapefile")
    path.with_suffix(".prj").write_text('LOCAL_CS["工地坐标",UNIT["metre",1]]')
    with pytest.raises(InvalidInput, match="grids.shp"):
        read_source(path, "grids")
    with pytest.raises(InvalidInput, match="unknown CRS 'EPSG:99999'"):
        read_source(tmp_path / "grids.shp", "grids", crs="EPSG:99999")


# --- Shapefiles and encodings ----------------------------------------------------------------------------

def gbk_shapefile(directory: Path, stem: str = "村界") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = write_layer(directory / f"{stem}.shp", squares(), {"区划代码": ["520111001201", "520111001202",
                                                                       "520111001203"], "名称": NAMES},
                       driver="ESRI Shapefile", encoding="GBK")
    path.with_suffix(".cpg").unlink(missing_ok=True)  # as offices send them: GBK, no .cpg
    dbf = path.with_suffix(".dbf").read_bytes()
    assert "花溪村".encode("gbk") in dbf and "花溪村".encode() not in dbf
    return path


def test_gbk_shapefile_without_cpg_is_detected_and_read_correctly(tmp_path: Path) -> None:
    path = gbk_shapefile(tmp_path)
    t = read_source(path, "divisions")
    assert t.encoding == "GB18030"
    assert t.columns["name"] == NAMES and t.columns["code"][0] == "520111001201"
    assert t.source_fields == {"code": "区划代码", "name": "名称"}
    assert t.problems == []


def test_a_wrong_cpg_never_gives_mojibake_and_encoding_overrides_it(tmp_path: Path) -> None:
    path = gbk_shapefile(tmp_path)
    path.with_suffix(".cpg").write_text("UTF-8")
    t = read_source(path, "divisions")
    assert t.encoding == "UTF-8"
    assert t.columns["name"] == [None, None, None]  # left out, never decoded wrongly
    assert [(p.row, p.field, p.code) for p in t.problems] == [(i, "name", "undecodable") for i in (1, 2, 3)]
    assert any("encoding=GB18030" in w for w in t.warnings)
    fixed = read_source(path, "divisions", encoding="gbk")
    assert (fixed.encoding, fixed.columns["name"], fixed.problems) == ("GBK", NAMES, [])


def test_a_cpg_saying_gbk_on_utf8_text_is_an_error_not_mojibake(tmp_path: Path) -> None:
    path = write_layer(tmp_path / "utf8.shp", squares(), {"名称": NAMES}, driver="ESRI Shapefile", encoding="UTF-8")
    assert path.with_suffix(".cpg").read_text().strip().upper().replace("-", "") == "UTF8"
    assert read_source(path, "divisions").columns["name"] == NAMES
    path.with_suffix(".cpg").write_text("936")
    t = read_source(path, "divisions")
    assert [p.code for p in t.problems][0] == "encoding_mismatch" and not t.problems[0].row
    assert read_source(path, "divisions", encoding="utf-8").problems == []


def test_zipped_shapefile_with_gbk_member_names(tmp_path: Path) -> None:
    path = gbk_shapefile(tmp_path / "src")
    archive = tmp_path / "村界.zip"
    class GbkName(zipfile.ZipInfo):
        """Windows' zip writes names in the system code page (GBK) without the UTF-8 flag."""

        def _encodeFilenameFlags(self):  # noqa: N802 - zipfile's name
            return self.filename.encode("gbk"), self.flag_bits

    with zipfile.ZipFile(archive, "w") as z:
        for part in path.parent.iterdir():
            z.writestr(GbkName("数据/" + part.name), part.read_bytes())
    with zipfile.ZipFile(archive) as z:
        assert not any(i.flag_bits & 0x800 for i in z.infolist())
    t = read_source(archive, "divisions")
    assert (t.name, t.layer, t.columns["name"], t.encoding) == ("村界.zip", "村界", NAMES, "GB18030")


def test_zip_with_two_shapefiles_names_them(tmp_path: Path) -> None:
    a = gbk_shapefile(tmp_path / "a", "乡镇")
    b = gbk_shapefile(tmp_path / "b", "村")
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for part in [*a.parent.iterdir(), *b.parent.iterdir()]:
            z.write(part, part.name)
    with pytest.raises(InvalidInput) as err:
        read_source(archive, "divisions")
    assert "乡镇" in err.value.detail and "村" in err.value.detail
    assert read_source(archive, "divisions", layer="村").layer == "村"


def test_shapefile_uploaded_as_its_file_set(tmp_path: Path) -> None:
    path = gbk_shapefile(tmp_path / "src")
    upload = tmp_path / "upload"
    upload.mkdir()
    parts = []
    for i, part in enumerate(sorted(path.parent.iterdir())):  # each part in its own folder, as an upload may be
        (upload / str(i)).mkdir()
        parts.append((upload / str(i) / part.name))
        parts[-1].write_bytes(part.read_bytes())
    t = read_source(parts, "divisions")
    assert (t.name, t.columns["name"], len(t.geometry)) == ("村界.shp", NAMES, 3)
    with pytest.raises(InvalidInput, match="no .shp"):
        read_source([p for p in parts if p.suffix != ".shp"], "divisions")
    with pytest.raises(InvalidInput, match=r"\.dbf"):
        read_source([p for p in parts if p.suffix != ".dbf"], "divisions")


# --- KML, KMZ, GCJ-02 ------------------------------------------------------------------------------------

def gcj(points: list[shapely.Point]) -> list[shapely.Point]:
    """The same points in GCJ-02, by prcoords (an implementation independent of geo.spatial.crs)."""
    return [shapely.Point(*reversed(prcoords.wgs_gcj((p.y, p.x)))) for p in points]


def test_kml_declared_gcj02_is_converted_to_wgs84(tmp_path: Path) -> None:
    truth = [shapely.Point(106.65 + i * 0.01, 26.42) for i in range(3)]
    path = write_layer(tmp_path / "摄像头.kml", gcj(truth), {"name": ["东门", "西门", "南门"]}, driver="LIBKML")
    as_is = read_source(path, "cameras")
    assert as_is.crs == "EPSG:4326" and distances_m(as_is.geometry, truth).min() > 100  # GCJ's offset here
    t = read_source(path, "cameras", crs="gcj02")
    assert t.crs == "gcj02" and t.columns["name"] == ["东门", "西门", "南门"]
    assert distances_m(t.geometry, truth).max() < 0.5  # prcoords' own forward agrees to decimetres


def test_kmz_and_kml_folders_are_read_together(tmp_path: Path) -> None:
    placemark = ('<Placemark><name>{n}</name><ExtendedData><Data name="网格编码"><value>{c}</value></Data>'
                 '</ExtendedData><Polygon><outerBoundaryIs><LinearRing><coordinates>{r}</coordinates>'
                 '</LinearRing></outerBoundaryIs></Polygon></Placemark>')
    rings = [" ".join(f"{x},{y}" for x, y in g.exterior.coords) for g in squares()]
    folders = [(f"<Folder><name>{f}</name>" + "".join(placemark.format(n=NAMES[i], c=CODES[i], r=rings[i])
                                                      for i in idx) + "</Folder>")
               for f, idx in (("一片区", [0, 1]), ("二片区", [2]))]
    kml = ('<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
           + "".join(folders) + "</Document></kml>")
    kmz = tmp_path / "网格.kmz"
    with zipfile.ZipFile(kmz, "w") as z:
        z.writestr("doc.kml", kml)
    t = read_source(kmz, "grids")
    assert t.columns["code"] == CODES and t.columns["name"] == NAMES and t.rows == [1, 2, 3]
    assert same(t.geometry, squares())
    one = read_source(kmz, "grids", layer="二片区")
    assert one.columns["code"] == [CODES[2]] and one.layer == "二片区"


TERRITORY = shapely.box(106.55, 26.35, 106.75, 26.55)


def spread_points(n: int = 400) -> list[shapely.Point]:
    """Households over the whole territory, edges included (as a real county's are)."""
    rng = np.random.default_rng(3)
    return list(shapely.points(rng.uniform(106.551, 106.749, n), rng.uniform(26.351, 26.549, n)))


def test_gcj_warning_fires_on_shifted_data_with_the_offset_and_not_on_correct_data(tmp_path: Path) -> None:
    truth = spread_points()
    shifted = write_layer(tmp_path / "amap.geojson", gcj(truth), {"地址": ["花溪区"] * len(truth)}, driver="GeoJSON")
    t = read_source(shifted, "households", territory=TERRITORY)
    [warning] = [w for w in t.warnings if "GCJ-02" in w]
    expected = float(np.median(distances_m(gcj(truth), truth)))
    offset = float(warning.split("offset ≈ ")[1].split(" m")[0])
    assert abs(offset - expected) < 5 and 200 < offset < 800
    correct = write_layer(tmp_path / "gps.geojson", truth, {"地址": ["花溪区"] * len(truth)}, driver="GeoJSON")
    assert read_source(correct, "households", territory=TERRITORY).warnings == []
    converted = read_source(shifted, "households", crs="gcj02", territory=TERRITORY)
    assert converted.warnings == []
    wrongly = read_source(correct, "households", crs="gcj02", territory=TERRITORY)
    assert any("in WGS84" in w for w in wrongly.warnings)


def test_gcj_warning_on_divisions_that_tile_the_territory(tmp_path: Path) -> None:
    halves = [shapely.box(106.55, 26.35, 106.65, 26.55), shapely.box(106.65, 26.35, 106.75, 26.55)]
    to_gcj = [shapely.transform(shapely.segmentize(g, 0.002),
                                lambda c: np.array([list(reversed(prcoords.wgs_gcj((y, x)))) for x, y in c]))
              for g in halves]
    path = write_layer(tmp_path / "towns.gpkg", to_gcj, {"区划代码": ["520111001", "520111002"]}, driver="GPKG")
    assert any("GCJ-02" in w for w in read_source(path, "divisions", territory=TERRITORY).warnings)
    path = write_layer(tmp_path / "towns_ok.gpkg", halves, {"区划代码": ["520111001", "520111002"]}, driver="GPKG")
    assert read_source(path, "divisions", territory=TERRITORY).warnings == []


# --- CSV and XLSX ----------------------------------------------------------------------------------------

CSV_ROWS = [
    ("花溪区青岩镇北街1号", "106.70", "26.33", "13812345678"),
    ("", "", "", "13900001111"),  # row 3: no position, no address
    ("花溪区石板镇2号", "东经106", "26.4", ""),  # row 4: not a number
    ("花溪区3号", "206.7", "26.4", ""),  # row 5: off the globe
    ("花溪区党武镇4号", "", "", ""),  # row 6: address only: fine, the importer resolves it
    ("花溪区5号", "106.65", "", ""),  # row 7: half a position
]


def write_csv(path: Path, header: str, encoding: str, rows=CSV_ROWS, sep: str = ",") -> Path:
    body = header + "\n" + "\n".join(sep.join(r) for r in rows) + "\n"
    path.write_bytes(body.encode(encoding))
    return path


@pytest.mark.parametrize(("encoding", "label"), [("utf-8-sig", "UTF-8-SIG"), ("utf-8", "UTF-8"),
                                                 ("gbk", "GB18030")])
def test_csv_encodings_and_row_problems_with_spreadsheet_row_numbers(tmp_path: Path, encoding: str,
                                                                     label: str) -> None:
    path = write_csv(tmp_path / "户.csv", "地址,经度,纬度,联系电话", encoding)
    t = read_source(path, "households")
    assert t.encoding == label and t.rows == [2, 3, 4, 5, 6, 7]
    assert t.columns["address"][0] == "花溪区青岩镇北街1号" and t.columns["address"][1] is None
    assert t.geometry[0].equals(shapely.Point(106.70, 26.33)) and t.geometry[4] is None
    assert sorted((p.row, p.code) for p in t.problems) == [(3, "missing_coordinates"), (4, "not_a_number"),
                                                           (5, "coordinates_out_of_range"),
                                                           (7, "missing_coordinates")]
    assert t.source_fields["lon"] == "经度" and any("WGS84" in w for w in t.warnings)
    for p in t.problems:  # never a personal value, nor the cell's text
        assert "138" not in p.message and "139" not in p.message and "东经106" not in p.message
    lon, lat = t.lonlat
    assert lon[0] == 106.70 and np.isnan(lon[1])


@pytest.mark.parametrize("header", ["address,lon,lat,phone", "地址,x,y,电话", "住址,东经,北纬,手机", "地址,LNG,LAT,tel"])
def test_csv_coordinate_column_spellings(tmp_path: Path, header: str) -> None:
    t = read_source(write_csv(tmp_path / "h.csv", header, "utf-8", CSV_ROWS[:1]), "households")
    assert t.geometry[0].equals(shapely.Point(106.70, 26.33)) and t.columns["address"] == [CSV_ROWS[0][0]]


def test_csv_semicolons_swapped_columns_and_address_only(tmp_path: Path) -> None:
    t = read_source(write_csv(tmp_path / "s.csv", "地址;纬度;经度", "utf-8", [("a", "106.7", "26.3")], sep=";"),
                    "households")
    assert t.geometry[0].equals(shapely.Point(106.7, 26.3)) and any("swapped" in w for w in t.warnings)
    only = read_source(write_csv(tmp_path / "a.csv", "户号,地址", "gbk", [("H1", "花溪区1号"), ("H2", "花溪区2号")]),
                       "households")
    assert only.geometry == [None, None] and only.columns == {"external_id": ["H1", "H2"],
                                                              "address": ["花溪区1号", "花溪区2号"]}
    assert only.problems == [] and only.encoding == "GB18030"


def test_csv_gcj02_declared_and_projected_without_crs(tmp_path: Path) -> None:
    truth = [shapely.Point(106.66, 26.41), shapely.Point(106.67, 26.44)]
    rows = [(f"{p.x:.8f}", f"{p.y:.8f}") for p in gcj(truth)]
    t = read_source(write_csv(tmp_path / "g.csv", "lng,lat", "utf-8", rows), "cameras", crs="gcj02")
    assert t.crs == "gcj02" and distances_m(t.geometry, truth).max() < 0.5
    to_gk = Transformer.from_crs(4326, 4523, always_xy=True)
    xy = [to_gk.transform(p.x, p.y) for p in truth]
    path = write_csv(tmp_path / "gk.csv", "x,y", "utf-8", [(f"{x:.3f}", f"{y:.3f}") for x, y in xy])
    with pytest.raises(InvalidInput, match="gk.csv.*projected"):
        read_source(path, "cameras")
    t = read_source(path, "cameras", crs="EPSG:4523")
    assert distances_m(t.geometry, truth).max() < 0.01
    survey = write_csv(tmp_path / "survey.csv", "X坐标,Y坐标", "utf-8", [(f"{y:.3f}", f"{x:.3f}") for x, y in xy])
    t = read_source(survey, "cameras", crs="EPSG:4523")  # X = northing, as surveyors write it
    assert distances_m(t.geometry, truth).max() < 0.01 and any("northings" in w for w in t.warnings)


def test_csv_declared_utf8_with_gbk_bytes_gives_problems_not_mojibake(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "g.csv", "地址,lon,lat", "gbk", [("花溪区1号", "106.7", "26.3")])
    t = read_source(path, "households", encoding="utf-8")
    assert t.columns["address"] == [None] and [p.code for p in t.problems] == ["undecodable"]


def test_xlsx_sheets_rows_and_numbers(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "摄像头"
    sheet.append(["花溪区摄像头台账"])  # a title row above the header, as offices make them
    sheet.append(["摄像头编号", "名称", "经度", "纬度", "朝向", "视角", "可视距离"])
    sheet.append(["52011100001320000001", "东门", 106.7, 26.4, 90, 60.5, 80])
    sheet.append([None] * 7)  # an empty row 4: skipped, numbering kept
    sheet.append(["52011100001320000002", "西门", "106.71", "26.41", 270, 60, 100])
    sheet.append(["52011100001320000003", "南门", "abc", 26.41, 0, 60, 100])
    path = tmp_path / "设备.xlsx"
    book.save(path)
    t = read_source(path, "cameras")
    assert t.rows == [3, 5, 6] and t.layer == "摄像头" and t.encoding is None
    assert t.columns["code"][0] == "52011100001320000001" and t.columns["bearing"] == [90, 270, 0]
    assert t.columns["fov"] == [60.5, 60, 60] and t.columns["range_m"] == [80, 100, 100]
    assert t.geometry[1].equals(shapely.Point(106.71, 26.41)) and t.geometry[2] is None
    assert [(p.row, p.code) for p in t.problems] == [(6, "not_a_number")]
    book.create_sheet("说明").append(["本表由某某填写"])
    book.save(path)
    with pytest.raises(InvalidInput) as err:
        read_source(path, "cameras")
    assert "摄像头" in err.value.detail and "说明" in err.value.detail
    assert len(read_source(path, "cameras", layer="摄像头")) == 3


def test_xlsx_residents_have_no_geometry_and_personal_values_stay_in_cells(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.append(["姓名", "公民身份号码", "联系电话", "户编号"])
    book.active.append(["张三", "52011119900101123X", 13812345678, "H1"])
    path = tmp_path / "居民.xlsx"
    book.save(path)
    t = read_source(path, "residents")
    assert t.geometry is None and t.columns == {"name": ["张三"], "id_number": ["52011119900101123X"],
                                                "phone": [13812345678], "household": ["H1"]}


# --- field maps ------------------------------------------------------------------------------------------

def test_parse_map() -> None:
    assert parse_map("name=网格名称,code=网格编码") == {"name": "网格名称", "code": "网格编码"}
    assert parse_map(" name = 网格名称 ，code=编码；") == {"name": "网格名称", "code": "编码"}
    with pytest.raises(InvalidInput, match="not field=column"):
        parse_map("name")
    with pytest.raises(InvalidInput, match="mapped twice"):
        parse_map("name=a,name=b")


def test_field_map_overrides_defaults_and_names_the_files_fields_when_wrong(tmp_path: Path) -> None:
    path = write_layer(tmp_path / "g.gpkg", squares(), {"WGBH": CODES, "WGMC2": NAMES, "网格名称": ["x"] * 3},
                       driver="GPKG")
    t = read_source(path, "grids", mapping="code=WGBH,name=WGMC2")
    assert t.columns["code"] == CODES and t.columns["name"] == NAMES
    assert read_source(path, "grids", field_map={"code": "wgbh"}).columns["name"] == ["x"] * 3
    with pytest.raises(InvalidInput) as err:
        read_source(path, "grids", mapping="code=网格代码")
    assert "网格代码" in err.value.detail and "WGBH" in err.value.detail and "WGMC2" in err.value.detail
    with pytest.raises(InvalidInput, match="no field 'colour'"):
        read_source(path, "grids", mapping="colour=WGBH")


def test_field_map_names_coordinate_columns_of_a_spreadsheet(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", "门牌地址,E,N", "utf-8", [("花溪区1号", "106.7", "26.3")])
    t = read_source(path, "households", mapping="address=门牌地址,lon=E,lat=N")
    assert t.geometry[0].equals(shapely.Point(106.7, 26.3)) and t.columns["address"] == ["花溪区1号"]
    with pytest.raises(InvalidInput, match="no field 'Q'"):
        read_source(path, "households", mapping="lon=Q,lat=N")


def test_unreadable_and_unknown_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "x.dwg").write_bytes(b"AC1032")
    with pytest.raises(InvalidInput, match="cannot read .dwg"):
        read_source(tmp_path / "x.dwg", "grids")
    (tmp_path / "bad.gpkg").write_bytes(b"not a geopackage")
    with pytest.raises(InvalidInput, match="bad.gpkg"):
        read_source(tmp_path / "bad.gpkg", "grids")
    with pytest.raises(InvalidInput, match="unknown kind"):
        read_source(tmp_path / "bad.gpkg", "trees")
    assert pyogrio.__gdal_version__ >= (3, 6, 0)


def test_cgcs2000_geographic_and_bd09(tmp_path: Path) -> None:
    path = write_layer(tmp_path / "c.gpkg", squares(), {"网格编码": CODES}, crs="EPSG:4490", driver="GPKG")
    t = read_source(path, "grids")
    assert t.crs == "EPSG:4490" and same(t.geometry, squares())  # CGCS2000 is WGS84 to centimetres
    truth = [shapely.Point(106.66, 26.41)]
    baidu = [shapely.Point(*reversed(prcoords.wgs_bd((p.y, p.x)))) for p in truth]
    path = write_csv(tmp_path / "b.csv", "lng,lat", "utf-8", [(f"{p.x:.8f}", f"{p.y:.8f}") for p in baidu])
    t = read_source(path, "cameras", crs="bd09")
    assert t.crs == "bd09" and distances_m(t.geometry, truth).max() < 1.0


def test_vector_rows_off_the_globe_are_row_problems(tmp_path: Path) -> None:
    path = tmp_path / "p.geojson"
    path.write_text('{"type": "FeatureCollection", "features": ['
                    '{"type": "Feature", "properties": {"摄像头编号": "C1"}, "geometry": {"type": "Point", '
                    '"coordinates": [106.7, 26.4]}},'
                    '{"type": "Feature", "properties": {"摄像头编号": "C2"}, "geometry": {"type": "Point", '
                    '"coordinates": [206.7, 26.4]}},'
                    '{"type": "Feature", "properties": {"摄像头编号": "C3"}, "geometry": null}]}', encoding="utf-8")
    t = read_source(path, "cameras")
    assert t.columns["code"] == ["C1", "C2", "C3"] and t.geometry[1] is None and t.geometry[2] is None
    assert [(p.row, p.field, p.code) for p in t.problems] == [(2, "geometry", "coordinates_out_of_range")]


def test_a_header_only_csv_in_a_wrong_encoding_is_read_not_crashed(tmp_path: Path) -> None:
    """A one-line file whose header does not decode in the encoding given (UTF-16 here) once raised
    IndexError (an "unexpected error" job); it is a file with no rows, read as such."""
    path = tmp_path / "cameras.csv"
    path.write_bytes(b"lon,lat")
    table = read_source(path, "cameras", encoding="utf-16")
    assert len(table) == 0


def test_a_header_alone_without_a_line_end_is_a_file_with_no_rows(tmp_path: Path) -> None:
    """Once 'not a readable CSV: Could not skip initial 1 rows ... file is too short'."""
    path = tmp_path / "households.csv"
    path.write_bytes("地址,经度,纬度".encode())
    assert len(read_source(path, "households")) == 0


def test_a_codec_that_is_not_a_text_encoding_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "cameras.csv"
    path.write_bytes(b"code,lon,lat\n1,106.6,26.4\n")
    with pytest.raises(InvalidInput, match="rot13"):
        read_source(path, "cameras", encoding="rot13")


def _zip_with_a_lying_size(path: Path) -> Path:
    """A zipped Shapefile whose .shp header claims 1,000 bytes for 100,000 (a zip bomb's trick, or damage)."""
    import struct

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.shp", b"\0" * 100_000)
        zf.writestr("a.shx", b"\0" * 100)
        zf.writestr("a.dbf", b"\0" * 100)
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, 22, 1000)  # the local header's uncompressed size
    struct.pack_into("<I", raw, raw.find(b"PK\x01\x02") + 24, 1000)  # the central directory's
    path.write_bytes(bytes(raw))
    return path


def test_a_zip_whose_sizes_lie_is_a_damaged_file_not_a_crash(tmp_path: Path) -> None:
    """Once BadZipFile (Bad CRC-32) escaped the reader: an 'unexpected error' job and a traceback."""
    with pytest.raises(InvalidInput, match="damaged zip"):
        read_source(_zip_with_a_lying_size(tmp_path / "lie.zip"), "grids")


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """80 MB of zeros pack into ~80 kB: unpacking such uploads would fill the server's disk."""
    import tempfile

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("a.shp", "w") as member:
            for _ in range(80):
                member.write(b"\0" * (1 << 20))
        zf.writestr("a.shx", b"\0" * 100)
        zf.writestr("a.dbf", b"\0" * 100)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(InvalidInput, match="zip bomb") as err:
        read_source(bomb, "grids")
    assert err.value.pointer == "file" and "bomb.zip" in err.value.detail
    assert [p for p in scratch.rglob("*") if p.is_file()] == []  # nothing was written


def test_gdal_errors_name_the_file_not_the_servers_temporary_directory(tmp_path: Path) -> None:
    path = tmp_path / "grids.gpkg"
    path.write_bytes(b"not a GeoPackage at all")
    with pytest.raises(InvalidInput) as err:
        read_source(path, "grids")
    assert "grids.gpkg" in err.value.detail and str(tmp_path) not in err.value.detail
    with zipfile.ZipFile(tmp_path / "g.zip", "w") as zf:
        for suffix in (".shp", ".shx", ".dbf"):
            zf.writestr("g" + suffix, b"\0" * 100)
    with pytest.raises(InvalidInput) as err:
        read_source(tmp_path / "g.zip", "grids")
    assert "gridmap-shp-" not in err.value.detail and "/tmp" not in err.value.detail, err.value.detail


@pytest.mark.parametrize("crs", [None, "EPSG:4547"])
def test_absurd_coordinates_are_refused_in_a_short_message(tmp_path: Path, crs: str | None) -> None:
    """x = 1e308 once gave a message with a 309-digit number (and a 'zone prefix' of as many digits)."""
    path = tmp_path / "cameras.csv"
    path.write_bytes(b"code,x,y\nC1,1e308,1e308\nC2,1e308,1e308\n")
    with pytest.raises(InvalidInput) as err:
        read_source(path, "cameras", crs=crs)
    import re

    assert len(err.value.detail) < 400 and not re.search(r"\d{20}", err.value.detail), err.value.detail
