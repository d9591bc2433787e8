"""Events 事件: citizens' and grid workers' reports, driven through the closed loop 闭环.

The category tree says how a report is triaged (三事分流), who handles it by
default and how long they have; every transition of an event is a row of
``event_transition``; ``idempotency_key`` lets a phone on a flaky network retry
a submission without creating a second event.
"""

from __future__ import annotations

import enum
from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, DateTime, Enum, Float, ForeignKey, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.db import Base
from geo.models.county import county_code_column


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


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
    DUPLICATE = "duplicate"
    REOPENED = "reopened"

    @property
    def is_open(self) -> bool:
        return self not in (EventStatus.CLOSED, EventStatus.REJECTED, EventStatus.DUPLICATE)


CLOSED_STATES = ("closed", "rejected", "duplicate")  # the statuses that are not open
NOT_OPEN_SQL = "(" + ", ".join(f"'{s}'" for s in CLOSED_STATES) + ")"  # for "status::text NOT IN ..." in SQL


class Triage(str, enum.Enum):
    """三事分流: who a matter belongs to."""

    CIVIL = "civil"  # 民事: residents settle it themselves, the grid worker helps
    VILLAGE = "village"  # 村事: the village committee handles it
    GOVERNMENT = "government"  # 政事: a government department handles it


class HandlerKind(str, enum.Enum):
    GRID = "grid"  # the grid's worker (else its head, else the township)
    VILLAGE = "village"  # the village committee
    DEPARTMENT = "department"  # a named department


class AssigneeKind(str, enum.Enum):
    STAFF = "staff"
    DIVISION = "division"  # a village committee or a township office
    DEPARTMENT = "department"


class Department(Base):
    """A county department that takes escalated (吹哨) and government matters."""

    __tablename__ = "department"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str]
    escalation_hours: Mapped[int] = mapped_column(Integer, default=72, doc="Deadline for escalated events.")


class EventCategory(Base):
    """A node of the category tree. Leaves carry what routing needs; inner nodes group them."""

    __tablename__ = "event_category"
    __table_args__ = (
        CheckConstraint("deadline_hours > 0", name="event_category_deadline_positive"),
        CheckConstraint("duplicate_radius_m > 0", name="event_category_radius_positive"),
        CheckConstraint("handler <> 'department' OR department_code IS NOT NULL",
                        name="event_category_department_named"),
    )

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("event_category.code"), index=True)
    name: Mapped[str]
    name_en: Mapped[str] = mapped_column(String, default="")
    triage: Mapped[Triage] = mapped_column(_enum(Triage, "event_triage"))
    handler: Mapped[HandlerKind] = mapped_column(_enum(HandlerKind, "event_handler"))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("department.code"))
    deadline_hours: Mapped[int] = mapped_column(Integer)
    duplicate_radius_m: Mapped[float] = mapped_column(Float, default=250.0)
    duplicate_window_hours: Mapped[int] = mapped_column(Integer, default=72)
    attributes: Mapped[list] = mapped_column(JSONB, default=list, server_default="[]",
                                             doc="Open311 service definition: the questions a report answers.")


class Event(Base):
    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = county_code_column()
    category: Mapped[str] = mapped_column(ForeignKey("event_category.code"), index=True)
    description: Mapped[str] = mapped_column(String, default="")
    status: Mapped[EventStatus] = mapped_column(_enum(EventStatus, "event_status"), default=EventStatus.REPORTED,
                                                index=True)
    source: Mapped[str] = mapped_column(String(32), default="app")
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), doc="Closure deadline in force.")
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), doc="When feedback was given.")
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    media_url: Mapped[str | None] = mapped_column(String)
    address: Mapped[str | None] = mapped_column(String, doc="As given by the reporter.")
    household_id: Mapped[int | None] = mapped_column(ForeignKey("household.id", ondelete="SET NULL"))
    assignee_kind: Mapped[AssigneeKind | None] = mapped_column(_enum(AssigneeKind, "event_assignee_kind"))
    assignee_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"), index=True)
    assignee_division_id: Mapped[int | None] = mapped_column(ForeignKey("division.id"))
    assignee_department: Mapped[str | None] = mapped_column(ForeignKey("department.code"))
    escalated_to: Mapped[str | None] = mapped_column(ForeignKey("department.code"))
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("event.id"), index=True)
    public_token: Mapped[str | None] = mapped_column(String(36), unique=True, doc="Open311 token of the submission.")
    attributes: Mapped[dict | None] = mapped_column(JSONB, doc="Answers to the category's attributes (Open311).")
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)


class EventContact(Base):
    """The reporter's contact details: personal data, in its own table under row-level security."""

    __tablename__ = "event_contact"

    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), primary_key=True)
    county_code: Mapped[str] = county_code_column()
    name: Mapped[str] = mapped_column(String, default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    email: Mapped[str] = mapped_column(String, default="", server_default="")
    device_id: Mapped[str] = mapped_column(String, default="", server_default="", doc="Open311 device_id.")
    account_id: Mapped[str] = mapped_column(String, default="", server_default="", doc="Open311 account_id.")


class EventTransition(Base):
    """One step of an event's life: a status change, a re-routing after a boundary edit, a note."""

    __tablename__ = "event_transition"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = county_code_column()
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[EventStatus | None] = mapped_column(_enum(EventStatus, "event_status"))
    to_status: Mapped[EventStatus] = mapped_column(_enum(EventStatus, "event_status"))
    actor: Mapped[str] = mapped_column(String)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    note: Mapped[str] = mapped_column(String, default="")
    detail: Mapped[dict | None] = mapped_column(JSONB)


class IdempotencyKey(Base):
    """A submission's Idempotency-Key and the response it got, replayed on a retry."""

    __tablename__ = "idempotency_key"

    key: Mapped[str] = mapped_column(String(300), primary_key=True, doc="Caller identity + ':' + the header.")
    county_code: Mapped[str] = county_code_column()
    request_hash: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
