"""Does the data fit the county as declared, or only when read as GCJ-02? (the AMap-picker mistake)

People pick points and trace boundaries on AMap or Tencent maps, whose tiles are in GCJ-02, and the
file goes out labelled WGS84 (every KML is, by its spec). Such data sits a few hundred metres off:
inside the county still, mostly, but township boundaries no longer meet the county's, and the
households along its edge fall outside it. So the vertices are compared with the county boundary
(as ``territory``, WGS84): the share lying clearly outside it as declared, and as the other reading
(GCJ-02 for data declared WGS84/CGCS2000, WGS84 for data declared GCJ-02). Only data near the edge
tells the two apart; data wholly inside fits both and draws no warning.
"""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import Geod

from geo.spatial.crs import gcj02_to_wgs84, wgs84_to_gcj02

_SAMPLE = 50_000  # vertices compared (evenly spaced): enough to see the edge, fast on a county
_MARGIN_DEG = 0.0003  # ≈ 30 m: digitising noise and generalised boundaries are not a shift
_GEOD = Geod(ellps="WGS84")


def _outside_share(region: shapely.Geometry, x: np.ndarray, y: np.ndarray) -> float:
    return float(1.0 - shapely.contains_xy(region, x, y).mean())


def gcj_warning(geoms: np.ndarray, territory: shapely.Geometry, *, declared: str, file: str) -> str | None:
    """A warning when the data fits ``territory`` clearly better read the other way, with the offset in m."""
    geoms = geoms[~shapely.is_missing(geoms)]
    if geoms.size == 0:
        return None
    coords = shapely.get_coordinates(geoms)
    coords = coords[np.isfinite(coords).all(axis=1)]
    if coords.shape[0] == 0:
        return None
    if coords.shape[0] > _SAMPLE:
        coords = coords[np.linspace(0, coords.shape[0] - 1, _SAMPLE).astype(np.int64)]
    x, y = coords[:, 0], coords[:, 1]
    if declared == "gcj02":  # the data was converted from GCJ-02; the other reading is "it was WGS84 already"
        ax, ay = wgs84_to_gcj02(x, y)
        other = "WGS84"
    else:
        ax, ay = gcj02_to_wgs84(x, y)
        other = "GCJ-02 (crs=gcj02)"
    region = shapely.buffer(territory, _MARGIN_DEG)
    shapely.prepare(region)
    as_declared = _outside_share(region, x, y)
    as_other = _outside_share(region, np.asarray(ax), np.asarray(ay))
    if as_declared < 0.005 or as_other > as_declared / 5:
        return None
    _, _, dist = _GEOD.inv(x, y, np.asarray(ax), np.asarray(ay))
    offset = float(np.median(dist))
    return (f"{file}: {as_declared:.1%} of its points lie outside the county as read ({declared}), "
            f"{as_other:.1%} when read as {other}: the data looks like it is in {other} (offset ≈ {offset:.0f} m). "
            f"Check where it came from (AMap, Tencent and WeChat pickers give GCJ-02) and re-read with the right crs")
