"""Settlements from the app's own data: households counted in square cells, for the map without a basemap.

Why: with no basemap configured the web map still has to show where people live, or a planner
cannot tell a village centre from an empty hillside. The households are the settlements. They are
shown as counts per cell, never as points: a cell is at least :data:`MIN_CELL_M` across and a
cell with fewer than :data:`MIN_HOUSEHOLDS` households is left out, so no household can be singled
out at any zoom (that needs ``households:read`` and the points API) and the answer holds no
personal data. Cells are squares of the Web Mercator grid (the display's), counted in one
``GROUP BY ST_SnapToGrid`` inside the caller's territory.
"""

from __future__ import annotations

import math

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, county_filter, member_filter
from geo.errors import InvalidInput

__all__ = ["settlement_cells", "cell_size_m", "MIN_CELL_M", "MIN_HOUSEHOLDS", "CELL_PX"]

CELL_PX = 12  # a cell is about this many screen pixels across at the asked zoom
MIN_CELL_M = 60.0  # never finer than this (Web Mercator metres): a cell is a cluster, not a house
MIN_HOUSEHOLDS = 3  # cells with fewer households are not shown
MAX_SPAN_DEG = 3.0  # a bbox wider than this is a client bug (a county is well under a degree across)
_MERCATOR_M_PER_PX_Z0 = 2 * math.pi * 6378137 / 256


def cell_size_m(zoom: int) -> float:
    """The side of a cell at ``zoom`` in Web Mercator metres (CELL_PX pixels, at least MIN_CELL_M)."""
    return max(MIN_CELL_M, CELL_PX * _MERCATOR_M_PER_PX_Z0 / (1 << zoom))


def settlement_cells(session: Session, *, bbox: tuple[float, float, float, float], zoom: int,
                     scope: Scope) -> dict[str, object]:
    """Household counts per cell in ``bbox`` (WGS84) at ``zoom``: ``{"cell_m", "cells": [[lon, lat, n]]}``.

    A cell's position is its centre (snapping to ``half + k·cell`` puts each point on the centre of the
    cell it falls in), not the mean of its households, which would say more than the count.
    """
    if not 0 <= zoom <= 22:
        raise InvalidInput(f"zoom must be within 0..22, got {zoom}", pointer="zoom")
    west, south, east, north = bbox
    if east - west > MAX_SPAN_DEG or north - south > MAX_SPAN_DEG:
        raise InvalidInput(f"bbox may span at most {MAX_SPAN_DEG} degrees each way", pointer="bbox")
    cell = cell_size_m(zoom)
    members, params = member_filter(scope, "household", "h")
    counties, county_params = county_filter(scope, "h")
    rows = session.execute(text(f"""
        WITH cells AS (
            SELECT ST_SnapToGrid(ST_Transform(h.geom, 3857), :half, :half, :cell, :cell) AS centre_m, count(*) AS n
            FROM household h
            WHERE h.geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326){counties}{members}
            GROUP BY 1)
        SELECT ST_X(c.centre), ST_Y(c.centre), n
        FROM cells, LATERAL (SELECT ST_Transform(centre_m, 4326) AS centre) c
        WHERE n >= :min_n
        ORDER BY n DESC"""),
        {"w": west, "s": south, "e": east, "n": north, "cell": cell, "half": cell / 2, "min_n": MIN_HOUSEHOLDS,
         **params, **county_params}).all()
    return {"cell_m": round(cell, 1), "min_households": MIN_HOUSEHOLDS,
            "cells": [[round(lon, 6), round(lat, 6), n] for lon, lat, n in rows]}
