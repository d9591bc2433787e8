"""Output never makes a valid polygon invalid: every grid and division of the district, as the API sends it.

GeoJSON at 7 decimals rounds each vertex independently; where two vertices of a
ring lie within a centimetre of an edge, the rounded ring crossed itself (23 of
Hechuan's 9,106 grids, and they stayed invalid in every GeoPackage GDAL made
from the API). The stored shapes are valid (a CHECK constraint); what the API
sends must be too.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from shapely.geometry import shape
from shapely.validation import explain_validity
from sqlalchemy import text
from sqlalchemy.orm import Session


def _all_pages(client: TestClient, path: str, **params: object) -> list[dict]:
    """Every feature of a collection, following its ``next`` links."""
    features: list[dict] = []
    query: dict[str, object] = {**params, "limit": 1000}
    while True:
        r = client.get(path, params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        features += body["features"]
        nxt = [x["href"] for x in body["links"] if x["rel"] == "next"]
        if not nxt:
            return features
        query["after"] = parse_qs(urlsplit(nxt[0]).query)["after"][0]


def _invalid(features: list[dict]) -> list[str]:
    bad = []
    for f in features:
        geom = shape(f["geometry"])
        if not geom.is_valid:
            bad.append(f"{f['properties'].get('code')}: {explain_validity(geom)}")
    return bad


def test_every_grid_and_division_is_sent_valid(client: TestClient, session: Session) -> None:
    grids = _all_pages(client, "/grids")
    assert len(grids) == session.execute(text("SELECT count(*) FROM grid")).scalar_one()
    assert _invalid(grids) == []
    divisions = _all_pages(client, "/divisions")
    assert len(divisions) == session.execute(text("SELECT count(*) FROM division")).scalar_one()
    assert _invalid(divisions) == []


def test_the_net_at_a_moment_and_history_are_sent_valid(client: TestClient, session: Session) -> None:
    at = session.execute(text("SELECT max(valid_from) FROM grid_version")).scalar_one()
    versions = _all_pages(client, "/grids", at=at.isoformat())
    assert len(versions) == session.execute(text("SELECT count(*) FROM grid")).scalar_one()
    assert _invalid(versions) == []
    # The grids whose 7-decimal rounding crosses itself, if the district has any, through /history too.
    risky = session.execute(text(
        "SELECT id FROM grid WHERE NOT ST_IsValid(ST_GeomFromGeoJSON(ST_AsGeoJSON(geom, 7))) ORDER BY id LIMIT 5"
    )).scalars().all()
    for grid_id in risky:
        history = client.get(f"/grids/{grid_id}/history").json()
        assert all(shape(v["geometry"]).is_valid for v in history)


def test_the_district_really_has_vertices_that_rounding_breaks(session: Session) -> None:
    """Without such grids the tests above would pass on any precision: the generated district has them."""
    n = session.execute(text(
        "SELECT count(*) FROM grid WHERE NOT ST_IsValid(ST_GeomFromGeoJSON(ST_AsGeoJSON(geom, 7)))")).scalar_one()
    assert n > 0
