"""Grid layers ("nets"), grids and their history.

Why two tables for grids: ``grid`` holds the *current* state of every grid, so
every lookup, tile and join reads one small indexed table with no validity
filter; ``grid_version`` holds every state a grid has ever had, with the
period it was valid, who changed it and why. A database trigger (see the first
migration) writes ``grid_version`` on every insert and update of ``grid``, so
no code path can change a grid without leaving history. A grid's ``code`` is
its identity for people and other systems: stable across edits, unique
nationally, never reused (``grid_code_counter`` only ever counts up).
"""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo.db import Base


class GridLayer(Base):
    """A net of grids over the same territory: comprehensive 综合网格, party-building
    党建网格, emergency 应急网格, dedicated 专属网格, micro-grid 微网格, or a county's own.

    Rules live here as data, not as an enum in code, so a county can add a layer.
    """

    __tablename__ = "grid_layer"
    __table_args__ = (CheckConstraint("code_prefix ~ '^[0-9]{2}$'", name="grid_layer_prefix_2_digits"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str]
    # Two digits inserted into every grid code of this layer, so grids of
    # different layers over the same village never share a code.
    code_prefix: Mapped[str] = mapped_column(String(2), unique=True)
    allow_overlap: Mapped[bool] = mapped_column(Boolean, default=False)
    # 不重不漏: whether the layer must cover its whole parent territory.
    full_cover: Mapped[bool] = mapped_column(Boolean, default=True)
    parent_layer_id: Mapped[int | None] = mapped_column(ForeignKey("grid_layer.id"))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    color: Mapped[str] = mapped_column(String(7), default="#3366cc")
    description: Mapped[str] = mapped_column(String, default="")


class Grid(Base):
    """The current state of one grid."""

    __tablename__ = "grid"
    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]{17}$'", name="grid_code_17_digits"),
        CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="grid_geom_valid"),
        CheckConstraint("ST_IsPolygonCCW(geom)", name="grid_geom_ccw"),
        CheckConstraint("version >= 1", name="grid_version_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # division code (12) + layer prefix (2) + sequence (3), numbered west→east, north→south.
    code: Mapped[str] = mapped_column(String(17), unique=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("grid_layer.id"), index=True)
    division_id: Mapped[int] = mapped_column(ForeignKey("division.id"), index=True)
    parent_grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True)
    name: Mapped[str]
    notes: Mapped[str] = mapped_column(String, default="")
    # The identifier another system gives the grid (migration 0015): imports may match by it.
    external_id: Mapped[str | None] = mapped_column(String, default=None)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    layer: Mapped[GridLayer] = relationship(lazy="joined")


class GridVersion(Base):
    """One past or present state of a grid; written only by the ``grid_history`` trigger."""

    __tablename__ = "grid_version"
    __table_args__ = (UniqueConstraint("grid_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign key: a retired grid leaves the ``grid`` table but keeps its history here.
    grid_id: Mapped[int] = mapped_column(Integer, index=True)
    code: Mapped[str] = mapped_column(String(17))
    version: Mapped[int]
    layer_id: Mapped[int] = mapped_column(ForeignKey("grid_layer.id"))
    division_id: Mapped[int] = mapped_column(ForeignKey("division.id"))
    parent_grid_id: Mapped[int | None]
    name: Mapped[str]
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    author: Mapped[str] = mapped_column(String, default="")
    reason: Mapped[str] = mapped_column(String, default="")


class GridLineage(Base):
    """Which grids a grid came from: split 拆分, merge 合并, retire 撤销 (area absorbed by a neighbour)."""

    __tablename__ = "grid_lineage"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(Integer, index=True)
    child_id: Mapped[int] = mapped_column(Integer, index=True)
    operation: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    author: Mapped[str] = mapped_column(String, default="")


class GridCodeCounter(Base):
    """The last sequence number handed out per (division, layer): codes are never reused."""

    __tablename__ = "grid_code_counter"

    division_id: Mapped[int] = mapped_column(ForeignKey("division.id"), primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("grid_layer.id"), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
