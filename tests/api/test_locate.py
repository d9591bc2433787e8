"""GET /locate on the real Huaxi boundary, in every CRS, on shared edges and outside."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.schemas.locate import LocateResult
from geo.locating.assign import assign_entities
from geo.models import MemberKind
from geo.spatial.crs import Crs, from_wgs84


def _interior_points(session: Session, n: int = 5) -> list[tuple[float, float, str]]:
    """Points deep inside comprehensive grids (≥ 600 m from any edge, beyond the GCJ-02 offset)."""
    rows = session.execute(text("""
        SELECT ST_X(p), ST_Y(p), code FROM (
            SELECT g.code, ST_PointOnSurface(g.geom) AS p, g.geom FROM grid g
            JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive') s
        WHERE ST_Distance(p::geography, ST_Boundary(geom)::geography) > 150
        ORDER BY code LIMIT :n
    """), {"n": n}).all()
    assert rows
    return [(r[0], r[1], r[2]) for r in rows]


@pytest.mark.parametrize("crs", list(Crs))
def test_locate_in_every_crs_finds_the_same_grid(client: TestClient, session: Session, crs: Crs) -> None:
    for lon, lat, code in _interior_points(session):
        x, y = from_wgs84(lon, lat, crs)
        r = client.get("/locate", params={"lon": float(x), "lat": float(y), "crs": crs.value})
        assert r.status_code == 200, r.text
        body = r.json()
        LocateResult.model_validate(body)  # the documented schema
        assert body["grids"]["comprehensive"]["code"] == code
        assert body["divisions"]["county"]["code"] == "520111000000"
        assert body["divisions"]["village"]["code"] == code[:12]
        assert abs(body["lon"] - lon) < 1e-8 and abs(body["lat"] - lat) < 1e-8


def test_gcj02_read_as_wgs84_lands_somewhere_else(client: TestClient, session: Session) -> None:
    """Why the crs parameter matters: a WeChat fix stored as WGS84 is hundreds of metres off."""
    wrong = 0
    for lon, lat, code in _interior_points(session, 40):
        x, y = from_wgs84(lon, lat, Crs.GCJ02)
        r = client.get("/locate", params={"lon": float(x), "lat": float(y)})
        if r.status_code != 200 or r.json()["grids"]["comprehensive"]["code"] != code:
            wrong += 1
    assert wrong > 0


def test_point_on_a_shared_edge_goes_to_the_smaller_code_and_storage_agrees(
    client: TestClient, session: Session
) -> None:
    a, b, lon, lat = session.execute(text("""
        SELECT a.code, b.code, ST_X(p), ST_Y(p) FROM grid a
        JOIN grid b ON a.layer_id = b.layer_id AND a.code < b.code AND a.geom && b.geom
        JOIN grid_layer l ON l.id = a.layer_id AND l.code = 'comprehensive'
        CROSS JOIN LATERAL (SELECT (ST_DumpPoints(ST_Intersection(a.geom, b.geom))).geom AS p) v
        WHERE ST_Relate(a.geom, b.geom, 'F***1****')
        ORDER BY a.code, b.code LIMIT 1
    """)).one()
    r = client.get("/locate", params={"lon": lon, "lat": lat})
    assert r.json()["grids"]["comprehensive"]["code"] == a
    hid = session.execute(text("""
        INSERT INTO household (address, division_id, residents, geom)
        VALUES ('边界测试1号', (SELECT id FROM division WHERE code = :v), 1, ST_SetSRID(ST_MakePoint(:x, :y), 4326))
        RETURNING id"""), {"v": a[:12], "x": lon, "y": lat}).scalar_one()
    assign_entities(session, kind=MemberKind.HOUSEHOLD, entity_ids=[hid])
    stored = session.execute(text("""
        SELECT g.code FROM grid_membership m JOIN grid g ON g.id = m.grid_id JOIN grid_layer l ON l.id = m.layer_id
        WHERE m.kind = 'household' AND m.entity_id = :h AND l.code = 'comprehensive'"""), {"h": hid}).scalar_one()
    assert stored == a


def test_point_outside_the_district_is_a_404_problem(client: TestClient) -> None:
    r = client.get("/locate", params={"lon": 116.39, "lat": 39.91})  # Beijing
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert "outside the district" in r.json()["detail"]


def test_layers_without_a_covering_grid_are_null(client: TestClient, session: Session) -> None:
    lon, lat = session.execute(text("""
        SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(g.geom) AS p FROM grid g
          JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive' ORDER BY g.code) s
        WHERE NOT EXISTS (SELECT 1 FROM grid d JOIN grid_layer dl ON dl.id = d.layer_id AND dl.code = 'dedicated'
                          WHERE ST_Covers(d.geom, s.p))
        LIMIT 1""")).one()
    grids = client.get("/locate", params={"lon": lon, "lat": lat}).json()["grids"]
    assert set(grids) == {"comprehensive", "party", "emergency", "dedicated", "micro"}
    assert grids["dedicated"] is None
    assert grids["comprehensive"] is not None
