"""A worker's position as a phone sends it (any supported CRS), checked and turned into WGS84.

Shared by visits, track points and check-ins, so every one names a bad value the same way
(the pointer says which field, and which point of a batch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from geo.errors import InvalidInput
from geo.spatial.crs import Crs, to_wgs84

FUTURE_SKEW_S = 120  # a phone's clock may run this far ahead of the server's
LATE_LIMIT = timedelta(days=366)  # a visit may be logged late (no signal in the hills), not years late
# GCJ-02 and BD-09 are defined only over China: a point outside is a wrong CRS or a broken fix.
CHINA_LON, CHINA_LAT = (73.0, 136.0), (3.0, 54.0)


@dataclass(frozen=True)
class Spot:
    """Where the worker stood, as sent: ``lon``/``lat`` in ``crs``; ``at`` None means now."""

    lon: float
    lat: float
    crs: Crs = Crs.WGS84
    accuracy_m: float | None = None
    at: datetime | None = None


def check(spots: Sequence[Spot], now: datetime, prefix: str = "") -> None:
    """Every value checked before anything is stored; ``prefix`` is the JSON pointer of the list ("" for one)."""
    horizon = now + timedelta(seconds=FUTURE_SKEW_S)
    for i, s in enumerate(spots):
        where = f"{prefix}/{i}" if prefix else ""
        label = f"point {i}: " if prefix else ""
        for name, value, bound in (("lon", s.lon, 180), ("lat", s.lat, 90)):
            if not (math.isfinite(value) and -bound <= value <= bound):
                raise InvalidInput(f"{label}{name} must be a finite number within ±{bound}, got {value}",
                                   pointer=f"{where}/{name}")
        if s.lon == 0 and s.lat == 0:
            raise InvalidInput(f"{label}lon 0, lat 0 is a phone's placeholder for 'no fix yet', not a position",
                               pointer=f"{where}/lon")
        if Crs(s.crs) in (Crs.GCJ02, Crs.BD09) and not (CHINA_LON[0] <= s.lon <= CHINA_LON[1]
                                             and CHINA_LAT[0] <= s.lat <= CHINA_LAT[1]):
            raise InvalidInput(f"{label}{Crs(s.crs).value} is only defined over China (lon 73–136, lat 3–54),"
                               f" got {s.lon}, {s.lat}", pointer=f"{where}/lon")
        if s.accuracy_m is not None and not (math.isfinite(s.accuracy_m) and 0 <= s.accuracy_m <= 100_000):
            raise InvalidInput(f"{label}accuracy_m must be between 0 and 100000 metres", pointer=f"{where}/accuracy_m")
        if s.at is not None:
            if s.at.tzinfo is None:
                raise InvalidInput(f"{label}at needs a UTC offset (e.g. 2026-11-23T08:00:00+08:00)",
                                   pointer=f"{where}/at")
            if s.at < now - LATE_LIMIT:
                raise InvalidInput(f"{label}at is {s.at.isoformat()}, more than a year ago: log visits as they happen",
                                   pointer=f"{where}/at")
            if s.at > horizon:
                raise InvalidInput(f"{label}at is {s.at.isoformat()}, in the future (server time {now.isoformat()})",
                                   pointer=f"{where}/at")


def to_storage(spots: Sequence[Spot]) -> tuple[list[float], list[float]]:
    """WGS84 longitudes and latitudes (one array call per CRS in the batch)."""
    lon = np.array([s.lon for s in spots], dtype=np.float64)
    lat = np.array([s.lat for s in spots], dtype=np.float64)
    crs = np.array([Crs(s.crs).value for s in spots])
    for c in set(crs.tolist()):
        mask = crs == c
        lon[mask], lat[mask] = to_wgs84(lon[mask], lat[mask], c)
    return lon.tolist(), lat.tolist()


def utcnow() -> datetime:
    return datetime.now(UTC)
