"""Coordinate reference systems used by Chinese map and app platforms.

Why this exists: coordinates reaching gridmap come from several platforms that
do not share a datum. GPS receivers, Tianditu and national survey data use
WGS-84 or CGCS2000. AMap (Gaode), Tencent Maps and WeChat (including a
mini-program's ``wx.getLocation(type="gcj02")``) use GCJ-02, the legally
mandated obfuscated datum: WGS-84 shifted by a non-linear, deliberately
irregular offset of a few hundred metres. Baidu adds a further rotation on top
(BD-09). PROJ/pyproj does not implement GCJ-02 or BD-09, so we do it here.
Getting it wrong is not cosmetic: a WeChat report stored as if it were WGS-84
lands a few hundred metres away, usually in the wrong grid cell, and is routed
to the wrong grid worker.

Storage is always WGS-84; convert at the edges with ``to_wgs84`` /
``from_wgs84``.

Conventions:

* Arguments are ``(lon, lat)`` in degrees, scalars or array-likes; ``lon`` and
  ``lat`` are broadcast against each other and computed as float64 without
  Python-level loops over points.
* Array input gives ndarrays of the broadcast shape. Scalar input (both
  arguments 0-d) gives ``np.float64`` scalars, which are ``float`` instances,
  so ``json``/f-strings/``math`` treat them as plain Python floats.
  ``out_of_china`` likewise gives ``np.bool_`` for scalar input.
* No range validation (the API layer does that); NaN in gives NaN out and
  never an exception or a floating-point warning.
* The GCJ-02 offset is zero outside the rough China bounding box
  (``out_of_china``), as in every common implementation. The box edge is
  therefore a discontinuity: within about 0.01 deg of it a GCJ-02 point may
  have two WGS-84 preimages, and the inverse picks one. BD-09's rotation is
  applied everywhere, as Baidu does.
"""

from __future__ import annotations

import enum
from typing import Callable, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "Crs",
    "to_wgs84",
    "from_wgs84",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "out_of_china",
]

#: ndarray for array input, ``np.float64`` (a ``float`` subclass) for scalars.
Floats: TypeAlias = "npt.NDArray[np.float64] | np.float64"
Bools: TypeAlias = "npt.NDArray[np.bool_] | np.bool_"
_Pair: TypeAlias = "tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]"

# Krasovsky 1940 ellipsoid, which GCJ-02 uses for its metre-to-degree step.
_A = 6378245.0
_EE = 0.00669342162296594323

# BD-09: rotation factor and the fixed offset Baidu adds after it.
_X_PI = np.pi * 3000.0 / 180.0
_BD_DLON = 0.0065
_BD_DLAT = 0.006

# Rough China bounding box outside which GCJ-02 applies no offset.
_LON_MIN, _LON_MAX = 72.004, 137.8347
_LAT_MIN, _LAT_MAX = 0.8293, 55.8271

# Fixed-point iteration for the inverses. Each step shrinks the error by a
# factor of ~1e-3 (the offsets vary slowly), so 3-4 steps usually suffice;
# the cap only matters at the bounding-box discontinuity.
_TOL_DEG = 1e-10
_MAX_ITER = 30


class Crs(str, enum.Enum):
    """Coordinate systems gridmap accepts; the value is the API spelling."""

    WGS84 = "wgs84"
    CGCS2000 = "cgcs2000"
    GCJ02 = "gcj02"
    BD09 = "bd09"


def _as_pair(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Pair:
    """Broadcast to float64 arrays we own (never views of the caller's data)."""
    x, y = np.broadcast_arrays(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    )
    return x.copy(), y.copy()


def _out(a: np.ndarray) -> Floats:
    """0-d arrays become numpy scalars (float subclasses); others unchanged."""
    return a[()] if a.ndim == 0 else a


def _quiet() -> np.errstate:
    """Silence numpy's floating-point warnings: NaN/inf in just means NaN out."""
    return np.errstate(invalid="ignore", over="ignore", divide="ignore")


def _out_of_china(x: np.ndarray, y: np.ndarray) -> npt.NDArray[np.bool_]:
    inside = (x >= _LON_MIN) & (x <= _LON_MAX) & (y >= _LAT_MIN) & (y <= _LAT_MAX)
    return ~inside  # NaN compares False, so NaN counts as out of China


def out_of_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Bools:
    """True where GCJ-02 applies no offset (outside the rough China bbox, or NaN)."""
    return _out(_out_of_china(*_as_pair(lon, lat)))


def _gcj_offset(x: np.ndarray, y: np.ndarray) -> _Pair:
    """GCJ-02 minus WGS-84 in degrees at WGS-84 ``(x, y)``, zero outside China.

    The two polynomial-plus-sine functions give the shift in metres around
    (105E, 35N); it is turned into degrees with the Krasovsky ellipsoid.
    """
    with _quiet():
        dx, dy = x - 105.0, y - 35.0
        sines = (
            20.0 * np.sin(6.0 * dx * np.pi) + 20.0 * np.sin(2.0 * dx * np.pi)
        ) * 2.0 / 3.0
        dlat = (
            -100.0 + 2.0 * dx + 3.0 * dy + 0.2 * dy * dy + 0.1 * dx * dy
            + 0.2 * np.sqrt(np.abs(dx))
            + sines
            + (20.0 * np.sin(dy * np.pi) + 40.0 * np.sin(dy / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(dy / 12.0 * np.pi) + 320.0 * np.sin(dy * np.pi / 30.0))
            * 2.0 / 3.0
        )
        dlon = (
            300.0 + dx + 2.0 * dy + 0.1 * dx * dx + 0.1 * dx * dy
            + 0.1 * np.sqrt(np.abs(dx))
            + sines
            + (20.0 * np.sin(dx * np.pi) + 40.0 * np.sin(dx / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(dx / 12.0 * np.pi) + 300.0 * np.sin(dx / 30.0 * np.pi))
            * 2.0 / 3.0
        )
        rad_lat = y / 180.0 * np.pi
        magic = 1.0 - _EE * np.sin(rad_lat) ** 2
        sqrt_magic = np.sqrt(magic)
        dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
        dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    out = _out_of_china(x, y)
    return np.where(out, 0.0, dlon), np.where(out, 0.0, dlat)


def _wgs_to_gcj(x: np.ndarray, y: np.ndarray) -> _Pair:
    dlon, dlat = _gcj_offset(x, y)
    return x + dlon, y + dlat


def _gcj_to_bd(x: np.ndarray, y: np.ndarray) -> _Pair:
    with _quiet():
        z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
        theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
        return z * np.cos(theta) + _BD_DLON, z * np.sin(theta) + _BD_DLAT


def _bd_to_gcj_rough(x: np.ndarray, y: np.ndarray) -> _Pair:
    """The usual closed form; not an exact inverse (errors ~1e-7 deg)."""
    with _quiet():
        x = x - _BD_DLON
        y = y - _BD_DLAT
        z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
        theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
        return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Callable[[np.ndarray, np.ndarray], _Pair],
    tx: np.ndarray,
    ty: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
) -> _Pair:
    """Solve ``forward(x, y) == (tx, ty)`` by fixed-point iteration from ``(x, y)``.

    Works because both forwards are the identity plus a slowly varying
    offset. Only points not yet converged are recomputed; NaNs drop out at
    once (NaN > tol is False).
    """
    active = np.arange(x.size)
    fx, fy, gx, gy = x.reshape(-1), y.reshape(-1), tx.reshape(-1), ty.reshape(-1)
    for _ in range(_MAX_ITER):
        cx, cy = forward(fx[active], fy[active])
        with _quiet():
            ex, ey = cx - gx[active], cy - gy[active]
            fx[active] -= ex
            fy[active] -= ey
        active = active[(np.abs(ex) > _TOL_DEG) | (np.abs(ey) > _TOL_DEG)]
        if active.size == 0:
            break
    return fx.reshape(x.shape), fy.reshape(y.shape)


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Floats, Floats]:
    """WGS-84 to GCJ-02 (AMap/Tencent/WeChat); identity outside China."""
    x, y = _wgs_to_gcj(*_as_pair(lon, lat))
    return _out(x), _out(y)


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Floats, Floats]:
    """GCJ-02 to WGS-84, iterated to ~1e-10 deg (sub-millimetre).

    The one-step inverse most libraries ship is off by metres; a grid
    boundary decision needs better, and a few vectorised steps are cheap.
    """
    gx, gy = _as_pair(lon, lat)
    dlon, dlat = _gcj_offset(gx, gy)
    x, y = _invert(_wgs_to_gcj, gx, gy, gx - dlon, gy - dlat)
    return _out(x), _out(y)


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Floats, Floats]:
    """GCJ-02 to Baidu BD-09 (the x_pi rotation plus Baidu's fixed offset)."""
    x, y = _gcj_to_bd(*_as_pair(lon, lat))
    return _out(x), _out(y)


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Floats, Floats]:
    """BD-09 to GCJ-02: the usual closed form, refined until it round-trips.

    The closed form everyone copies is only good to ~1e-7 deg (about a
    decimetre); iterating against ``gcj02_to_bd09`` brings it below 1e-10.
    """
    bx, by = _as_pair(lon, lat)
    x, y = _invert(_gcj_to_bd, bx, by, *_bd_to_gcj_rough(bx, by))
    return _out(x), _out(y)


def to_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike, crs: Crs | str
) -> tuple[Floats, Floats]:
    """Convert from ``crs`` to WGS-84, the storage datum.

    CGCS2000 is taken as identical to WGS-84: the two realisations agree to a
    few centimetres, far below GPS or phone accuracy, so no PROJ call is needed.
    """
    crs = Crs(crs)
    if crs in (Crs.WGS84, Crs.CGCS2000):
        x, y = _as_pair(lon, lat)
        return _out(x), _out(y)
    if crs is Crs.GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if crs is Crs.BD09:
        return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
    raise AssertionError(crs)  # pragma: no cover - exhaustive over Crs


def from_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike, crs: Crs | str
) -> tuple[Floats, Floats]:
    """Convert WGS-84 to ``crs``, e.g. to draw on an AMap or Baidu base map.

    CGCS2000 is identity, as in ``to_wgs84``.
    """
    crs = Crs(crs)
    if crs in (Crs.WGS84, Crs.CGCS2000):
        x, y = _as_pair(lon, lat)
        return _out(x), _out(y)
    if crs is Crs.GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if crs is Crs.BD09:
        return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))
    raise AssertionError(crs)  # pragma: no cover - exhaustive over Crs
