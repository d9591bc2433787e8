"""Events 事件: citizens' and grid workers' reports, driven through the closed loop 闭环."""

from __future__ import annotations

import enum
from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import DateTime, Enum, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from geo.db import Base


class EventStatus(str, enum.Enum):
    """report 上报 → screen 甄别 → assign 交办 → handle 处置 → feedback 反馈 → close 办结."""

    REPORTED = "reported"
    SCREENED = "screened"
    REJECTED = "rejected"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    ESCALATED = "escalated"
    FEEDBACK = "feedback"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        return self not in (EventStatus.CLOSED, EventStatus.REJECTED)


class Event(Base):
    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(String, default="")
    status: Mapped[EventStatus] = mapped_column(
        Enum(EventStatus, name="event_status", values_callable=lambda e: [m.value for m in e]),
        default=EventStatus.REPORTED,
        index=True,
    )
    source: Mapped[str] = mapped_column(String(32), default="app")
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    media_url: Mapped[str | None] = mapped_column(String)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)


class EventContact(Base):
    """The reporter's contact details: personal data, in its own table under row-level security."""

    __tablename__ = "event_contact"

    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String, default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
