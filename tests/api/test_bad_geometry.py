"""A corpus of bad drawings: every one a 4xx with a reason, and nothing written."""

from __future__ import annotations

import json
import math

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

X, Y = 106.62, 26.40


def _square(d: float = 0.001) -> list[list[float]]:
    return [[X, Y], [X + d, Y], [X + d, Y + d], [X, Y + d], [X, Y]]


def _circle(n: int) -> list[list[float]]:
    ring = [[round(X + 0.01 * math.cos(i / n * 6.283), 7), round(Y + 0.01 * math.sin(i / n * 6.283), 7)]
            for i in range(n)]
    return [*ring, ring[0]]

CORPUS = {
    "bow-tie": ({"type": "Polygon", "coordinates": [[[X, Y], [X + .001, Y + .001], [X + .001, Y], [X, Y + .001], [X, Y]]]},
                422, "Self-intersection"),
    "unclosed ring": ({"type": "Polygon", "coordinates": [_square()[:-1]]}, 422, "not closed"),
    "3-point ring": ({"type": "Polygon", "coordinates": [[[X, Y], [X + .001, Y], [X, Y]]]}, 422, "at least 4"),
    "NaN": ({"type": "Polygon", "coordinates": [[[X, Y], [float("nan"), Y], [X, Y + .001], [X, Y]]]}, 422, "finite"),
    "lat 91": ({"type": "Polygon", "coordinates": [[[X, 91], [X + .001, 91], [X, 90.5], [X, 91]]]}, 422, "out of range"),
    "swapped axes": ({"type": "Polygon", "coordinates": [[[Y, X], [Y + .001, X], [Y, X + .001], [Y, X]]]}, 422, "swapped"),
    "GeometryCollection": ({"type": "GeometryCollection", "geometries": []}, 422, "Polygon or MultiPolygon"),
    "point": ({"type": "Point", "coordinates": [X, Y]}, 422, "Polygon or MultiPolygon"),
    "3D": ({"type": "Polygon", "coordinates": [[[*p, 10.0] for p in _square()]]}, 422, "Z or M"),
    "empty": ({"type": "Polygon", "coordinates": []}, 422, "no coordinates"),
    "strings": ({"type": "Polygon", "coordinates": [[["106", "26"]] * 4]}, 422, "numbers"),
    "25k vertices": ({"type": "Polygon", "coordinates": [_circle(25_000)]}, 422, "vertices"),
    "200k vertices": ({"type": "Polygon", "coordinates": [_circle(200_000)]}, 413, "exceeds"),
}


def _counts(session: Session) -> tuple[int, int, int]:
    return session.execute(text(
        "SELECT (SELECT count(*) FROM grid), (SELECT count(*) FROM grid_version), (SELECT count(*) FROM audit_log)"
    )).one()


@pytest.mark.parametrize("case", list(CORPUS))
def test_bad_geometry_is_refused_and_nothing_is_written(as_user, session: Session, case: str) -> None:  # noqa: ANN001
    client: TestClient = as_user("planner")
    geometry, status, mentions = CORPUS[case]
    division = session.execute(text("SELECT code FROM division WHERE level = 'village' ORDER BY code LIMIT 1")).scalar()
    before = _counts(session)
    body = json.dumps({"layer": "dedicated", "name": "x", "division": division, "geometry": geometry},
                      allow_nan=True)
    r = client.post("/grids", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, (case, r.text[:300])
    assert r.headers["content-type"] == "application/problem+json"
    assert mentions in r.text, (case, r.text[:300])
    assert _counts(session) == before


def test_a_5_mb_body_is_refused_before_it_is_read(as_user) -> None:  # noqa: ANN001
    body = b'{"geometry": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    r = as_user("planner").post("/grids", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"


def test_clockwise_rings_are_accepted_and_stored_counter_clockwise(as_user, session: Session) -> None:  # noqa: ANN001
    division, x, y = session.execute(text(
        "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM division"
        " WHERE level = 'village' ORDER BY code LIMIT 1")).one()
    d = 0.0003
    clockwise = [[x, y], [x, y + d], [x + d, y + d], [x + d, y], [x, y]]
    r = as_user("planner").post("/grids", json={"layer": "dedicated", "name": "顺时针", "division": division,
                                                "geometry": {"type": "Polygon", "coordinates": [clockwise]},
                                                "parent_mode": "clip"})
    assert r.status_code == 201, r.text
    gid = r.json()["grids"][0]["id"]
    assert session.execute(text("SELECT ST_IsPolygonCCW(geom) FROM grid WHERE id = :g"), {"g": gid}).scalar()


def test_a_self_intersection_is_named_where_it_is_readably(as_user, session: Session) -> None:  # noqa: ANN001
    """A drawn bow-tie's corners have many decimals, and so has the crossing: the problem gives it as
    lon, lat to 6 decimals (0.1 m), which the masking of long digit runs (ID numbers) leaves as it is."""
    division = session.execute(text("SELECT code FROM division WHERE level = 'village' ORDER BY code LIMIT 1")).scalar()
    a, b = 0.0012345678901, 0.0009876543211
    ring = [[X, Y], [X + a, Y + b], [X + a, Y], [X, Y + b], [X, Y]]
    r = as_user("planner").post("/grids", json={"layer": "dedicated", "name": "x", "division": division,
                                                "geometry": {"type": "Polygon", "coordinates": [ring]}})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "*" not in detail, detail
    assert f"Self-intersection at {X + a / 2:.6f}, {Y + b / 2:.6f} (lon, lat)" in detail, detail
