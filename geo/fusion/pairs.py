"""Between two nets: which coarse units each fine unit touches, with the shares of area and households.

One set-based statement per rule (geo/models/fusion.py explains fine and
coarse), plus one for the households of the cut units. Measured on the
benchmark district (two layers of 10,000 grids): ST_Relate('2********') on
every bounding-box pair took 1.25 s, because most pairs are neighbours that
only share an edge. Instead, each bounding-box pair is first tested with
ST_Covers (the coarse polygon is prepared once per outer row; a neighbour
fails on its bounding box at once): a fine unit covered by a coarse unit is
aligned, its share is 1 and no intersection is computed. Only the units no
single coarse unit covers — a few per thousand in a real county — get
ST_Intersection, computed once (a CTE kept materialised: inlined, PostgreSQL
evaluated it twice) and kept where it has an area. 0.5 s for the pair, same
answer. ST_Overlaps is never used: it is false under containment.

Areas are on the spheroid (geography), in m². Households are counted from
the membership index (grid_membership, or household.division_id for a
village), so a household on an edge counts once, in the grid the assignment
rule gave it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.fusion.rules import Rule, Side

# Table and condition per kind of side: a grid layer, or a division level. Fixed strings only; every value is
# bound. {a} is the table alias, {p} the parameter prefix.
_TABLE = {"layer": ("grid", "{a}.layer_id = :{p}_layer", "{a}.version", "{a}.division_id"),
          "level": ("division", "{a}.level = CAST(:{p}_level AS division_level)", "0", "{a}.id")}
# Households per unit (an index-only count: grid ids are unique across layers, so no layer filter).
_HOUSEHOLDS_IN = {
    "layer": "SELECT count(*) FROM grid_membership m WHERE m.grid_id = {a}.id AND m.kind = 'household'",
    "village": "SELECT count(*) FROM household h WHERE h.division_id = {a}.id",
    "township": "SELECT count(*) FROM household h JOIN division v ON v.id = h.division_id WHERE v.parent_id = {a}.id",
}
# The households of the units in :cut, as (household id, unit id).
_HOUSEHOLDS_OF = {
    "layer": "SELECT entity_id AS hid, grid_id AS unit FROM grid_membership"
             " WHERE kind = 'household' AND grid_id = ANY(:cut)",
    "village": "SELECT id AS hid, division_id AS unit FROM household WHERE division_id = ANY(:cut)",
    "township": "SELECT h.id AS hid, v.parent_id AS unit FROM household h JOIN division v ON v.id = h.division_id"
                " WHERE v.parent_id = ANY(:cut)",
}
# Which unit of a side a household (y.hid) is in.
_UNIT_OF = {
    "layer": "SELECT entity_id AS hid, grid_id AS unit FROM grid_membership"
             " WHERE kind = 'household' AND layer_id = :coarse_layer",
    "village": "SELECT id AS hid, division_id AS unit FROM household",
    "township": "SELECT h.id AS hid, v.parent_id AS unit FROM household h JOIN division v ON v.id = h.division_id",
}


def _key(side: Side) -> str:
    return "layer" if side.layer_id is not None else str(side.level)


def _fragments(side: Side, alias: str, prefix: str) -> dict[str, str]:
    table, cond, version, division = _TABLE["layer" if side.layer_id is not None else "level"]
    return {"table": table, "cond": cond.format(a=alias, p=prefix), "version": version.format(a=alias),
            "division": division.format(a=alias), "households": _HOUSEHOLDS_IN[_key(side)].format(a=alias)}


_PAIRS_SQL = """
WITH cand AS MATERIALIZED (
    SELECT f.id AS fid, c.id AS cid, ST_Covers(c.geom, f.geom) AS covered
      FROM {c_table} c JOIN {f_table} f ON f.geom && c.geom
     WHERE {c_cond} AND {f_cond} AND {f_division} = ANY(:region)
       AND (CAST(:near AS int) IS NULL OR f.geom && (SELECT n.geom FROM grid n WHERE n.id = :near)
            AND ST_Intersects(f.geom, (SELECT n.geom FROM grid n WHERE n.id = :near)))),
cut AS MATERIALIZED (
    SELECT k.fid, k.cid FROM cand k
     WHERE NOT k.covered AND NOT EXISTS (SELECT 1 FROM cand w WHERE w.fid = k.fid AND w.covered)),
cut_pieces AS MATERIALIZED (
    SELECT k.fid, k.cid, ST_CollectionExtract(ST_Intersection(c.geom, f.geom), 3) AS geom
      FROM cut k JOIN {f_table} f ON f.id = k.fid JOIN {c_table} c ON c.id = k.cid),
pieces AS (
    SELECT k.fid, k.cid, NULL::geometry AS geom FROM cand k WHERE k.covered
    UNION ALL
    SELECT * FROM cut_pieces WHERE NOT ST_IsEmpty(geom)),
fine AS MATERIALIZED (SELECT f.id, f.code, {f_version} AS version, {f_division} AS division_id,
                ST_Area(f.geom::geography) AS area, ({f_households}) AS households
           FROM {f_table} f WHERE f.id IN (SELECT fid FROM cand))
SELECT s.*, CASE WHEN s.area > :min_share * s.fine_area AND s.area < :max_share * s.fine_area
                 THEN ST_AsGeoJSON(s.geom, 15) END AS geometry
  FROM (SELECT p.fid, f.code AS fine_code, f.version AS fine_version, f.division_id,
               p.cid, c.code AS coarse_code, {c_version} AS coarse_version, f.area AS fine_area,
               CASE WHEN p.geom IS NULL THEN f.area ELSE ST_Area(p.geom::geography) END AS area,
               f.households AS fine_households, p.geom IS NULL AS whole, p.geom,
               CASE WHEN p.geom IS NOT NULL THEN ST_Area(c.geom::geography) END AS coarse_area
          FROM pieces p JOIN fine f ON f.id = p.fid JOIN {c_table} c ON c.id = p.cid) s
 WHERE s.area > 0
"""

# Households of each piece of a cut unit: the households of the cut fine units, by their coarse unit.
_CUT_HOUSEHOLDS_SQL = "SELECT x.unit, y.unit, count(*) FROM ({of}) x JOIN ({unit_of}) y ON y.hid = x.hid GROUP BY 1, 2"


@dataclass(frozen=True)
class Piece:
    """The part of one fine unit inside one coarse unit."""

    fine_id: int
    fine_code: str
    fine_version: int
    division_id: int
    coarse_id: int
    coarse_code: str
    coarse_version: int
    fine_area: float  # m²
    area: float  # m² of the piece
    fine_households: int
    households: int  # in the piece
    whole: bool  # the fine unit lies whole in the coarse one
    coarse_area: float | None  # m², given for the pieces of cut units only
    geometry: str | None  # GeoJSON, only for misaligned pieces (share between the rule's thresholds)

    @property
    def share(self) -> float:
        return self.area / self.fine_area if self.fine_area > 0 else 0.0

    @property
    def household_share(self) -> float:
        return self.households / self.fine_households if self.fine_households else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"fine": self.fine_code, "coarse": self.coarse_code, "area_m2": round(self.area, 2),
                "share_area": round(self.share, 6), "households": self.households,
                "share_households": round(self.household_share, 6)}


def pair_pieces(session: Session, rule: Rule, region: list[int], near: int | None = None) -> list[Piece]:
    """Every piece (fine unit ∩ coarse unit with a shared area) of the fine units in ``region``
    (and touching grid ``near``, when given: what one suggestion needs).

    Two statements: the pieces, then the households of the cut units only. Separate so that the
    planner sees how many units are cut (an array of ids): a handful gets index lookups, a county
    where nothing aligns gets one hash join.
    """
    f = _fragments(rule.fine, "f", "fine")
    c = _fragments(rule.coarse, "c", "coarse")
    sql = _PAIRS_SQL.format(**{f"f_{k}": v for k, v in f.items()}, **{f"c_{k}": v for k, v in c.items()})
    params: dict[str, Any] = {"region": region, "min_share": rule.min_share, "max_share": rule.max_share,
                              "near": near}
    for prefix, side in (("fine", rule.fine), ("coarse", rule.coarse)):
        if side.layer_id is not None:
            params[f"{prefix}_layer"] = side.layer_id
        else:
            params[f"{prefix}_level"] = side.level
    rows = session.execute(text(sql), params).all()
    cut = sorted({r.fid for r in rows if not r.whole})
    split: dict[tuple[int, int], int] = {}
    if cut:
        households = _CUT_HOUSEHOLDS_SQL.format(of=_HOUSEHOLDS_OF[_key(rule.fine)], unit_of=_UNIT_OF[_key(rule.coarse)])
        split = {(a, b): n for a, b, n in session.execute(text(households), {**params, "cut": cut})}
    return [Piece(r.fid, r.fine_code, r.fine_version, r.division_id, r.cid, r.coarse_code, r.coarse_version,
                  float(r.fine_area), float(r.area), int(r.fine_households),
                  int(r.fine_households) if r.whole else split.get((r.fid, r.cid), 0), r.whole,
                  None if r.coarse_area is None else float(r.coarse_area), r.geometry)
            for r in rows]
