"""The fusion analysis on hand-made villages with known geometry, drawn in metres.

Two villages are built inside the test's transaction, far from the demo
district, in a transverse Mercator frame centred on them (scale error below
1e-6 over a kilometre). Expected areas and household counts are computed here
with Shapely from the same rectangles, independently of the SQL under test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.fusion.analysis import analyse
from geo.locating.assign import assign_entities
from geo.models import MemberKind

TO_DEGREES = Transformer.from_crs("+proj=tmerc +lon_0=100 +lat_0=30 +ellps=GRS80 +units=m", "EPSG:4326",
                                  always_xy=True)
COUNTY, TOWNSHIP = "999999000000", "999999001000"
VILLAGE = box(0, 0, 1000, 600)
# The broken village: comprehensive grids C1..C4, party grids P1, P2.
C1, C4 = box(0, 0, 400, 598), box(0, 598, 400, 600)  # C4: a 2 m strip, a sliver
C2 = box(380, 0, 1030, 300)  # overlaps C1 by 20 m, runs 30 m outside the village
GAP = box(950, 550, 1000, 600)
C3 = box(400, 300, 1000, 600).difference(GAP)
P1, P2 = box(0, 0, 500, 600), box(500, 0, 1000, 600)  # the line x=500 cuts C2 and C3


def _degrees(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(TO_DEGREES.transform(xy[:, 0], xy[:, 1])))


def _wkt(geom: shapely.Geometry) -> str:
    densified = shapely.segmentize(geom, 10.0)  # straight in metres stays (almost) straight in degrees
    return _degrees(MultiPolygon([densified]) if densified.geom_type == "Polygon" else densified).wkt


@dataclass
class Village:
    code: str
    grids: dict[str, tuple[int, str]]  # name -> (id, code)
    homes: np.ndarray  # (n, 2) metres


def _build(session: Session, seq: int, grids: dict[str, tuple[str, shapely.Geometry]], offset: float) -> Village:
    """A village at ``offset`` metres east, its grids, and a household every 25 m (off every edge)."""
    layers = dict(session.execute(text("SELECT code, id FROM grid_layer")).all())
    ids = dict(session.execute(text("SELECT code, id FROM division")).all())
    move = lambda g: shapely.affinity.translate(g, offset)  # noqa: E731
    if COUNTY not in ids:
        for code, level, parent, geom in ((COUNTY, "county", None, box(-100, -100, 5000, 800)),
                                          (TOWNSHIP, "township", COUNTY, box(-100, -100, 5000, 800))):
            ids[code] = session.execute(text("""
                INSERT INTO division (code, name, level, parent_id, geom)
                VALUES (:c, :c, CAST(:l AS division_level), :p, ST_GeomFromText(:g, 4326)) RETURNING id"""),
                {"c": code, "l": level, "p": ids.get(parent), "g": _wkt(geom)}).scalar_one()
    code = TOWNSHIP[:9] + f"{seq:03d}"
    vid = session.execute(text("""
        INSERT INTO division (code, name, level, parent_id, geom)
        VALUES (:c, '测试村', 'village', :p, ST_ForcePolygonCCW(ST_GeomFromText(:g, 4326))) RETURNING id"""),
        {"c": code, "p": ids[TOWNSHIP], "g": _wkt(move(VILLAGE))}).scalar_one()
    out = {}
    for n, (name, (layer, geom)) in enumerate(sorted(grids.items()), start=1):
        gcode = f"{code}{'01' if layer == 'comprehensive' else '02'}{n:03d}"
        out[name] = (session.execute(text("""
            INSERT INTO grid (code, layer_id, division_id, name, notes, geom, version)
            VALUES (:c, :l, :d, :n, '', ST_ForcePolygonCCW(ST_GeomFromText(:g, 4326)), 1) RETURNING id"""),
            {"c": gcode, "l": layers[layer], "d": vid, "n": name, "g": _wkt(move(geom))}).scalar_one(), gcode)
    xs, ys = np.meshgrid(np.arange(12.5, 1000, 25.0), np.arange(12.5, 600, 25.0))
    homes = np.column_stack([xs.ravel(), ys.ravel()])
    lon, lat = TO_DEGREES.transform(homes[:, 0] + offset, homes[:, 1])
    hids = list(session.execute(text("""
        INSERT INTO household (address, division_id, residents, geom)
        SELECT '测试', :d, 1, ST_SetSRID(ST_MakePoint(x, y), 4326) FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) p(x, y)
        RETURNING id"""), {"d": vid, "x": lon.tolist(), "y": lat.tolist()}).scalars())
    assign_entities(session, kind=MemberKind.HOUSEHOLD, entity_ids=hids)
    return Village(code, out, homes)


def _count(homes: np.ndarray, geom: shapely.Geometry) -> int:
    return int(shapely.contains_xy(geom, homes[:, 0], homes[:, 1]).sum())


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-3 * b


@pytest.fixture
def broken(session: Session) -> Village:
    return _build(session, 201, {"C1": ("comprehensive", C1), "C2": ("comprehensive", C2),
                                 "C3": ("comprehensive", C3), "C4": ("comprehensive", C4),
                                 "P1": ("party", P1), "P2": ("party", P2)}, 0.0)


def test_every_problem_is_found_with_its_area_and_households(session: Session, broken: Village) -> None:
    report = analyse(session, Scope.county(), division_code=broken.code, layer_codes=["comprehensive", "party"])
    code = {name: c for name, (_, c) in broken.grids.items()}
    by_kind: dict[str, list[dict]] = {}
    for p in report["problems"]:
        by_kind.setdefault(p["kind"], []).append(p)
    homes = broken.homes

    (overlap,) = by_kind["overlap"]
    assert set(overlap["grids"]) == {code["C1"], code["C2"]}
    assert _close(overlap["area_m2"], C1.intersection(C2).area)
    assert overlap["households"] == _count(homes, C1.intersection(C2))

    (gap,) = by_kind["gap"]
    assert _close(gap["area_m2"], GAP.area) and gap["households"] == _count(homes, GAP)

    (sliver,) = by_kind["sliver"]
    assert sliver["grids"] == [code["C4"]] and _close(sliver["area_m2"], C4.area)

    (outside,) = by_kind["outside_parent"]
    assert outside["grids"] == [code["C2"]] and _close(outside["area_m2"], C2.difference(VILLAGE).area)

    # Misalignments: each comprehensive grid that a party grid cuts between 2% and 98% of its area.
    # Households go by assignment: a household in the C1/C2 overlap belongs to C1 (smaller code).
    expected = {}
    for c in ("C1", "C2", "C3", "C4"):
        shape = {"C1": C1, "C2": C2, "C3": C3, "C4": C4}[c]
        for p, party in (("P1", P1), ("P2", P2)):
            share = shape.intersection(party).area / shape.area
            if 0.02 < share < 0.98:
                mine = shape.difference(C1) if c == "C2" else shape
                expected[(code[p], code[c])] = (shape.intersection(party).area, _count(homes, mine.intersection(party)))
    found = {tuple(p["grids"]): p for p in by_kind["misalignment"]}
    assert set(found) == set(expected) and len(expected) == 4
    for key, (area, households) in expected.items():
        assert _close(found[key]["area_m2"], area), key
        assert found[key]["households"] == households, key
    # The party layer itself is clean, and nothing else was reported.
    assert set(by_kind) == {"overlap", "gap", "sliver", "outside_parent", "misalignment"}
    assert report["containment"][0]["cut"] == 2 and not report["containment"][0]["nests"]
    assert report["score"]["area_score"] < 1


def test_suggestions_for_the_broken_village(session: Session, broken: Village) -> None:
    report = analyse(session, Scope.county(), division_code=broken.code, layer_codes=["comprehensive", "party"])
    code = {name: c for name, (_, c) in broken.grids.items()}
    kinds = {s["kind"]: s for s in report["suggestions"]}
    assert kinds["merge"]["grid"] == code["C4"] and kinds["merge"]["into"] == code["C1"]  # 400 m shared border
    assert kinds["fill"]["grid"] == code["C3"]
    regroups = {s["grid"]: s for s in report["suggestions"] if s["kind"] == "regroup"}
    assert set(regroups) == {code["P1"], code["P2"]}
    # P2 holds 77% of C2 and 83% of C3: its best whole set takes both; P1 keeps C1 and C4.
    p2 = regroups[code["P2"]]
    assert p2["whole_units"] == sorted([code["C2"], code["C3"]])
    whole = C2.union(C3)
    assert _close(p2["iou_after"], P2.intersection(whole).area / P2.union(whole).area)
    assert p2["iou_before"] == 0  # it holds no comprehensive grid whole today
    assert all(p.get("suggestion") for p in report["problems"] if p["kind"] in ("sliver", "gap", "misalignment"))


def test_nothing_is_reported_on_a_perfectly_fused_village(session: Session) -> None:
    left, right = box(0, 0, 500, 600), box(500, 0, 1000, 600)
    fused = _build(session, 202, {"C1": ("comprehensive", box(0, 0, 500, 300)),
                                  "C2": ("comprehensive", box(0, 300, 500, 600)),
                                  "C3": ("comprehensive", right), "P1": ("party", left), "P2": ("party", right)},
                   2000.0)
    report = analyse(session, Scope.county(), division_code=fused.code, layer_codes=["comprehensive", "party"])
    assert report["problems"] == [] and report["suggestions"] == []
    assert report["score"]["area_score"] == 1 and report["score"]["household_score"] == 1
    assert report["containment"][0]["nests"] and report["containment"][0]["units"] == 3


def test_the_score_is_the_share_of_area_where_the_nets_agree(session: Session, broken: Village) -> None:
    report = analyse(session, Scope.county(), division_code=broken.code, layer_codes=["comprehensive", "party"])
    fine = {"C1": C1, "C2": C2, "C3": C3, "C4": C4}
    # Looked at: the village once per layer, and every comprehensive grid for the rule.
    looked = 2 * VILLAGE.area + sum(g.area for g in fine.values())
    # Wrong: the comprehensive layer's problems, and for each cut grid what lies outside its largest piece.
    wrong = C1.intersection(C2).area + GAP.area + C4.area + C2.difference(VILLAGE).area
    for g in (C2, C3):
        wrong += g.area - max(g.intersection(P1).area, g.intersection(P2).area)
    assert abs(report["score"]["area_score"] - (1 - wrong / looked)) < 1e-4
    (place,) = report["townships"]  # the village itself, when the village is what was asked for
    assert place["code"] == broken.code and place["area_score"] == report["score"]["area_score"]


def test_the_sliver_merge_and_the_gap_fill_apply_and_leave_nothing_behind(session: Session, broken: Village) -> None:
    from geo.errors import PreconditionFailed
    from geo.fusion.apply import apply_suggestions
    from geo.privacy.audit import Actor

    layers = ["comprehensive", "party"]
    report = analyse(session, Scope.county(), division_code=broken.code, layer_codes=layers)
    fixes = [s for s in report["suggestions"] if s["kind"] in ("merge", "fill")]
    expected = {a["id"]: int(a["etag"].split("v")[1].rstrip('"')) for s in fixes for a in s["affected"]}
    stale = {**expected, fixes[0]["affected"][0]["id"]: 7}
    with pytest.raises(PreconditionFailed):
        apply_suggestions(session, Actor(None, "test"), Scope.county(), [s["id"] for s in fixes], stale)
    results = apply_suggestions(session, Actor(None, "test"), Scope.county(), [s["id"] for s in fixes], expected)
    assert [r["status"] for r in results] == ["applied", "applied"]
    after = analyse(session, Scope.county(), division_code=broken.code, layer_codes=layers)
    kinds = {p["kind"] for p in after["problems"]}
    assert "sliver" not in kinds and "gap" not in kinds
    assert len([p for p in after["problems"] if p["kind"] == "overlap"]) == 1  # the old one, no new one
    code = {name: c for name, (_, c) in broken.grids.items()}
    c3 = session.execute(text("SELECT ST_Area(geom::geography) FROM grid WHERE code = :c"), {"c": code["C3"]}).scalar()
    assert _close(c3, C3.area + GAP.area)
