"""Staff and responders: "one head, three workers" 一长三员, emergency teams, departments."""

from __future__ import annotations

import enum
from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, CheckConstraint, DateTime, Enum, Float, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from geo.db import Base


class StaffRole(str, enum.Enum):
    GRID_HEAD = "grid_head"  # 网格长
    GRID_WORKER = "grid_worker"  # 网格员
    GRID_ASSISTANT = "grid_assistant"  # 网格辅助员
    GRID_INSTRUCTOR = "grid_instructor"  # 网格指导员
    EMERGENCY_TEAM = "emergency_team"  # 应急队伍
    DEPARTMENT = "department"  # 部门


class Availability(str, enum.Enum):
    AVAILABLE = "available"
    ON_DUTY = "on_duty"
    BUSY = "busy"
    OFF_DUTY = "off_duty"
    OUT_OF_SERVICE = "out_of_service"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class Staff(Base):
    """A person who serves a grid. ``home`` places them in every layer's grid;
    ``position`` is their last known fix (personal data: 行踪轨迹)."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The office's own id for the person, unique where set (migration 0014): imports match by it.
    external_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str]
    role: Mapped[StaffRole] = mapped_column(_enum(StaffRole, "staff_role"), index=True)
    phone: Mapped[str] = mapped_column(String(20), default="")
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True, doc="The grid they serve.")
    division_id: Mapped[int | None] = mapped_column(ForeignKey("division.id"), index=True)
    availability: Mapped[Availability] = mapped_column(
        _enum(Availability, "availability"), default=Availability.AVAILABLE
    )
    home = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)
    position = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    position_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    position_accuracy_m: Mapped[float | None] = mapped_column(Float)
    availability_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Migration 0005 also indexes ``position::geography`` (GiST) of the dispatchable (available,
    # on duty): the nearest-responder KNN walks it with the geography <-> operator (geo/emergency/responders.py).


class StaffPosition(Base):
    """One fix from a responder's phone: their movements 行踪轨迹, PIPL-sensitive personal data.

    Kept for GRIDMAP_POSITION_RETENTION_DAYS, then purged (geo/emergency/positions.py); shown to roles
    without ``pii:read`` only coarsened to ~100 m cells and with no order (no track).
    """

    __tablename__ = "staff_position"
    __table_args__ = (
        CheckConstraint("accuracy_m IS NULL OR accuracy_m >= 0", name="staff_position_accuracy_nonnegative"),
        Index("ix_staff_position_staff_at", "staff_id", "at", unique=True),  # a re-sent fix is the same fix
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True, doc="When the phone took the fix.")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    crs: Mapped[str] = mapped_column(String(8), doc="The datum the fix arrived in (stored as WGS84).")
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
