"""Bad input is a 4xx RFC 9457 problem naming what is wrong; never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

BAD = [
    ("/locate?lon=nan&lat=26.4", 422, "lon"),
    ("/locate?lon=106.6&lat=inf", 422, "lat"),
    ("/locate?lon=106.6&lat=91", 422, "lat"),
    ("/locate?lon=181&lat=26", 422, "lon"),
    ("/locate?lon=abc&lat=26", 422, "lon"),
    ("/locate?lat=26", 422, "lon"),
    ("/locate?lon=106.6&lat=26.4&crs=epsg3857", 422, "crs"),
    ("/households?bbox=106.7,26.3,106.6,26.4", 422, "bbox"),
    ("/households?bbox=1,2,3", 422, "bbox"),
    ("/households?bbox=a,b,c,d", 422, "bbox"),
    ("/households?bbox=0,0,200,1", 422, "bbox"),
    ("/households?bbox=nan,0,1,1", 422, "bbox"),
    ("/households?limit=10000000", 422, "limit"),
    ("/households?limit=0", 422, "limit"),
    ("/households?after=-1", 422, "after"),
    ("/households?after=99999999999999999999999", 422, "after"),
    ("/grids?division=12", 422, "division"),
    ("/events?status=lost", 422, "status"),
    ("/staff?role=king", 422, "role"),
    ("/divisions?level=planet", 422, "level"),
    ("/grids/abc", 422, "grid_id"),
    ("/grids/0", 422, "grid_id"),
    ("/grids/99999999999999999999", 422, "grid_id"),
    ("/layers/nope", 404, "nope"),
    ("/tiles/grids/comprehensive/30/0/0.mvt", 422, "zoom"),
    ("/tiles/grids/comprehensive/2/9/0.mvt", 422, "2/9/0"),
    ("/nowhere", 404, "/nowhere"),
]


@pytest.mark.parametrize(("url", "status", "mentions"), BAD)
def test_bad_input_is_a_problem(client: TestClient, url: str, status: int, mentions: str) -> None:
    r = client.get(url)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert mentions in body["detail"] or mentions in str(body.get("errors", "")) or mentions == body.get("pointer")
    assert "Traceback" not in r.text and "psycopg2" not in r.text and "SELECT" not in r.text


def test_wrong_method_is_a_problem(client: TestClient) -> None:
    r = client.post("/locate")
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"
