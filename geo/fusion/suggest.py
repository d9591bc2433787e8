"""Suggested fixes: regroup a misaligned grid into whole grids, merge a sliver, fill a small gap.

Regroup. For a coarse grid A that cuts fine units (a party grid cutting
comprehensive grids), the best set S of whole fine units maximises
IoU(A, ∪S) = (Σ_{B∈S} |A∩B|) / (|A| + Σ_{B∈S} |B∖A|), fine units being
disjoint. Adding B with share s = |A∩B|/|B| raises the IoU exactly when
s/(1−s) > IoU, so the optimum is a prefix of the fine units sorted by share:
the greedy pass below (highest share first, stop at the first that does not
help) is optimal, not a heuristic. The fix makes every fine unit A cuts whole
in one grid: in A when it is in S, else in the other grid holding most of it.
``iou_before`` is A against the whole units it holds today, ``iou_after`` A
against ∪S (after the fix A *is* ∪S, aligned).

Merge and fill. A sliver grid is retired into the neighbour of its layer and
parent with the longest shared border; a small gap goes to the grid of that
division with the longest border along it.

Identifiers are deterministic: built from the grids' ids and versions (and
for a regroup a hash of the whole plan), so the same state always gives the
same id, and an id computed before someone else's edit no longer matches:
applying it answers 412.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.fusion.pairs import Piece
from geo.fusion.rules import Rule
from geo.grids.editing import etag

SMALL_GAP_M2 = 5_000.0  # gaps up to this size get a fill suggestion; larger ones need a planner's drawing


@dataclass
class Regroup:
    rule: Rule
    grid: Piece  # any piece of A: carries A's id, code and version
    whole: list[int]  # fine units in S
    owners: dict[int, int]  # involved fine unit -> coarse grid that will hold it whole
    affected: dict[int, tuple[str, int]]  # coarse grid id -> (code, version)
    moves: list[dict[str, Any]] = field(default_factory=list)
    iou_before: float = 0.0
    iou_after: float = 0.0

    @property
    def id(self) -> str:
        plan = repr((self.rule.id, self.rule.min_share, self.rule.max_share, sorted(self.owners.items()),
                     sorted((g, v) for g, (_, v) in self.affected.items()), self.whole))
        digest = hashlib.blake2b(plan.encode(), digest_size=6).hexdigest()
        return f"regroup-r{self.rule.id}-g{self.grid.coarse_id}v{self.grid.coarse_version}-{digest}"

    def as_dict(self, codes: dict[int, str]) -> dict[str, Any]:
        return {"id": self.id, "kind": "regroup", "rule": self.rule.id, "grid": self.grid.coarse_code,
                "whole_units": sorted(codes[b] for b in self.whole), "moves": self.moves,
                "iou_before": round(self.iou_before, 4), "iou_after": round(self.iou_after, 4),
                "households_moved": sum(m["households"] for m in self.moves),
                "area_moved_m2": round(sum(m["area_m2"] for m in self.moves), 2),
                "affected": [{"id": g, "code": c, "etag": etag(g, v)} for g, (c, v) in sorted(self.affected.items())]}


def regroups(rule: Rule, pieces: list[Piece]) -> list[Regroup]:
    """One regroup per coarse grid that cuts a fine unit (only where the coarse side is a grid layer)."""
    if rule.coarse.layer_id is None:
        return []  # divisions are not edited here
    by_fine: dict[int, list[Piece]] = defaultdict(list)
    by_coarse: dict[int, list[Piece]] = defaultdict(list)
    for p in pieces:
        by_fine[p.fine_id].append(p)
        by_coarse[p.coarse_id].append(p)
    out = []
    for coarse_id, mine in sorted(by_coarse.items()):
        cut = [p for p in mine if rule.min_share < p.share < rule.max_share]
        if cut:
            out.append(_regroup(rule, mine, cut, by_fine))
    return out


def _regroup(rule: Rule, mine: list[Piece], cut: list[Piece], by_fine: dict[int, list[Piece]]) -> Regroup:
    area = next(p.coarse_area for p in cut if p.coarse_area is not None) or 0.0
    held = [p for p in mine if p.share >= rule.max_share]
    inter = sum(p.area for p in held)
    iou_before = inter / (area + sum(p.fine_area - p.area for p in held)) if area else 0.0
    chosen, inter, union = [], 0.0, area
    for p in sorted((p for p in mine if p.share > rule.min_share), key=lambda p: -p.share):
        if union and (inter + p.area) / (union + p.fine_area - p.area) > inter / union:
            chosen.append(p)
            inter, union = inter + p.area, union + p.fine_area - p.area
        else:
            break
    whole = {p.fine_id for p in chosen}
    a = cut[0]
    result = Regroup(rule, a, sorted(whole), {}, {a.coarse_id: (a.coarse_code, a.coarse_version)},
                     iou_before=iou_before, iou_after=inter / union if union else 0.0)
    for p in cut:
        others = [q for q in by_fine[p.fine_id] if q.coarse_id != a.coarse_id]
        if p.fine_id in whole or not others:
            owner = a
            result.whole = sorted(set(result.whole) | {p.fine_id})
        else:
            owner = max(others, key=lambda q: (q.area, -q.coarse_id))
        result.owners[p.fine_id] = owner.coarse_id
        for q in by_fine[p.fine_id]:
            result.affected[q.coarse_id] = (q.coarse_code, q.coarse_version)
            if q.coarse_id != owner.coarse_id:
                result.moves.append({"unit": q.fine_code, "from": q.coarse_code, "to": owner.coarse_code,
                                     "area_m2": round(q.area, 2), "households": q.households})
    return result


_MERGE_SQL = """
SELECT g.id, g.code, g.version, n.id AS nid, n.code AS ncode, n.version AS nversion, n.length
  FROM grid g JOIN LATERAL (
       SELECT n.id, n.code, n.version,
              ST_Length(ST_Intersection(ST_Boundary(n.geom), ST_Boundary(g.geom))::geography) AS length
         FROM grid n WHERE n.layer_id = g.layer_id AND n.id <> g.id AND n.division_id = g.division_id
          AND n.parent_grid_id IS NOT DISTINCT FROM g.parent_grid_id AND n.geom && g.geom
          AND ST_Relate(n.geom, g.geom, '****1****')
        ORDER BY length DESC, n.code LIMIT 1) n ON true
 WHERE g.code = ANY(:codes)
"""

_FILL_SQL = """
WITH gap AS (SELECT ST_GeomFromGeoJSON(:gap) AS g),
spot AS (SELECT ST_SetSRID(ST_PointOnSurface(g), 4326) AS p, ST_SetSRID(g, 4326) AS g FROM gap)
SELECT n.id, n.code, n.version, ST_X(s.p) AS x, ST_Y(s.p) AS y,
       ST_Length(ST_Intersection(ST_Boundary(n.geom), s.g)::geography) AS length
  FROM spot s JOIN grid n ON n.layer_id = :layer AND n.division_id = :division AND n.geom && s.g
   AND ST_Intersects(n.geom, s.g)
 ORDER BY length DESC, n.code LIMIT 1
"""


def merges(session: Session, slivers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each sliver grid: retire it into the neighbour with the longest shared border."""
    codes = [p["grids"][0] for p in slivers]
    if not codes:
        return []
    rows = session.execute(text(_MERGE_SQL), {"codes": codes}).all()
    return [{"id": f"merge-g{r.id}v{r.version}-g{r.nid}v{r.nversion}", "kind": "merge", "grid": r.code,
             "into": r.ncode, "shared_border_m": round(r.length, 2),
             "affected": [{"id": r.id, "code": r.code, "etag": etag(r.id, r.version)},
                          {"id": r.nid, "code": r.ncode, "etag": etag(r.nid, r.nversion)}]} for r in rows]


def fill(session: Session, layer_id: int, gap: dict[str, Any]) -> dict[str, Any] | None:
    """For one small gap: the grid of its division with the longest border along it."""
    r = session.execute(text(_FILL_SQL), {"gap": json.dumps(gap["geometry"]), "layer": layer_id,
                                          "division": gap["division_id"]}).first()
    if r is None or r.length <= 0:
        return None
    return {"id": f"fill-g{r.id}v{r.version}-{r.x:.7f}_{r.y:.7f}", "kind": "fill", "grid": r.code,
            "area_m2": gap["area_m2"], "households": gap["households"], "shared_border_m": round(r.length, 2),
            "affected": [{"id": r.id, "code": r.code, "etag": etag(r.id, r.version)}]}
