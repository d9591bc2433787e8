"""GET /basemap/settlements: households counted per Web Mercator cell, inside the caller's territory.

The counts are checked against an independent count: the households' own coordinates, projected by
pyproj and binned with numpy, not by the server's SQL.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from tiles.basemap.settlements import MIN_HOUSEHOLDS, cell_size_m

TO_MERCATOR = Transformer.from_crs(4326, 3857, always_xy=True)


def _bbox(session: Session) -> tuple[float, float, float, float]:
    return tuple(session.execute(text(  # type: ignore[return-value]
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM household) x"
    )).one())


def _expected(session: Session, zoom: int, where: str = "", **params: object) -> Counter:
    rows = session.execute(text(f"SELECT ST_X(geom), ST_Y(geom) FROM household h {where}"), params).all()
    x, y = TO_MERCATOR.transform(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]))
    cell = cell_size_m(zoom)
    keys = zip(np.floor(x / cell).astype(int).tolist(), np.floor(y / cell).astype(int).tolist())
    return Counter({k: n for k, n in Counter(keys).items() if n >= MIN_HOUSEHOLDS})


def _got(cells: list[list[float]], zoom: int) -> Counter:
    cell = cell_size_m(zoom)
    x, y = TO_MERCATOR.transform(np.array([c[0] for c in cells]), np.array([c[1] for c in cells]))
    # Each answer is a cell's centre: half a cell from both of its edges (within the 6 decimals' 0.2 m).
    assert np.allclose((x / cell) % 1, 0.5, atol=0.2 / cell) and np.allclose((y / cell) % 1, 0.5, atol=0.2 / cell)
    return Counter({(int(i), int(j)): int(c[2]) for i, j, c in zip(np.floor(x / cell), np.floor(y / cell), cells)})


@pytest.mark.parametrize("zoom", [11, 16])
def test_counts_per_cell_match_an_independent_count(as_user, session: Session, zoom: int) -> None:  # noqa: ANN001
    west, south, east, north = _bbox(session)
    r = as_user("admin").get(f"/basemap/settlements?bbox={west - 0.01},{south - 0.01},{east + 0.01},{north + 0.01}"
                             f"&zoom={zoom}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cell_m"] == pytest.approx(cell_size_m(zoom), abs=0.1) and body["cell_m"] >= 60
    assert _got(body["cells"], zoom) == _expected(session, zoom)
    assert all(c[2] >= MIN_HOUSEHOLDS for c in body["cells"])


def test_a_grid_worker_sees_the_settlements_of_their_grid_only(as_user, session: Session) -> None:  # noqa: ANN001
    west, south, east, north = _bbox(session)
    body = as_user("worker1").get(f"/basemap/settlements?bbox={west},{south},{east},{north}&zoom=15").json()
    mine = _expected(session, 15, """JOIN grid_membership m ON m.kind = 'household' AND m.entity_id = h.id
        JOIN app_user u ON u.username = 'worker1' AND u.grid_id = m.grid_id""")
    assert _got(body["cells"], 15) == mine
    assert sum(mine.values()) < sum(_expected(session, 15).values())


def test_a_viewer_may_see_them_and_they_hold_only_numbers(as_user, session: Session) -> None:  # noqa: ANN001
    west, south, east, north = _bbox(session)
    r = as_user("viewer").get(f"/basemap/settlements?bbox={west},{south},{east},{north}&zoom=13")
    assert r.status_code == 200 and r.headers["cache-control"] == "private, no-cache" and "etag" in r.headers
    assert set(r.json()) == {"cell_m", "min_households", "cells"}
    assert all(isinstance(v, (int, float)) for cell in r.json()["cells"] for v in cell)


@pytest.mark.parametrize("query, pointer", [
    ("bbox=106,26,110,27&zoom=12", "bbox"),
    ("bbox=106,26&zoom=12", "bbox"),
    ("bbox=106.6,26.3,106.7,26.4&zoom=30", "zoom"),
])
def test_bad_requests_are_422_naming_the_parameter(as_user, query: str, pointer: str) -> None:  # noqa: ANN001
    r = as_user("admin").get(f"/basemap/settlements?{query}")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert pointer in r.text


def test_without_a_token_it_is_401(anonymous) -> None:  # noqa: ANN001
    assert anonymous.get("/basemap/settlements?bbox=106.6,26.3,106.7,26.4&zoom=12").status_code == 401
