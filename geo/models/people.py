"""Staff and responders: "one head, three workers" 一长三员, emergency teams, departments."""

from __future__ import annotations

import enum
from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import DateTime, Enum, ForeignKey, String
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
