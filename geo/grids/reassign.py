"""Reassignment after a boundary edit: only the entities under the changed area are recomputed.

A snapshot of their grid codes is taken before the edit and compared with the
result after it, so the response can say how many households, cameras, events
and staff moved and from where to where.

Both statements have a fixed shape that does not depend on the planner's statistics
(issue 11: right after a bulk load the membership table had none, and the snapshot's
join took 1.9 s of a 2.1 s merge):

- the snapshot reads each entity's grid with a lookup on the membership's primary key
  (kind, entity, layer), which is one index probe whatever the statistics say;
- the reassignment loops over the few grids of the layer near the entities and tests
  the entities against each of them, so each grid's prepared geometry serves all its
  points (as ``geo.locating.assign.assign_layer`` does in bulk). The per-entity probe of the grid
  index that ``assign_entities`` uses for a single new report took 260–415 ms for the
  513 households of a split, this shape 12 ms (same run, bench/README.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.events.routing import reroute
from geo.locating.assign import ENTITY_GEOMETRY
from geo.models.membership import MemberKind

Snapshot = dict[MemberKind, dict[int, str]]  # kind -> entity id -> grid code


@dataclass(frozen=True)
class Move:
    kind: str
    from_code: str | None
    to_code: str | None
    count: int


def _affected_sql(kind: MemberKind) -> str:
    table, column = ENTITY_GEOMETRY[kind]
    return f"SELECT x.id FROM {table} x WHERE x.{column} && ST_GeomFromEWKB(:area) AND ST_Intersects(ST_GeomFromEWKB(:area), x.{column})"


def snapshot(session: Session, layer_id: int, area_ewkb: bytes) -> Snapshot:
    """Grid code of every entity under ``area`` in one layer, before the edit."""
    out: Snapshot = {}
    for kind in MemberKind:
        rows = session.execute(text(f"""
            SELECT a.id, (SELECT g.code FROM grid_membership m JOIN grid g ON g.id = m.grid_id
                           WHERE m.kind = :k AND m.entity_id = a.id AND m.layer_id = :l)
              FROM ({_affected_sql(kind)}) a"""), {"area": area_ewkb, "k": kind.value, "l": layer_id}).all()
        out[kind] = {r[0]: r[1] for r in rows}
    return out


def reassign(session: Session, layer_id: int, area_ewkb: bytes, before: Snapshot) -> list[Move]:
    """Recompute the layer's membership of every entity under ``area``; returns the moves."""
    moves: list[Move] = []
    for kind in MemberKind:
        ids = list(before[kind])
        after = _assign_in_layer(session, kind, ids, layer_id)
        moved = {i: (before[kind][i], after.get(i)) for i in ids if before[kind][i] != after.get(i)}
        changes = Counter(moved.values())
        moves += [Move(kind.value, a, b, n) for (a, b), n in sorted(changes.items(), key=lambda kv: -kv[1])]
        if kind is MemberKind.EVENT and moved and _routes_events(session, layer_id):
            reroute(session, moved)
    return moves


def _assign_in_layer(session: Session, kind: MemberKind, ids: list[int], layer_id: int) -> dict[int, str]:
    """Set the layer's membership of these entities; {entity id: grid code}.

    The same rule as ``geo.locating.assign``: the covering grid with the smallest code wins (a point
    on a shared edge). Candidate grids are those whose box meets the entities' extent, which
    includes every grid that covers one of them. An upsert on the primary key rather than
    DELETE + INSERT: finding the old rows of 513 entities is a plan choice, and without
    statistics PostgreSQL scanned all 100,000 household rows of the layer for them (1.0–1.2 s
    of a split); the conflict check is always one probe of the unique index. Only the entities
    left in no grid are deleted, which is usually none.
    """
    if not ids:
        return {}
    table, column = ENTITY_GEOMETRY[kind]
    params = {"kind": kind.value, "ids": ids, "layer": layer_id}
    rows = session.execute(text(f"""
        WITH x AS MATERIALIZED (SELECT id, {column} AS geom FROM {table} WHERE id = ANY(:ids) AND {column} IS NOT NULL)
        INSERT INTO grid_membership AS m (kind, entity_id, layer_id, grid_id)
        SELECT DISTINCT ON (x.id) CAST(:kind AS member_kind), x.id, g.layer_id, g.id
          FROM grid g
          CROSS JOIN LATERAL (SELECT x.id FROM x WHERE x.geom && g.geom AND ST_Covers(g.geom, x.geom)) x
         WHERE g.layer_id = :layer AND g.geom && (SELECT ST_SetSRID(ST_Extent(geom)::geometry, 4326) FROM x)
         ORDER BY x.id, g.code
        ON CONFLICT (kind, entity_id, layer_id) DO UPDATE SET grid_id = EXCLUDED.grid_id
        RETURNING m.entity_id, (SELECT code FROM grid WHERE id = m.grid_id)"""), params).all()
    after = {r[0]: r[1] for r in rows}
    gone = [i for i in ids if i not in after]
    if gone:
        session.execute(text("DELETE FROM grid_membership WHERE kind = :kind AND layer_id = :layer"
                             " AND entity_id = ANY(:gone)"), {**params, "gone": gone})
    return after


def _routes_events(session: Session, layer_id: int) -> bool:
    """Reports are routed by their comprehensive grid; moves in other layers change no one's work."""
    return session.execute(text("SELECT code FROM grid_layer WHERE id = :l"), {"l": layer_id}).scalar() == "comprehensive"
