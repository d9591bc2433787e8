"""GeoJSON endpoints: bbox filter, paging with next links, single features, no personal data."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

BBOX = (106.60, 26.35, 106.70, 26.45)
TABLES = {"divisions": ("division", "geom"), "grids": ("grid", "geom"), "households": ("household", "geom"),
          "cameras": ("camera", "geom"), "events": ("event", "geom"), "staff": ("staff", "home")}


def _walk(client: TestClient, url: str, params: dict) -> list[dict]:
    features: list[dict] = []
    r = client.get(url, params=params)
    while True:
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/geo+json"
        body = r.json()
        assert body["type"] == "FeatureCollection"
        assert body["numberReturned"] == len(body["features"])
        features += body["features"]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        if not nxt:
            return features
        r = client.get(nxt[0])


@pytest.mark.parametrize("name", list(TABLES))
def test_bbox_and_paging_return_exactly_the_features_in_the_box(
    client: TestClient, session: Session, name: str
) -> None:
    table, geom = TABLES[name]
    expected = session.execute(
        text(f"SELECT count(*) FROM {table} WHERE {geom} && ST_MakeEnvelope(:a, :b, :c, :d, 4326)"),
        dict(zip("abcd", BBOX, strict=True)),
    ).scalar_one()
    assert expected > 0
    features = _walk(client, f"/{name}", {"bbox": ",".join(map(str, BBOX)), "limit": 97})
    ids = [f["id"] for f in features]
    assert len(ids) == expected == len(set(ids))
    assert ids == sorted(ids)
    for f in features[:50]:
        assert f["type"] == "Feature" and f["geometry"]["type"] in {"Point", "MultiPolygon"}


def test_filters_narrow_the_collection(client: TestClient, session: Session) -> None:
    grids = client.get("/grids", params={"layer": "party", "limit": 1000}).json()["features"]
    assert grids and all(g["properties"]["layer"] == "party" for g in grids)
    code = grids[0]["properties"]["code"]
    inside = _walk(client, "/households", {"grid": code, "limit": 500})
    stored = session.execute(text("""
        SELECT count(*) FROM grid_membership m JOIN grid g ON g.id = m.grid_id
        WHERE g.code = :c AND m.kind = 'household'"""), {"c": code}).scalar_one()
    assert len(inside) == stored


def test_single_grid_has_counts_from_membership(client: TestClient, session: Session) -> None:
    gid = session.execute(text(
        "SELECT g.id FROM grid g JOIN grid_layer l ON l.id = g.layer_id WHERE l.code = 'comprehensive' LIMIT 1"
    )).scalar_one()
    body = client.get(f"/grids/{gid}").json()
    counts = body["properties"]["counts"]
    assert counts["households"] == session.execute(text(
        "SELECT count(*) FROM grid_membership WHERE grid_id = :g AND kind = 'household'"), {"g": gid}).scalar_one()
    assert set(counts) == {"households", "residents", "cameras", "open_events", "staff"}


@pytest.mark.parametrize("name", list(TABLES))
def test_single_features_and_missing_ids(client: TestClient, name: str) -> None:
    first = client.get(f"/{name}", params={"limit": 1}).json()["features"][0]
    assert client.get(f"/{name}/{first['id']}").json()["id"] == first["id"]
    r = client.get(f"/{name}/987654321")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dX](?!\d)")
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


@pytest.mark.parametrize("name", ["households", "events", "staff"])
def test_lists_carry_no_personal_data(client: TestClient, name: str) -> None:
    text_ = client.get(f"/{name}", params={"limit": 1000}).text
    assert not MOBILE.search(text_)
    assert not ID_NUMBER.search(text_)
    assert "reporter" not in text_ and "phone" not in text_ and "id_number" not in text_
