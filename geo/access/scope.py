"""Territorial scope: what a user may see, derived from their jurisdiction.

A jurisdiction is the whole platform (nothing set: admins and auditors of a
prefecture's platform 地级市平台), a county, a township or a village (a division,
covering everything below it), or a grid. It resolves to a set of grids of
one layer — the comprehensive grids of the villages under a division, or the
user's own grid — and an entity (household, camera, event, staff) is in scope
when its stored membership in that layer is one of those grids. This is the one
place the application filters by territory; the same scope is handed to
PostgreSQL with ``set_config(..., true)`` so row-level security on personal
data enforces it a second time.

Several counties share one database (migration 0011). A scope also names the
counties it lies in (``counties``), so the hot queries can carry the county and
probe the indexes that lead with ``county_code``; a county admin's scope is the
county division's, so nothing of another county is ever in it. Only the
platform scope crosses counties.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.security import Account
from geo.models.users import AppUser


@dataclass(frozen=True)
class Scope:
    everything: bool
    layer_id: int | None = None
    grids: tuple[int, ...] = ()  # grids of ``layer_id`` that bound the territory
    visible_grids: tuple[int, ...] = ()  # every grid (any layer) the user may list
    visible_divisions: tuple[int, ...] = ()  # divisions inside the jurisdiction, and its ancestors
    own_divisions: tuple[int, ...] = ()  # divisions inside the jurisdiction only (history of retired grids)
    counties: tuple[str, ...] = ()  # county codes the jurisdiction lies in; empty for the whole platform

    @classmethod
    def platform(cls) -> "Scope":
        """Everything, in every county."""
        return cls(everything=True)

    @classmethod
    def county(cls) -> "Scope":
        """The unrestricted scope (the whole platform; named from when a database held one county)."""
        return cls.platform()

    def holds_county(self, county_code: str) -> bool:
        """Whether anything of ``county_code`` can be in this scope."""
        return self.everything or county_code in self.counties


def resolve(session: Session, user: AppUser | Account) -> Scope:
    if user.grid_id is not None:
        return _grid_scope(session, user.grid_id)
    if user.division_id is not None:
        return _division_scope(session, user.division_id)
    return Scope.county()


def _ancestors(session: Session, division_id: int) -> list[int]:
    return list(session.execute(text("""
        WITH RECURSIVE up AS (SELECT id, parent_id FROM division WHERE id = :d
                              UNION ALL SELECT p.id, p.parent_id FROM division p JOIN up ON p.id = up.parent_id)
        SELECT id FROM up"""), {"d": division_id}).scalars())


def _county_of_division(session: Session, division_id: int) -> tuple[str, ...]:
    return tuple(session.execute(text("SELECT county_code FROM division WHERE id = :d"), {"d": division_id}).scalars())


def _division_scope(session: Session, division_id: int) -> Scope:
    below = list(session.execute(text("""
        WITH RECURSIVE down AS (SELECT id FROM division WHERE id = :d
                                UNION ALL SELECT c.id FROM division c JOIN down ON c.parent_id = down.id)
        SELECT id FROM down"""), {"d": division_id}).scalars())
    layer = session.execute(text("SELECT id FROM grid_layer WHERE code = 'comprehensive'")).scalar_one()
    counties = _county_of_division(session, division_id)
    grids = session.execute(  # (county_code, division_id) index: the county is carried
        text("SELECT id, layer_id FROM grid WHERE county_code = ANY(:c) AND division_id = ANY(:below)"),
        {"below": below, "c": list(counties)},
    ).all()
    return Scope(
        everything=False,
        layer_id=layer,
        grids=tuple(g for g, lid in grids if lid == layer),
        visible_grids=tuple(g for g, _ in grids),
        visible_divisions=tuple(sorted(set(below) | set(_ancestors(session, division_id)))),
        own_divisions=tuple(sorted(below)),
        counties=counties,
    )


def _grid_scope(session: Session, grid_id: int) -> Scope:
    layer, division = session.execute(
        text("SELECT layer_id, division_id FROM grid WHERE id = :g"), {"g": grid_id}).one()
    children = list(session.execute(text("SELECT id FROM grid WHERE parent_grid_id = :g"), {"g": grid_id}).scalars())
    return Scope(
        everything=False,
        layer_id=layer,
        grids=(grid_id,),
        visible_grids=(grid_id, *children),
        visible_divisions=tuple(_ancestors(session, division)),
        counties=_county_of_division(session, division),
    )


def member_filter(scope: Scope, kind: str, alias: str) -> tuple[str, dict[str, object]]:
    """SQL ``" AND …"`` keeping the rows of ``alias`` (entities of member ``kind``: household, camera,
    event, staff) inside ``scope``, and its parameters; empty for the whole county. The one spelling
    of this module's rule: an entity is in scope when its membership in the scope's layer is one of
    the scope's grids."""
    if scope.everything:
        return "", {}
    return (f" AND {alias}.id IN (SELECT sm.entity_id FROM grid_membership sm WHERE sm.kind = '{kind}'"
            " AND sm.county_code = ANY(:s_counties) AND sm.layer_id = :s_layer AND sm.grid_id = ANY(:s_grids))",
            {"s_layer": scope.layer_id, "s_grids": list(scope.grids), "s_counties": list(scope.counties)})


def county_filter(scope: Scope, alias: str) -> tuple[str, dict[str, object]]:
    """SQL ``" AND alias.county_code = ANY(…)"`` for a scope inside some counties (empty for the
    platform): lets a scan of a big table (events by time) start on its county-leading index."""
    if scope.everything:
        return "", {}
    return f" AND {alias}.county_code = ANY(:s_counties)", {"s_counties": list(scope.counties)}


def bind(session: Session, scope: Scope) -> None:
    """Hand the scope to PostgreSQL for this transaction only (row-level security reads it)."""
    session.execute(
        text("SELECT set_config('gridmap.scope_all', :all, true), set_config('gridmap.scope_layer', :layer, true),"
             " set_config('gridmap.scope_grids', :grids, true)"),
        {"all": "on" if scope.everything else "off", "layer": str(scope.layer_id or ""),
         "grids": "{" + ",".join(map(str, scope.grids)) + "}"},
    )
