"""Where a report is: a point in any of the supported datums, a household
address, or a household id — resolved to one WGS-84 point inside the county."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.events.addresses import AddressMatch, match_address
from geo.spatial.crs import Crs, to_wgs84


@dataclass(frozen=True)
class Where:
    """What the reporter said. Exactly one of: lon+lat (with crs), address, household_id."""

    lon: float | None = None
    lat: float | None = None
    crs: Crs = Crs.WGS84
    address: str | None = None
    household_id: int | None = None
    coarsest: str = "house"  # how coarse an address match may be (geo.events.addresses.LEVELS)


@dataclass(frozen=True)
class Location:
    lon: float  # WGS-84
    lat: float
    how: str  # point | address | household
    household_id: int | None = None
    match: AddressMatch | None = None


def resolve(session: Session, where: Where, *, pointer: str = "", check_county: bool = True,
            reveal_register: bool = True) -> Location:
    """One WGS-84 point for ``where``, checked to lie inside the county (unless the caller checks
    that itself, as intake does within its INSERT, saving a round trip). ``reveal_register``:
    whether a refused address may list the register's candidates (staff) or only count them (public)."""
    given = [name for name, present in (("lon/lat", where.lon is not None or where.lat is not None),
                                        ("address", bool(where.address)),
                                        ("household_id", where.household_id is not None)) if present]
    if len(given) != 1:
        raise InvalidInput("give the location exactly one way: lon and lat (with crs), address, or household_id"
                           + (f"; got {' and '.join(given)}" if given else ""), pointer=pointer or "location")
    if where.address:
        m = match_address(session, where.address, pointer=f"{pointer}address" if pointer else "address",
                          reveal_candidates=reveal_register, coarsest=where.coarsest)
        loc = Location(m.lon, m.lat, "address", m.household_id, m)
    elif where.household_id is not None:
        row = session.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM household WHERE id = :h"),
                              {"h": where.household_id}).first()
        if row is None:
            raise InvalidInput(f"household {where.household_id} does not exist", pointer=f"{pointer}household_id")
        loc = Location(row[0], row[1], "household", where.household_id)
    else:
        loc = _point(where, pointer)
    if check_county:
        ensure_inside_county(session, loc, pointer)
    return loc


def _point(where: Where, pointer: str) -> Location:
    if where.lon is None or where.lat is None:
        raise InvalidInput("lon and lat go together", pointer=f"{pointer}{'lat' if where.lat is None else 'lon'}")
    if not (math.isfinite(where.lon) and -180 <= where.lon <= 180):
        raise InvalidInput(f"lon must be a number in [-180, 180], got {where.lon}", pointer=f"{pointer}lon")
    if not (math.isfinite(where.lat) and -90 <= where.lat <= 90):
        raise InvalidInput(f"lat must be a number in [-90, 90], got {where.lat}", pointer=f"{pointer}lat")
    lon, lat = to_wgs84(where.lon, where.lat, where.crs)
    return Location(float(lon), float(lat), "point")


# Villages tile the county and are small, so they are asked first (0.05 ms); only a point in
# no village pays for the county's 2,000-vertex boundary (0.26 ms), which stays the authority.
COUNTY_COVERS = """(EXISTS (SELECT 1 FROM division WHERE level = 'village'
                        AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)))
                 OR EXISTS (SELECT 1 FROM division WHERE level = 'county'
                        AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))))"""


def ensure_inside_county(session: Session, loc: Location, pointer: str = "") -> None:
    inside = session.execute(text(f"SELECT {COUNTY_COVERS}"), {"x": loc.lon, "y": loc.lat}).scalar_one()
    if not inside:
        raise InvalidInput(f"the location ({loc.lon:.6f}, {loc.lat:.6f} WGS-84) lies outside the county this service "
                           "covers", pointer=pointer or "location")
