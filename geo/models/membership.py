"""Which grid covers each household, camera, event and staff member, in every layer.

Decision (measured, see bench/README.md): one narrow table rather than a column
per layer. Layers are rows that a county can add, so per-layer columns would
need DDL for every new layer; the narrow table serves both directions with two
B-tree indexes: (kind, entity_id) answers "which grids is this household in",
(grid_id, kind) answers "what is inside this grid", neither a spatial scan.
Bulk (re)assignment is set-based and writes this table with INSERT … SELECT,
which is far cheaper than UPDATE of wide rows (see geo/locating/assign.py).

No foreign keys, on purpose: this is a derived index, written only by
geo/locating/assign.py from a join against ``grid`` (so every grid_id exists by
construction), and grids are never deleted (history). The two FK checks per
row doubled the cost of a bulk assignment (measured: 10.8 s → 5.3 s for 1M
households in one layer).
"""

from __future__ import annotations

import enum

from sqlalchemy import BigInteger, Enum, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from geo.db import Base
from geo.models.county import county_code_column


class MemberKind(str, enum.Enum):
    HOUSEHOLD = "household"
    CAMERA = "camera"
    EVENT = "event"
    STAFF = "staff"


class GridMembership(Base):
    __tablename__ = "grid_membership"
    __table_args__ = (Index("grid_membership_grid_kind", "grid_id", "kind"),)

    kind: Mapped[MemberKind] = mapped_column(
        Enum(MemberKind, name="member_kind", values_callable=lambda e: [m.value for m in e]), primary_key=True
    )
    county_code: Mapped[str] = county_code_column()
    entity_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    layer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[int] = mapped_column(Integer)
