"""A worker's position as a phone sends it (any supported CRS), checked and turned into WGS84.

Shared by visits, track points and check-ins, so every one names a bad value the same way
(the pointer says which field, and which point of a batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from geo.emergency.positions import Fix, check_fix, fixes_to_wgs84
from geo.errors import InvalidInput
from geo.spatial.crs import Crs

FUTURE_SKEW_S = 120  # a phone's clock may run this far ahead of the server's
LATE_LIMIT = timedelta(days=366)  # a visit may be logged late (no signal in the hills), not years late
# GCJ-02 and BD-09 are defined only over China: a point outside is a wrong CRS or a broken fix.
CHINA_LON, CHINA_LAT = (73.0, 136.0), (3.0, 54.0)


# A worker's position is a responder's fix: the same fields, checked by the same code.
Spot = Fix


def check(spots: Sequence[Spot], now: datetime, prefix: str = "") -> None:
    """Every value checked before anything is stored; ``prefix`` is the JSON pointer of the list ("" for one)."""
    horizon = now + timedelta(seconds=FUTURE_SKEW_S)
    for i, s in enumerate(spots):
        where = f"{prefix}/{i}" if prefix else ""
        label = f"point {i}: " if prefix else ""
        check_fix(s, now, horizon, where=where, label=label)
        if Crs(s.crs) in (Crs.GCJ02, Crs.BD09) and not (CHINA_LON[0] <= s.lon <= CHINA_LON[1]
                                             and CHINA_LAT[0] <= s.lat <= CHINA_LAT[1]):
            raise InvalidInput(f"{label}{Crs(s.crs).value} is only defined over China (lon 73–136, lat 3–54),"
                               f" got {s.lon}, {s.lat}", pointer=f"{where}/lon")
        if s.at is not None and s.at < now - LATE_LIMIT:
            raise InvalidInput(f"{label}at is {s.at.isoformat()}, more than a year ago: log visits as they happen",
                               pointer=f"{where}/at")


def to_storage(spots: Sequence[Spot]) -> tuple[list[float], list[float]]:
    """WGS84 longitudes and latitudes (one array call per CRS in the batch)."""
    lon, lat = fixes_to_wgs84(spots)
    return lon.tolist(), lat.tolist()


def utcnow() -> datetime:
    return datetime.now(UTC)
