"""What is around a point: cameras by field of view (toward, away, across north), households
against a brute-force count, grids and heads, open events, the envelope bound."""

from __future__ import annotations

import pytest
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.emergency import around

GEOD = Geod(ellps="WGS84")
P = (100.0, 30.0)  # far from the demo district: only the cameras placed here are near
COUNTY = Scope.county()


def _camera(session: Session, code: str, from_bearing: float, distance: float, bearing: float, fov: float,
            range_m: float = 150.0) -> float:
    """A camera ``distance`` metres from P in direction ``from_bearing`` (seen from P); returns the
    azimuth from the camera to P."""
    lon, lat, back = GEOD.fwd(P[0], P[1], from_bearing, distance)
    session.execute(text("""
        INSERT INTO camera (code, name, bearing, fov, range_m, status, geom)
        VALUES (:c, :c, :b, :f, :r, 'online', ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"""),
        {"c": code, "b": bearing % 360, "f": fov, "r": range_m, "lon": lon, "lat": lat})
    return back % 360


def test_cameras_see_the_point_only_when_pointing_at_it(session: Session) -> None:
    az = _camera(session, "T-south-toward", 180, 100, 0, 60)  # south of P looking north: sees it
    assert abs(az) < 0.01 or abs(az - 360) < 0.01
    _camera(session, "T-south-away", 180, 100, 180, 60)  # same place looking south: does not
    _camera(session, "T-north-toward", 0, 100, 180, 60)  # north of P looking south: sees it
    _camera(session, "T-too-short", 90, 100, 270, 60, range_m=80)  # pointing at it but out of range
    _camera(session, "T-edge-in", 90, 100, 270 + 29.5, 60)  # P 29.5° off the axis, half-angle 30°
    _camera(session, "T-edge-out", 90, 100, 270 + 30.5, 60)
    _camera(session, "T-dome", 45, 120, 123, 360)  # 360° dome within range
    # Wrap-around at north: P lies at azimuth ~5° from this camera (it stands ~SSW of P)
    az = _camera(session, "T-wrap-in", 185, 100, 355, 30)  # 355° ± 15° covers 340°..10°
    assert 4 < az < 6
    _camera(session, "T-wrap-out", 185, 100, 340, 20)  # 330°..350°: misses 5°
    _camera(session, "T-wrap-in2", 175, 100, 10, 40)  # P at ~355° from it; 10° ± 20° covers 350°..30°
    seen = {c["code"] for c in around.cameras_seeing(session, *P, COUNTY)}
    assert seen == {"T-south-toward", "T-north-toward", "T-edge-in", "T-dome", "T-wrap-in", "T-wrap-in2"}


@pytest.mark.parametrize("lat", [0.0, 26.4, 60.0, -45.0])
def test_envelope_contains_the_circle(lat: float) -> None:
    for r in (10.0, 1_000.0, 50_000.0):
        x0, y0, x1, y1 = around.envelope(10.0, lat, r)
        for bearing in range(0, 360, 5):
            lon, la, _ = GEOD.fwd(10.0, lat, bearing, r)
            assert x0 <= lon <= x1 and y0 <= la <= y1, (lat, r, bearing)


def test_households_events_and_grids_around_a_point(session: Session) -> None:
    lon, lat = session.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM household ORDER BY id LIMIT 1 OFFSET 500")
                               ).one()
    session.execute(text("SELECT set_config('gridmap.scope_all', 'on', true)"))
    session.execute(text("UPDATE household SET needs_help = '{elderly_alone}' WHERE id = (SELECT id FROM household"
                         " ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) LIMIT 1 OFFSET 3)"),
                    {"lon": lon, "lat": lat})
    out = around.around(session, lon, lat, 300, scope=COUNTY, limit=5, unmasked_staff=True)
    want = session.execute(text("""
        SELECT count(*), coalesce(sum(residents), 0), count(*) FILTER (WHERE cardinality(needs_help) > 0)
          FROM household WHERE ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, 300)
    """), {"lon": lon, "lat": lat}).one()
    hh = out["households"]
    assert (hh["count"], hh["residents"], hh["needs_help_count"]) == tuple(want)
    assert len(hh["items"]) == min(5, want[0]) and hh["truncated"] == (want[0] > 5)
    assert [h["distance_m"] for h in hh["items"]] == sorted(h["distance_m"] for h in hh["items"])
    assert len(hh["needs_help"]) == min(5, want[2]) and all(h["needs_help"] for h in hh["needs_help"])
    masked = around.around(session, lon, lat, 300, scope=COUNTY, limit=5)["households"]  # no pii:read
    assert masked["needs_help_count"] == want[2] and masked["needs_help"] == []
    assert all("needs_help" not in h for h in masked["items"])  # who needs help is not shown, only how many
    for h in hh["items"]:
        if h["contact"]:
            assert "*" in h["contact"]["name"] and "****" in h["contact"]["phone"]
    layers = {g["layer"] for g in out["grids"]}
    assert {"comprehensive", "party", "emergency"} <= layers
    comprehensive = next(g for g in out["grids"] if g["layer"] == "comprehensive")
    assert comprehensive["heads"], "a village's grid head heads its comprehensive grids"
    events = session.execute(text("""
        SELECT count(*) FROM event WHERE status NOT IN ('closed', 'rejected')
           AND ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, 300)"""),
        {"lon": lon, "lat": lat}).scalar_one()
    assert len(out["events"]) == min(events, 5)
    assert all(e["status"] not in ("closed", "rejected") for e in out["events"])
