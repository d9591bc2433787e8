"""Things with a position: households 户, their residents 居民, linked-household
groups 十联户 and surveillance cameras (雪亮工程)."""

from __future__ import annotations

import enum

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, Enum, Float, ForeignKey, Integer, String, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from geo.db import Base


class LinkedHouseholdGroup(Base):
    """A group of 10–15 neighbouring households with a head household 联户长."""

    __tablename__ = "linked_household_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    division_id: Mapped[int] = mapped_column(ForeignKey("division.id"), index=True)
    # No foreign key: household → group → head household would be a cycle; the
    # generator and importers check it instead.
    head_household_id: Mapped[int | None] = mapped_column(Integer)


class HelpNeed(str, enum.Enum):
    """Why a household needs checking first in an emergency."""

    ELDERLY_ALONE = "elderly_alone"  # 独居老人
    DISABLED = "disabled"  # 残疾人


class Household(Base):
    """A household at a point with its standard address. Personal data of its
    members lives in ``resident``, never here."""

    __tablename__ = "household"
    __table_args__ = (CheckConstraint("residents >= 0", name="household_residents_nonnegative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The register's own id (户编号), unique where set (migration 0014): imports match by it.
    external_id: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String, index=True)
    division_id: Mapped[int] = mapped_column(ForeignKey("division.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("linked_household_group.id"), index=True)
    residents: Mapped[int] = mapped_column(Integer, default=1)
    needs_help: Mapped[list[HelpNeed]] = mapped_column(
        ARRAY(Enum(HelpNeed, name="help_need", values_callable=lambda e: [m.value for m in e])),
        server_default=text("'{}'"), default=list, doc="Vulnerable household flags (emergency check first).")
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)


class Resident(Base):
    """A registered resident: protected personal information under PIPL.
    Never part of list endpoints."""

    __tablename__ = "resident"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), index=True)
    name: Mapped[str]
    id_number: Mapped[str] = mapped_column(String(18))
    phone: Mapped[str] = mapped_column(String(20), default="")


class CameraStatus(str, enum.Enum):
    ONLINE = "online"
    OFFLINE = "offline"
    MAINTENANCE = "maintenance"


class Camera(Base):
    """A public-security video camera: where it stands, where it looks and how far."""

    __tablename__ = "camera"
    __table_args__ = (
        CheckConstraint("bearing >= 0 AND bearing < 360", name="camera_bearing_range"),
        CheckConstraint("fov > 0 AND fov <= 360", name="camera_fov_range"),
        CheckConstraint("range_m > 0", name="camera_range_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str]
    bearing: Mapped[float] = mapped_column(Float, doc="Degrees clockwise from north.")
    fov: Mapped[float] = mapped_column(Float, doc="Horizontal field of view in degrees.")
    range_m: Mapped[float] = mapped_column(Float)
    status: Mapped[CameraStatus] = mapped_column(
        Enum(CameraStatus, name="camera_status", values_callable=lambda e: [m.value for m in e]),
        default=CameraStatus.ONLINE,
    )
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)
