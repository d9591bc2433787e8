"""The basemap file readers (tiles/basemap): MBTiles' TMS rows, PMTiles via the reference package,
metadata from the files themselves, and clear errors for files that cannot be served. No database."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from basemap_files import gzipped, png, vector_metadata, write_mbtiles, write_pmtiles
from pmtiles.tile import Compression, TileType
from pydantic import ValidationError

from geo.settings import BasemapSettings
from tiles.basemap import BasemapError, open_basemap

RED, GREEN, BLUE = (200, 30, 30), (30, 160, 30), (30, 30, 200)


def test_mbtiles_rows_are_tms_flipped(tmp_path: Path) -> None:
    # At zoom 1 the XYZ tile (x 0, y 0) is the north-west one; MBTiles stores it as TMS row 1.
    north_west, south_west = png(RED), png(GREEN)
    path = write_mbtiles(tmp_path / "a.mbtiles", {}, tms_rows={(1, 0, 1): north_west, (1, 0, 0): south_west})
    basemap = open_basemap(BasemapSettings(basemap_file=path))
    assert basemap.file.tile(1, 0, 0).data == north_west
    assert basemap.file.tile(1, 0, 1).data == south_west
    assert basemap.file.tile(1, 1, 0) is None


def test_mbtiles_metadata_comes_from_the_file(tmp_path: Path) -> None:
    path = write_mbtiles(tmp_path / "v.mbtiles", {(12, 3000, 1700): gzipped(b"\x1a\x00")}, fmt="pbf", metadata={
        "name": "Huaxi streets", "minzoom": "10", "maxzoom": "14", "bounds": "106.5,26.2,106.8,26.6",
        "attribution": "© county survey office", "json": vector_metadata(["water", "roads"])})
    info = open_basemap(BasemapSettings(basemap_file=path)).file.info
    assert (info.kind, info.format, info.minzoom, info.maxzoom) == ("vector", "pbf", 10, 14)
    assert info.bounds == (106.5, 26.2, 106.8, 26.6)
    assert info.attribution == "© county survey office"
    assert [v["id"] for v in info.vector_layers] == ["water", "roads"]
    assert open_basemap(BasemapSettings(basemap_file=path)).file.tile(12, 3000, 1700).gzipped


def test_mbtiles_without_format_or_zooms_is_read_from_its_tiles(tmp_path: Path) -> None:
    path = write_mbtiles(tmp_path / "bare.mbtiles", {(5, 1, 2): png(BLUE), (7, 3, 4): png(RED)}, fmt=None)
    info = open_basemap(BasemapSettings(basemap_file=path)).file.info
    assert (info.format, info.minzoom, info.maxzoom, info.kind) == ("png", 5, 7, "raster")


def test_pmtiles_raster(tmp_path: Path) -> None:
    tiles = {(0, 0, 0): png(RED), (1, 0, 0): png(GREEN), (1, 1, 1): png(BLUE)}
    path = write_pmtiles(tmp_path / "r.pmtiles", tiles, metadata={"attribution": "© 测试", "name": "r"},
                         bounds=(106.5, 26.2, 106.8, 26.6))
    basemap = open_basemap(BasemapSettings(basemap_file=path))
    info = basemap.file.info
    assert (info.format, info.kind, info.minzoom, info.maxzoom) == ("png", "raster", 0, 1)
    assert info.attribution == "© 测试" and info.bounds == pytest.approx((106.5, 26.2, 106.8, 26.6))
    for (z, x, y), data in tiles.items():
        assert basemap.file.tile(z, x, y).data == data
    assert basemap.file.tile(1, 1, 0) is None


def test_pmtiles_with_leaf_directories_reads_as_the_reference_reader(tmp_path: Path) -> None:
    from pmtiles.reader import MmapSource, Reader

    # Scattered tiles of scattered sizes, enough that the root directory overflows into leaves.
    rng = random.Random(14)
    tiles = {(16, rng.randrange(52000, 54000), rng.randrange(27000, 29000)): rng.randbytes(rng.randrange(5, 60))
             for _ in range(30_000)}
    tiles[(3, 6, 3)] = b"low"
    path = write_pmtiles(tmp_path / "big.pmtiles", tiles, tile_type=TileType.MVT)
    with path.open("rb") as f:
        reference = Reader(MmapSource(f))
        assert reference.header()["leaf_directory_length"] > 0  # the case worth testing
        ours = open_basemap(BasemapSettings(basemap_file=path)).file
        for key in list(tiles)[::400] + [(16, 51999, 27000), (16, 54000, 28999), (3, 6, 3), (14, 0, 0)]:
            want = reference.get(*key)
            got = ours.tile(*key)
            assert (got.data if got else None) == (bytes(want) if want else None), key
            if key in tiles:
                assert got.data == tiles[key]


def test_pmtiles_gzipped_vector(tmp_path: Path) -> None:
    tile = gzipped(b"\x1a\x05water")
    path = write_pmtiles(tmp_path / "v.pmtiles", {(3, 6, 3): tile}, tile_type=TileType.MVT,
                         compression=Compression.GZIP, metadata={"vector_layers": [{"id": "water", "fields": {}}]})
    basemap = open_basemap(BasemapSettings(basemap_file=path))
    assert basemap.file.info.format == "pbf" and basemap.file.info.vector_layers[0]["id"] == "water"
    got = basemap.file.tile(3, 6, 3)
    assert got.data == tile and got.gzipped


def test_settings_cap_the_files_zooms_and_name_the_attribution(tmp_path: Path) -> None:
    path = write_mbtiles(tmp_path / "z.mbtiles", {(z, 0, 0): png(RED) for z in range(3, 9)})
    basemap = open_basemap(BasemapSettings(basemap_file=path, basemap_min_zoom=0, basemap_max_zoom=6,
                                           basemap_attribution="© 县自然资源局"))
    assert (basemap.minzoom, basemap.maxzoom) == (3, 6)  # narrowed, never widened
    assert basemap.serves(6, 0, 0) and not basemap.serves(7, 0, 0) and not basemap.serves(2, 0, 0)
    assert not basemap.serves(3, 8, 0)  # x beyond 2**3
    config = basemap.page_config()
    assert config["kind"] == "raster" and config["url"] == "/basemap/{z}/{x}/{y}"
    assert config["attribution"] == "© 县自然资源局" and config["datum"] == "wgs84"


def test_a_missing_file_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=str(tmp_path / "nope.pmtiles")):
        BasemapSettings(basemap_file=tmp_path / "nope.pmtiles")


def test_a_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.mbtiles").write_bytes(png(RED))
    with pytest.raises(ValidationError, match="neither an MBTiles"):
        BasemapSettings(basemap_file=tmp_path / "x.mbtiles")


def test_an_sqlite_file_that_is_not_mbtiles_is_refused_with_its_path(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "other.mbtiles"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (a)")
    with pytest.raises(BasemapError, match=f"{path}.*metadata and tiles"):
        open_basemap(BasemapSettings(basemap_file=path))


def test_a_truncated_pmtiles_file_is_refused_with_its_path(tmp_path: Path) -> None:
    good = write_pmtiles(tmp_path / "g.pmtiles", {(0, 0, 0): png(RED)}, metadata={"name": "g"})
    bad = tmp_path / "bad.pmtiles"
    bad.write_bytes(good.read_bytes()[:140])
    with pytest.raises(BasemapError, match=str(bad)):
        open_basemap(BasemapSettings(basemap_file=bad))


@pytest.mark.parametrize("url, pieces", [
    ("http://tdt.intranet/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=vec&TILEMATRIXSET=w"
     "&TILEMATRIX={TileMatrix}&TILEROW={TileRow}&TILECOL={TileCol}&FORMAT=tiles",
     ("TILEMATRIX={z}", "TILEROW={y}", "TILECOL={x}")),
    ("http://{s}.tiles.intranet/img/{TileMatrix}/{TileRow}/{TileCol}.png", ("{s}", "/{z}/{y}/{x}.png")),
    ("https://tiles.intranet/{z}/{x}/{y}.png", ("/{z}/{x}/{y}.png",)),
    ("https://tms.intranet/{z}/{x}/{-y}.png", ("/{z}/{x}/{-y}.png",)),
])
def test_url_templates_are_given_in_leaflets_placeholders(url: str, pieces: tuple[str, ...]) -> None:
    settings = BasemapSettings(basemap_url=url, basemap_subdomains="t0,t1,t2", basemap_datum="CGCS2000")
    config = open_basemap(settings).page_config()
    assert config["kind"] == "url" and config["datum"] == "cgcs2000"
    assert all(p in config["url"] for p in pieces), config["url"]
    assert "{Tile" not in config["url"]
    assert config["subdomains"] == ["t0", "t1", "t2"]


@pytest.mark.parametrize("values, message", [
    ({"basemap_url": "http://x/{z}/{x}.png"}, "placeholders"),
    ({"basemap_url": "ftp://x/{z}/{x}/{y}.png"}, "http"),
    ({"basemap_url": "http://{s}.x/{z}/{x}/{y}.png"}, "SUBDOMAINS"),
    ({"basemap_datum": "bd09"}, "wgs84, cgcs2000, gcj02"),
    ({"basemap_url": "http://x/{z}/{x}/{y}.png", "basemap_min_zoom": 9, "basemap_max_zoom": 3}, "above"),
])
def test_bad_settings_say_what_is_wrong(values: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BasemapSettings(**values)


def test_no_basemap_configured() -> None:
    basemap = open_basemap(BasemapSettings())
    assert basemap.page_config() is None and basemap.tilejson("http://h") is None and not basemap.configured
