"""What the stream says about an event or a responder: read once per notification, then filtered.

A notification carries ids only (migration 0022). The listener reads those rows here, with the
memberships that decide who may see them, in one query per notification whatever the number of
subscribers; ``visible`` and ``present`` then decide per subscriber without another query. The
fields are the contract's (docs/roles.md "Live"): no name, phone, address or description ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geo.access.scope import Scope

# Without pii:read a responder's position is coarsened as geo.emergency.responders.present does (~100 m).
COARSE_DECIMALS = 3

EVENTS_SQL = """
SELECT e.id, e.status::text AS status, e.category, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat, e.due_at,
       (SELECT g.code FROM grid_membership m JOIN grid g ON g.id = m.grid_id
                      JOIN grid_layer l ON l.id = m.layer_id AND l.code = 'comprehensive'
         WHERE m.kind = 'event' AND m.entity_id = e.id LIMIT 1) AS grid_code,
       ARRAY(SELECT ARRAY[m.layer_id, m.grid_id] FROM grid_membership m
              WHERE m.kind = 'event' AND m.entity_id = e.id) AS members
  FROM event e WHERE e.id = ANY(%(ids)s) ORDER BY e.id"""

RESPONDERS_SQL = """
SELECT s.id AS staff_id, s.role::text AS role, s.availability::text AS availability,
       ST_X(s.position) AS lon, ST_Y(s.position) AS lat, s.position_at AS at,
       ARRAY(SELECT ARRAY[m.layer_id, m.grid_id] FROM grid_membership m
              WHERE m.kind = 'staff' AND m.entity_id = s.id) AS members
  FROM staff s WHERE s.id = ANY(%(ids)s) ORDER BY s.id"""

SQL = {"event": EVENTS_SQL, "responder": RESPONDERS_SQL}


@dataclass(frozen=True)
class Row:
    """One changed thing as read at notification time: its public fields and where it is."""

    kind: str  # "event" | "responder"
    fields: dict[str, Any]
    members: frozenset[tuple[int, int]]  # (layer_id, grid_id)


def read(cursor: Any, kind: str, ids: list[int]) -> list[Row]:
    """The rows of ``kind`` with these ids (a DB-API cursor: the listener's own connection)."""
    cursor.execute(SQL[kind], {"ids": ids})
    names = [c[0] for c in cursor.description]
    out = []
    for values in cursor.fetchall():
        record = dict(zip(names, values, strict=True))
        members = frozenset((int(a), int(b)) for a, b in record.pop("members") or ())
        out.append(Row(kind, {k: _plain(v) for k, v in record.items()}, members))
    return out


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class Audience:
    """What one subscriber may see: decided once, when the stream opens."""

    events: bool  # events:read
    responders: bool  # staff:read
    unmasked: bool  # pii:read: exact responder positions
    everything: bool
    layer_id: int | None
    grids: frozenset[int]

    @classmethod
    def of(cls, scope: Scope, *, events: bool, responders: bool, unmasked: bool) -> "Audience":
        return cls(events, responders, unmasked, scope.everything, scope.layer_id, frozenset(scope.grids))

    def visible(self, row: Row) -> bool:
        """geo.access.scope's rule: in scope when its membership in the scope's layer is one of its grids."""
        if not (self.events if row.kind == "event" else self.responders):
            return False
        return self.everything or any(layer == self.layer_id and grid in self.grids for layer, grid in row.members)

    def present(self, row: Row) -> dict[str, Any]:
        if row.kind == "responder" and not self.unmasked and row.fields["lon"] is not None:
            return {**row.fields, "lon": round(row.fields["lon"], COARSE_DECIMALS),
                    "lat": round(row.fields["lat"], COARSE_DECIMALS)}
        return row.fields
