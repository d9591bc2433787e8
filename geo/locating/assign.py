"""Assign households, cameras, events and staff to the grid covering them in every layer.

Rule for a point on a shared edge (or a corner): it is covered by several grids
of the layer, and it belongs to the one with the **smallest grid code**. The
same rule is used by ``geo.locating.locate`` so a lookup and a stored assignment never
disagree.

Bulk assignment is set-based: a LATERAL join loops over the layer's grids and
probes the point index with each, so each polygon's prepared geometry serves
all of its points; the shape is fixed, whatever the statistics say (the issue
that asked for this saw PostgreSQL's own plan take 12–19 s against 0.65–2.3 s
for the loop over polygons; on our generated data both took 1.1–1.6 s per
layer, see bench/README.md). Results are written with one INSERT … SELECT
into the narrow ``grid_membership`` table instead of UPDATEs of wide entity
rows: 1M households into three 10k-grid layers in 13 s against 70–81 s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from geo.db import PreparedStatement, register_prepared
from geo.models.membership import MemberKind

# Table and geometry column that place each kind of entity on the map.
ENTITY_GEOMETRY: dict[MemberKind, tuple[str, str]] = {
    MemberKind.HOUSEHOLD: ("household", "geom"),
    MemberKind.CAMERA: ("camera", "geom"),
    MemberKind.EVENT: ("event", "geom"),
    MemberKind.STAFF: ("staff", "home"),
}


def _layer_ids(session: Session, layer_ids: Sequence[int] | None) -> list[int]:
    if layer_ids is not None:
        return list(layer_ids)
    return list(session.execute(text("SELECT id FROM grid_layer ORDER BY sort_order, id")).scalars())


def assign_layer(session: Session, *, kind: MemberKind, layer_id: int, county: str | None = None) -> int:
    """Recompute the membership of every entity of ``kind`` in one layer (of one county, when given:
    a county loaded beside others leaves theirs alone); returns rows written."""
    table, column = ENTITY_GEOMETRY[kind]
    in_county, x_in, g_in = ("", "", "") if county is None else (
        " AND county_code = :county", " AND x.county_code = :county", " AND g.county_code = :county")
    session.execute(
        text(f"DELETE FROM grid_membership WHERE kind = :kind AND layer_id = :layer{in_county}"),
        {"kind": kind.value, "layer": layer_id, "county": county},
    )
    # county_code written from the grid: the membership trigger (migration 0011) then skips its lookup.
    result = session.execute(
        text(
            f"""
            INSERT INTO grid_membership (kind, entity_id, layer_id, grid_id, county_code)
            SELECT DISTINCT ON (e.id) CAST(:kind AS member_kind), e.id, :layer, g.id, g.county_code
              FROM grid g
              CROSS JOIN LATERAL (
                    SELECT x.id FROM {table} x WHERE ST_Covers(g.geom, x.{column}){x_in}
              ) e
             WHERE g.layer_id = :layer{g_in}
             ORDER BY e.id, g.code
            """
        ),
        {"kind": kind.value, "layer": layer_id, "county": county},
    )
    return result.rowcount


def assign_all(
    session: Session, *, kinds: Iterable[MemberKind] = tuple(MemberKind), layer_ids: Sequence[int] | None = None,
    county: str | None = None,
) -> dict[tuple[MemberKind, int], int]:
    """Recompute membership for the given kinds in the given layers (default: everything), of one
    county or of all."""
    counts: dict[tuple[MemberKind, int], int] = {}
    layers = _layer_ids(session, layer_ids)
    for kind in kinds:
        for layer in layers:
            counts[(kind, layer)] = assign_layer(session, kind=kind, layer_id=layer, county=county)
    return counts


def _insert_sql(kind: MemberKind, only: str) -> str:
    table, column = ENTITY_GEOMETRY[kind]
    return f"""
        INSERT INTO grid_membership (kind, entity_id, layer_id, grid_id)
        SELECT DISTINCT ON (x.id, g.layer_id) CAST('{kind.value}' AS member_kind), x.id, g.layer_id, g.id
          FROM {table} x
          JOIN grid g ON ST_Covers(g.geom, x.{column}) {only}
         WHERE x.id = ANY(:ids)
         ORDER BY x.id, g.layer_id, g.code
        RETURNING entity_id, layer_id, (SELECT code FROM grid WHERE id = grid_id)
    """


# Every layer, prepared per kind: a new report is assigned on each intake, and planning this join
# took longer than running it for one point.
_ASSIGN_EVERY_LAYER = {kind: register_prepared(PreparedStatement(
    name=f"gridmap_assign_{kind.value}", params=(("ids", "bigint[]"),), sql=_insert_sql(kind, "")))
    for kind in MemberKind}


def assign_entities(
    session: Session, *, kind: MemberKind, entity_ids: Sequence[int], layer_id: int | None = None,
    new: bool = False,
) -> dict[tuple[int, int], str]:
    """(Re)assign a few entities in every layer, or in one: a new report, a moved camera, or
    everything under a grid edit (geo/grids/reassign.py). Returns {(entity, layer): grid code}.
    ``new``: the entities were just created and have no membership to clear (one round trip less)."""
    if not entity_ids:
        return {}
    params = {"kind": kind.value, "ids": list(entity_ids), "layer": layer_id}
    # A literal layer condition rather than "(:layer IS NULL OR layer_id = :layer)", which the
    # planner cannot use to narrow the join (a split measured 175 ms with it, 60 ms without).
    only = "AND {col} = :layer" if layer_id is not None else ""
    if not new:
        session.execute(
            text(f"DELETE FROM grid_membership WHERE kind = :kind AND entity_id = ANY(:ids) "
                 f"{only.format(col='layer_id')}"),
            params,
        )
    if layer_id is None:
        rows = _ASSIGN_EVERY_LAYER[kind].execute(session, {"ids": list(entity_ids)}).all()
    else:
        rows = session.execute(text(_insert_sql(kind, only.format(col="g.layer_id"))).bindparams(bindparam("ids")),
                               params).all()
    return {(r[0], r[1]): r[2] for r in rows}
