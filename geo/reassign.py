"""Reassignment after a boundary edit: only the entities under the changed area are recomputed.

A snapshot of their grid codes is taken before the edit and compared with the
result after it, so the response can say how many households, cameras, events
and staff moved and from where to where.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.assign import ENTITY_GEOMETRY, assign_entities
from geo.events.routing import reroute
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
            SELECT a.id, g.code FROM ({_affected_sql(kind)}) a
            LEFT JOIN grid_membership m ON m.kind = :k AND m.entity_id = a.id AND m.layer_id = :l
            LEFT JOIN grid g ON g.id = m.grid_id"""), {"area": area_ewkb, "k": kind.value, "l": layer_id}).all()
        out[kind] = {r[0]: r[1] for r in rows}
    return out


def reassign(session: Session, layer_id: int, area_ewkb: bytes, before: Snapshot) -> list[Move]:
    """Recompute the layer's membership of every entity under ``area``; returns the moves."""
    moves: list[Move] = []
    for kind in MemberKind:
        ids = list(before[kind])
        after = assign_entities(session, kind=kind, entity_ids=ids, layer_id=layer_id)
        moved = {i: (before[kind][i], after.get((i, layer_id))) for i in ids if before[kind][i] != after.get((i, layer_id))}
        changes = Counter(moved.values())
        moves += [Move(kind.value, a, b, n) for (a, b), n in sorted(changes.items(), key=lambda kv: -kv[1])]
        if kind is MemberKind.EVENT and moved and _routes_events(session, layer_id):
            reroute(session, moved)
    return moves


def _routes_events(session: Session, layer_id: int) -> bool:
    """Reports are routed by their comprehensive grid; moves in other layers change no one's work."""
    return session.execute(text("SELECT code FROM grid_layer WHERE id = :l"), {"l": layer_id}).scalar() == "comprehensive"
