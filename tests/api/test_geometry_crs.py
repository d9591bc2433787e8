"""Drawn geometry in the datum the request names: converted to WGS84 before it is checked and stored."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.spatial.crs import from_wgs84
from geo.spatial.geometry_input import parse_area, parse_line


def _village_square(session: Session, d: float = 0.0004) -> tuple[str, list[list[float]]]:
    code, x, y = session.execute(text(
        "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM division"
        " WHERE level = 'village' ORDER BY code LIMIT 1")).one()
    return code, [[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]


def _drawn_in(ring: list[list[float]], crs: str) -> list[list[float]]:
    xy = np.array(ring)
    lon, lat = from_wgs84(xy[:, 0], xy[:, 1], crs)
    return np.column_stack([lon, lat]).tolist()


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_a_polygon_drawn_on_a_chinese_base_map_lands_where_the_converter_says(
    as_user, session: Session, crs: str,  # noqa: ANN001
) -> None:
    division, wgs = _village_square(session)
    drawn = _drawn_in(wgs, crs)
    assert shapely.Point(drawn[0]).distance(shapely.Point(wgs[0])) > 0.001  # a few hundred metres away
    r = as_user("planner").post("/grids", json={"layer": "dedicated", "name": f"{crs} 画的", "division": division,
                                                "geometry": {"type": "Polygon", "coordinates": [drawn]},
                                                "crs": crs, "parent_mode": "clip", "snap_m": 0})
    assert r.status_code == 201, r.text
    gid = r.json()["grids"][0]["id"]
    stored = shapely.from_wkb(bytes(session.execute(text("SELECT ST_AsBinary(geom) FROM grid WHERE id = :g"),
                                                    {"g": gid}).scalar_one()))
    expected = shapely.Polygon(wgs)
    # Where the converter puts the drawing, to well under a centimetre (1e-7 deg ~ 1 cm).
    assert stored.symmetric_difference(expected).area / expected.area < 1e-4
    assert shapely.hausdorff_distance(stored, expected) < 1e-7


def test_a_crs84_member_is_accepted_and_another_is_named() -> None:
    ring = [[106.6, 26.4], [106.601, 26.4], [106.601, 26.401], [106.6, 26.401], [106.6, 26.4]]
    crs84 = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    assert parse_area({"type": "Polygon", "coordinates": [ring], "crs": crs84}).area > 0
    with pytest.raises(InvalidInput) as refused:
        parse_area({"type": "Polygon", "coordinates": [ring],
                    "crs": {"type": "name", "properties": {"name": "EPSG:4490"}}})
    assert refused.value.pointer == "geometry/crs" and "EPSG:4490" in refused.value.detail


def test_a_cut_is_converted_like_an_area() -> None:
    wgs = [[106.60, 26.40], [106.61, 26.41]]
    line = parse_line({"type": "LineString", "coordinates": _drawn_in(wgs, "gcj02")}, crs="gcj02")
    assert np.allclose(np.asarray(line.coords), wgs, atol=1e-9)


def _split_body(session: Session) -> tuple[int, str, dict[str, Any]]:
    gid, version, x0, x1, y = session.execute(text("""
        SELECT g.id, g.version, ST_XMin(g.geom), ST_XMax(g.geom), ST_Y(ST_PointOnSurface(g.geom))
          FROM grid g JOIN grid_layer l ON l.id = g.layer_id WHERE l.code = 'comprehensive' ORDER BY g.id LIMIT 1
    """)).one()
    cut = _drawn_in([[x0 - 0.01, y], [x1 + 0.01, y]], "gcj02")
    return gid, f'"g{gid}v{version}"', {"line": {"type": "LineString", "coordinates": cut}, "crs": "gcj02"}


def test_a_split_takes_crs(as_user, session: Session) -> None:  # noqa: ANN001
    client: TestClient = as_user("planner")
    gid, etag, body = _split_body(session)
    r = client.post(f"/grids/{gid}/split", json=body, headers={"If-Match": etag})
    assert r.status_code == 201, r.text
