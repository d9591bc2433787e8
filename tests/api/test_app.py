"""The map page, static assets, OpenAPI and health."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def test_map_page_uses_only_local_assets(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    for src in re.findall(r'(?:src|href)="([^"]+)"', r.text):
        assert not src.startswith(("http://", "https://", "//")), src
        if src.startswith("/static/"):
            assert client.get(src).status_code == 200, src
    assert "comprehensive" in r.text and len(r.text) < 50_000


def test_openapi_lists_every_resource(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in ["/locate", "/layers", "/divisions", "/grids", "/grids/{grid_id}", "/households", "/cameras",
              "/events", "/staff", "/tiles/{source}/{layer}/{z}/{x}/{y}.mvt"]:
        assert p in paths
    assert client.get("/docs").status_code == 200


def test_health(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/health/db").json() == {"status": "ok"}


def test_vector_tile_has_the_grids_of_its_area(client: TestClient) -> None:
    # z=10 tile over Huaxi's centre (106.66E, 26.38N).
    r = client.get("/tiles/grids/comprehensive/10/815/434.mvt")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert len(r.content) > 1000
    tj = client.get("/tiles/grids/comprehensive.json").json()
    assert tj["tilejson"] == "3.0.0" and tj["tiles"][0].endswith("/tiles/grids/comprehensive/{z}/{x}/{y}.mvt")
