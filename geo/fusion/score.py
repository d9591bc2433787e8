"""Fusion scores 融合度: the share of area and of households where the nets agree, per township and county.

Each check contributes what it looked at and what it found wrong, per township:
- a rule (fine in coarse): looked at the fine units' area and households; wrong
  is, for every cut unit, what lies outside its largest piece (moving that
  much would make the unit whole: the disagreement, counted once per unit
  however many grids cut it);
- a layer's topology: looked at the township's area and households once per
  layer; wrong is the area and households of its overlaps, gaps, slivers and
  parts outside the parent.
score = 1 − Σ wrong / Σ looked at, for area and for households separately.
A perfectly fused township scores 1. Townships are ranked worst first (area,
then households).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from geo.fusion.pairs import Piece
from geo.fusion.rules import Rule


@dataclass
class Tally:
    area: float = 0.0
    bad_area: float = 0.0
    households: int = 0
    bad_households: int = 0
    problems: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def add(self, area: float, households: int, bad_area: float = 0.0, bad_households: int = 0) -> None:
        self.area += area
        self.households += households
        self.bad_area += bad_area
        self.bad_households += bad_households

    def flag(self, kind: str) -> None:
        self.problems += 1
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {"area_score": round(1 - self.bad_area / self.area, 6) if self.area else 1.0,
                "household_score": round(1 - self.bad_households / self.households, 6) if self.households else 1.0,
                "misaligned_area_m2": round(self.bad_area, 2), "misaligned_households": self.bad_households,
                "problems": self.problems, "by_kind": self.by_kind}


def tally_rule(tallies: dict[int | None, Tally], rule: Rule, pieces: list[Piece], township_of: dict[int, int | None]) -> None:
    by_fine: dict[int, list[Piece]] = defaultdict(list)
    for p in pieces:
        by_fine[p.fine_id].append(p)
    for parts in by_fine.values():
        first = parts[0]
        biggest = max(parts, key=lambda p: p.area)
        cut = biggest.share < rule.max_share
        t = tallies[township_of.get(first.division_id)]
        t.add(first.fine_area, first.fine_households,
              first.fine_area - biggest.area if cut else 0.0,
              first.fine_households - biggest.households if cut else 0)
    for p in pieces:
        if rule.min_share < p.share < rule.max_share:
            tallies[township_of.get(p.division_id)].flag("misalignment")


def tally_layer(tallies: dict[int | None, Tally], problems: list[dict[str, Any]],
                townships: dict[int, tuple[float, int]], township_of: dict[int, int | None]) -> None:
    for township, (area, households) in townships.items():
        tallies[township].add(area, households)
    for p in problems:
        t = tallies[township_of.get(p["division_id"])]
        t.add(0.0, 0, p["area_m2"], p["households"])
        t.flag(p["kind"])


def ranked(tallies: dict[int | None, Tally], names: dict[int, tuple[str, str]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Townships worst first, and the county as the sum of everything."""
    county = Tally()
    rows = []
    for township, t in tallies.items():
        county.add(t.area, t.households, t.bad_area, t.bad_households)
        county.problems += t.problems
        for k, n in t.by_kind.items():
            county.by_kind[k] = county.by_kind.get(k, 0) + n
        if township is not None:
            code, name = names[township]
            rows.append({"code": code, "name": name, **t.as_dict()})
    rows.sort(key=lambda r: (r["area_score"], r["household_score"], r["code"]))
    return rows, county.as_dict()
