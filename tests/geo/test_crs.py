"""geo.spatial.crs against prcoords, an independent public-domain GCJ-02/BD-09 implementation.

Every reference value is computed here by prcoords (note: it takes and returns
``(lat, lon)``), never pasted. Distances are geodesic metres on WGS-84 (pyproj).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import prcoords
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from geo.spatial.crs import (
    Crs,
    bd09_to_gcj02,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")

FORWARD_TOL_DEG = 1e-6  # about 0.1 m
ROUND_TRIP_TOL_M = 0.5
BD_ROUND_TRIP_TOL_DEG = 1e-9

# Same box as geo.spatial.crs / prcoords.sanity_in_china_p; the GCJ-02 offset is a few
# hundred metres, so points this far inside stay inside after the shift.
LON_MIN, LON_MAX, LAT_MIN, LAT_MAX = 72.004, 137.8347, 0.8293, 55.8271
EDGE_MARGIN = 0.05

PLACES = {
    "huaxi_guiyang": (106.6, 26.4),
    "beijing_tiananmen": (116.3975, 39.9087),
    "shanghai_bund": (121.4903, 31.2416),
}


def _china_points() -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.linspace(75, 134, 119), np.linspace(18, 53, 71))
    # Dense patch over Huaxi district, Guiyang, where the service is piloted.
    hlon, hlat = np.meshgrid(np.linspace(106.5, 106.8, 31), np.linspace(26.25, 26.55, 31))
    plon, plat = np.array(list(PLACES.values())).T
    return (
        np.concatenate([lon.ravel(), hlon.ravel(), plon]),
        np.concatenate([lat.ravel(), hlat.ravel(), plat]),
    )


LON, LAT = _china_points()

OUTSIDE = [
    (139.6917, 35.6895),  # Tokyo
    (-0.1276, 51.5072),  # London
    (37.6173, 55.7558),  # Moscow (lat inside the box, lon not)
    (151.2093, -33.8688),  # Sydney
    (0.0, 0.0),
    (71.9, 30.0),  # just west of the box
    (100.0, 55.9),  # just north of the box
]


def _oracle(fn, lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Apply a prcoords (lat, lon) function point by point; silence its warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = np.array([fn((b, a)) for a, b in zip(np.ravel(lon), np.ravel(lat))])
    return out[:, 1].reshape(np.shape(lon)), out[:, 0].reshape(np.shape(lat))


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def _max_deg(ax, ay, bx, by) -> float:
    return float(max(np.max(np.abs(ax - bx)), np.max(np.abs(ay - by))))


# --- forward transforms vs the oracle ------------------------------------------


def test_wgs84_to_gcj02_matches_oracle():
    x, y = wgs84_to_gcj02(LON, LAT)
    ox, oy = _oracle(prcoords.wgs_gcj, LON, LAT)
    assert _max_deg(x, y, ox, oy) < FORWARD_TOL_DEG


def test_gcj02_to_bd09_matches_oracle():
    gx, gy = _oracle(prcoords.wgs_gcj, LON, LAT)
    x, y = gcj02_to_bd09(gx, gy)
    ox, oy = _oracle(prcoords.gcj_bd, gx, gy)
    assert _max_deg(x, y, ox, oy) < FORWARD_TOL_DEG


def test_from_wgs84_bd09_matches_oracle():
    x, y = from_wgs84(LON, LAT, Crs.BD09)
    ox, oy = _oracle(prcoords.wgs_bd, LON, LAT)
    assert _max_deg(x, y, ox, oy) < FORWARD_TOL_DEG


def test_gcj02_offset_is_hundreds_of_metres_in_huaxi():
    # Why the module exists: storing a WeChat (GCJ-02) fix as WGS-84 is this far off.
    lon, lat = PLACES["huaxi_guiyang"]
    gx, gy = _oracle(prcoords.wgs_gcj, lon, lat)
    assert 100 < _metres(lon, lat, gx, gy) < 1000


# --- inverses -----------------------------------------------------------------


def test_gcj02_to_wgs84_round_trips_and_beats_oracle():
    gx, gy = wgs84_to_gcj02(LON, LAT)
    wx, wy = gcj02_to_wgs84(gx, gy)
    ours = _metres(LON, LAT, wx, wy)
    assert ours.max() < ROUND_TRIP_TOL_M
    assert _max_deg(wx, wy, LON, LAT) < 1e-9

    px, py = _oracle(prcoords.gcj_wgs_bored, gx, gy)
    theirs = _metres(LON, LAT, px, py)
    assert ours.max() <= theirs.max()


def test_gcj02_to_wgs84_inverts_the_oracle_forward():
    # Independent of our own forward: invert prcoords' GCJ-02 output.
    gx, gy = _oracle(prcoords.wgs_gcj, LON, LAT)
    wx, wy = gcj02_to_wgs84(gx, gy)
    assert _metres(LON, LAT, wx, wy).max() < ROUND_TRIP_TOL_M


def test_bd09_to_gcj02_round_trips_and_beats_oracle():
    gx, gy = wgs84_to_gcj02(LON, LAT)
    bx, by = _oracle(prcoords.gcj_bd, gx, gy)
    cx, cy = bd09_to_gcj02(bx, by)
    assert _max_deg(cx, cy, gx, gy) < BD_ROUND_TRIP_TOL_DEG

    px, py = _oracle(prcoords.bd_gcj_bored, bx, by)
    assert _metres(gx, gy, cx, cy).max() <= _metres(gx, gy, px, py).max()


def test_inverse_is_stable_near_the_box_edge():
    # The box edge is a discontinuity of GCJ-02; the inverse must still stay put.
    lon = np.concatenate([np.full(50, LON_MIN + 0.001), np.full(50, LON_MAX - 0.001)])
    lat = np.tile(np.linspace(LAT_MIN, LAT_MAX, 50), 2)
    for fn in (gcj02_to_wgs84, bd09_to_gcj02):
        x, y = fn(lon, lat)
        assert np.all(np.isfinite(x)) and np.all(np.isfinite(y))
        assert _max_deg(x, y, lon, lat) < 0.05


# --- outside China, NaN, shapes -----------------------------------------------


@pytest.mark.parametrize("lon, lat", OUTSIDE)
def test_outside_china_gcj02_is_identity(lon, lat):
    assert out_of_china(lon, lat)
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)
    assert wgs84_to_gcj02(lon, lat) == _oracle(prcoords.wgs_gcj, lon, lat)


def test_out_of_china_matches_oracle_box():
    lon, lat = np.meshgrid(
        np.r_[np.linspace(60, 150, 91), LON_MIN, LON_MAX],
        np.r_[np.linspace(-10, 70, 81), LAT_MIN, LAT_MAX],
    )
    in_china = [
        prcoords.sanity_in_china_p(prcoords.Coords(b, a)) for a, b in zip(lon.ravel(), lat.ravel())
    ]
    expected = ~np.array(in_china).reshape(lon.shape)
    np.testing.assert_array_equal(out_of_china(lon, lat), expected)
    assert not out_of_china(LON_MIN, LAT_MIN) and not out_of_china(LON_MAX, LAT_MAX)


ALL_FUNCTIONS = {
    f.__name__: f for f in (wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02)
}
for _c in Crs:
    ALL_FUNCTIONS[f"to_wgs84[{_c.value}]"] = functools.partial(to_wgs84, crs=_c)
    ALL_FUNCTIONS[f"from_wgs84[{_c.value}]"] = functools.partial(from_wgs84, crs=_c)


@pytest.mark.parametrize("fn", ALL_FUNCTIONS.values(), ids=ALL_FUNCTIONS.keys())
def test_nan_propagates_without_warning(fn):
    lon = np.array([np.nan, 106.6, np.nan, 116.4])
    lat = np.array([26.4, np.nan, np.nan, 39.9])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, y = fn(lon, lat)
        sx, sy = fn(np.nan, np.nan)
    # A NaN coordinate never yields a finite point...
    assert np.all(np.isnan(x[:3]) | np.isnan(y[:3]))
    assert np.isnan(sx) or np.isnan(sy)
    # ...and does not disturb its neighbours.
    ex, ey = fn(116.4, 39.9)
    assert (x[3], y[3]) == (ex, ey)


def test_scalar_input_gives_floats():
    lon, lat = PLACES["huaxi_guiyang"]
    for crs in Crs:
        x, y = from_wgs84(lon, lat, crs)
        assert isinstance(x, float) and isinstance(y, float)
        x, y = to_wgs84(x, y, crs)
        assert isinstance(x, float) and isinstance(y, float)
    assert isinstance(out_of_china(lon, lat), (bool, np.bool_))


def test_array_input_keeps_shape_and_matches_scalars():
    lon = LON[:12].reshape(3, 4)
    lat = LAT[:12].reshape(3, 4)
    before = lon.copy(), lat.copy()
    for crs in Crs:
        x, y = to_wgs84(lon, lat, crs)
        assert x.shape == y.shape == (3, 4)
        assert x.dtype == y.dtype == np.float64
        assert x[1, 2] == to_wgs84(lon[1, 2], lat[1, 2], crs)[0]
        assert y[1, 2] == to_wgs84(lon[1, 2], lat[1, 2], crs)[1]
    np.testing.assert_array_equal(lon, before[0])  # inputs never mutated
    np.testing.assert_array_equal(lat, before[1])


def test_lists_ints_and_broadcasting():
    x, y = wgs84_to_gcj02([106, 107, 108], 26)
    assert x.shape == y.shape == (3,)
    ex, ey = wgs84_to_gcj02(107.0, 26.0)
    assert (x[1], y[1]) == (ex, ey)
    assert out_of_china([10, 106], [26, 26]).tolist() == [True, False]


def test_identity_crs_returns_copies():
    lon, lat = LON[:5].copy(), LAT[:5].copy()
    x, _ = to_wgs84(lon, lat, Crs.CGCS2000)
    x[0] = 0.0
    assert lon[0] != 0.0


# --- to_wgs84 / from_wgs84 ------------------------------------------------------


@pytest.mark.parametrize("crs", list(Crs))
def test_every_crs_round_trips(crs):
    x, y = from_wgs84(LON, LAT, crs)
    wx, wy = to_wgs84(x, y, crs)
    assert _metres(LON, LAT, wx, wy).max() < ROUND_TRIP_TOL_M
    # The string value (as sent by the API) works too.
    assert _max_deg(*to_wgs84(x, y, crs.value), wx, wy) == 0.0


def test_to_wgs84_bd09_matches_oracle():
    bx, by = _oracle(prcoords.wgs_bd, LON, LAT)
    wx, wy = to_wgs84(bx, by, Crs.BD09)
    px, py = _oracle(prcoords.bd_wgs_bored, bx, by)
    assert _metres(wx, wy, px, py).max() < ROUND_TRIP_TOL_M
    assert _metres(LON, LAT, wx, wy).max() < ROUND_TRIP_TOL_M


def test_crs_values():
    assert [c.value for c in Crs] == ["wgs84", "cgcs2000", "gcj02", "bd09"]
    assert Crs("gcj02") is Crs.GCJ02 and Crs.GCJ02 == "gcj02"


@settings(max_examples=300, deadline=None)
@given(
    lon=st.floats(LON_MIN + EDGE_MARGIN, LON_MAX - EDGE_MARGIN),
    lat=st.floats(LAT_MIN + EDGE_MARGIN, LAT_MAX - EDGE_MARGIN),
    crs=st.sampled_from(list(Crs)),
)
def test_round_trip_property(lon, lat, crs):
    wx, wy = to_wgs84(*from_wgs84(lon, lat, crs), crs)
    assert _metres(lon, lat, wx, wy) < ROUND_TRIP_TOL_M
    assert max(abs(wx - lon), abs(wy - lat)) < 1e-9
