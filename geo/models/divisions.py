"""Administrative divisions: county 区县 → township/street 乡镇/街道 → village/community 村/社区."""

from __future__ import annotations

import enum

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from geo.db import Base
from geo.models.county import county_code_column


class DivisionLevel(str, enum.Enum):
    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"


class Division(Base):
    """One administrative division with its 12-digit statistical division code
    (统计用区划代码: 6 county + 3 township + 3 village digits)."""

    __tablename__ = "division"
    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]{12}$'", name="division_code_12_digits"),
        UniqueConstraint("county_code", "code", name="division_county_code_key"),  # unique per county (0011)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = county_code_column()
    code: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str]
    level: Mapped[DivisionLevel] = mapped_column(
        Enum(DivisionLevel, name="division_level", values_callable=lambda e: [m.value for m in e])
    )
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("division.id"), index=True)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)
