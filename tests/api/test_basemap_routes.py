"""GET /basemap/{z}/{x}/{y} and /basemap.json from tile files made in the test, and the page's basemap config.

The basemap needs no session (``<img>`` tiles carry no bearer token) and is the same for every caller,
so its answers are public and cacheable; see api/routes/basemap.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from basemap_files import gzipped, png, vector_metadata, write_mbtiles, write_pmtiles
from fastapi.testclient import TestClient
from pmtiles.tile import Compression, TileType

from geo.settings import BasemapSettings, DatabaseSettings

NW, SW, NE = png((200, 30, 30)), png((30, 160, 30)), png((30, 30, 200))


def _client(db_settings: DatabaseSettings, **basemap: object) -> TestClient:
    from api.main import create_app

    return TestClient(create_app(db_settings, basemap_settings=BasemapSettings(**basemap)),
                      raise_server_exceptions=False)


@pytest.fixture(scope="module")
def mbtiles_client(db_settings: DatabaseSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # Zoom 1 in TMS rows: row 1 is the northern half.
    path = write_mbtiles(tmp_path_factory.mktemp("mb") / "county.mbtiles", {},
                         tms_rows={(1, 0, 1): NW, (1, 0, 0): SW, (1, 1, 1): NE},
                         metadata={"minzoom": "1", "maxzoom": "1", "attribution": "© 县测绘", "name": "county"})
    with _client(db_settings, basemap_file=path) as c:
        yield c


def test_mbtiles_tiles_in_xyz_order(mbtiles_client: TestClient) -> None:
    for (x, y), body in {(0, 0): NW, (0, 1): SW, (1, 0): NE}.items():
        r = mbtiles_client.get(f"/basemap/1/{x}/{y}")
        assert r.status_code == 200 and r.content == body
        assert r.headers["content-type"] == "image/png"


def test_tiles_are_public_and_revalidated(mbtiles_client: TestClient) -> None:
    r = mbtiles_client.get("/basemap/1/0/0")
    assert r.headers["cache-control"].startswith("public")
    etag = r.headers["etag"]
    again = mbtiles_client.get("/basemap/1/0/0", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert mbtiles_client.get("/basemap/1/0/1").headers["etag"] != etag


def test_missing_tile_inside_the_range_is_204_and_outside_is_404(mbtiles_client: TestClient) -> None:
    assert mbtiles_client.get("/basemap/1/1/1").status_code == 204  # zoom 1 is served; the file has no tile here
    for path in ("/basemap/0/0/0", "/basemap/2/0/0", "/basemap/1/2/0", "/basemap/1/0/-1", "/basemap/40/0/0"):
        r = mbtiles_client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "application/problem+json"
        assert "outside the basemap" in r.json()["detail"] and "1..1" in r.json()["detail"]
    assert mbtiles_client.get("/basemap/1/x/0").status_code == 422


def test_one_url_per_tile(mbtiles_client: TestClient) -> None:
    """Numbers int() reads but that are not the tile's own spelling are refused: a public cache would keep
    each as another copy of the tile."""
    for path in ("/basemap/1/+0/0", "/basemap/1/%200/0", "/basemap/1/0_0/0", "/basemap/01/0/0", "/basemap/1/0/-0",
                 "/basemap/1/00/0"):
        r = mbtiles_client.get(path)
        assert r.status_code == 422, (path, r.status_code)
        assert r.headers["content-type"] == "application/problem+json" and "plain decimal" in r.json()["detail"]
    assert mbtiles_client.get("/basemap/1/0/0").status_code == 200


def test_tilejson(mbtiles_client: TestClient) -> None:
    doc = mbtiles_client.get("/basemap.json").json()
    assert doc["tilejson"] == "3.0.0" and doc["tiles"] == ["http://testserver/basemap/{z}/{x}/{y}"]
    assert (doc["minzoom"], doc["maxzoom"], doc["format"], doc["attribution"]) == (1, 1, "png", "© 县测绘")


def test_pmtiles_gzipped_vector_tiles(db_settings: DatabaseSettings, tmp_path: Path) -> None:
    mvt = b"\x1a\x0c\x0a\x05water\x28\x80\x20\x78\x02" * 200  # > 1 KB, so the gzip middleware would act on it
    path = write_pmtiles(tmp_path / "v.pmtiles", {(14, 13040, 6960): gzipped(mvt)}, tile_type=TileType.MVT,
                         compression=Compression.GZIP, metadata={"vector_layers": [{"id": "water"}]})
    with _client(db_settings, basemap_file=path) as c:
        r = c.get("/basemap/14/13040/6960", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        assert r.headers["content-encoding"] == "gzip" and r.content == mvt  # httpx decodes it once
        plain = c.get("/basemap/14/13040/6960", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.content == mvt
        assert c.get("/basemap/14/13040/6961").status_code == 204


def test_mbtiles_webp_and_jpeg_content_types(db_settings: DatabaseSettings, tmp_path: Path) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 64
    path = write_mbtiles(tmp_path / "j.mbtiles", {(3, 1, 2): jpeg}, fmt="jpg")
    with _client(db_settings, basemap_file=path) as c:
        r = c.get("/basemap/3/1/2")
        assert r.headers["content-type"] == "image/jpeg" and r.content == jpeg


def test_without_a_basemap_file_the_routes_say_so(db_settings: DatabaseSettings) -> None:
    with _client(db_settings) as c:
        r = c.get("/basemap/1/0/0")
        assert r.status_code == 404 and "GRIDMAP_BASEMAP_FILE" in r.json()["detail"]
        assert c.get("/basemap.json").status_code == 404


def _page_config(html: str) -> dict:
    found = re.search(r"window\.gridmapBoot = \{ map: map_[0-9a-f]+, config: (\{.*?\}) \};", html)
    assert found, "no page config in the map page"
    return json.loads(found.group(1))


def test_the_map_page_carries_the_basemap_config(db_settings: DatabaseSettings, session, tmp_path: Path) -> None:  # noqa: ANN001
    from api.deps import get_session

    path = write_mbtiles(tmp_path / "p.mbtiles", {(12, 3000, 1700): gzipped(b"\x1a\x00")}, fmt="pbf",
                         metadata={"json": vector_metadata(["water", "roads"]), "minzoom": "8", "maxzoom": "14"})
    with _client(db_settings, basemap_file=path, basemap_datum="gcj02") as c:
        c.app.dependency_overrides[get_session] = lambda: (yield session)
        config = _page_config(c.get("/").text)["basemap"]
    assert config["kind"] == "vector" and config["url"] == "/basemap/{z}/{x}/{y}" and config["datum"] == "gcj02"
    assert (config["minzoom"], config["maxzoom"]) == (8, 14)
    assert [v["id"] for v in config["vector_layers"]] == ["water", "roads"]


def test_the_map_page_without_a_basemap(db_settings: DatabaseSettings, session) -> None:  # noqa: ANN001
    from api.deps import get_session

    with _client(db_settings) as c:
        c.app.dependency_overrides[get_session] = lambda: (yield session)
        assert _page_config(c.get("/").text)["basemap"] is None


def test_a_url_basemap_opens_the_pages_policy_to_its_tile_hosts_only(db_settings: DatabaseSettings, session) -> None:  # noqa: ANN001
    from api.deps import get_session

    with _client(db_settings, basemap_url="http://{s}.tdt.intranet:8080/vec_w/wmts?TILEMATRIX={TileMatrix}"
                 "&TILEROW={TileRow}&TILECOL={TileCol}", basemap_subdomains="t0,t1", basemap_datum="cgcs2000") as c:
        c.app.dependency_overrides[get_session] = lambda: (yield session)
        r = c.get("/")
    policy = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert policy["img-src"].split() == ["'self'", "data:", "blob:", "http://t0.tdt.intranet:8080",
                                         "http://t1.tdt.intranet:8080"]
    assert policy["connect-src"] == "'self'" and policy["default-src"] == "'self'"
    config = _page_config(r.text)["basemap"]
    assert config["kind"] == "url" and "TILEMATRIX={z}&TILEROW={y}&TILECOL={x}" in config["url"]
