"""Fusion rules 融合规则: which net must nest in which, as configuration rather than code.

A rule says that the units of a *fine* side must each lie in one unit of a
*coarse* side: comprehensive grids in party grids (双网合一: a party grid is
made of whole comprehensive grids), villages in emergency grids (an emergency
grid is made of whole villages), micro-grids in comprehensive grids. "A is
made of whole B" and "B nests in A" are the same statement, so one relation
serves both. A side is a grid layer or a division level (village, township),
never both. A fine unit whose share of area inside one coarse unit lies
strictly between ``min_share`` and ``max_share`` is cut: a misalignment. The
thresholds absorb digitising noise (a 1% sliver along a shared road is not a
planner's problem) and are per rule, because a county may hold its emergency
net to a looser standard than its party net.

Why a table and not a settings file: rules are per county, edited by planners
through the API while the service runs (a file would need a redeploy and
would drift between workers), they reference layers by foreign key so a
renamed or removed layer cannot leave a dangling rule, and every change is
audited like any other write.
"""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Enum, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from geo.db import Base
from geo.models.divisions import DivisionLevel

_LEVEL = Enum(DivisionLevel, name="division_level", values_callable=lambda e: [m.value for m in e],
              create_type=False)


class FusionRule(Base):
    __tablename__ = "fusion_rule"
    __table_args__ = (
        CheckConstraint("num_nonnulls(fine_layer_id, fine_level) = 1", name="fusion_rule_one_fine_side"),
        CheckConstraint("num_nonnulls(coarse_layer_id, coarse_level) = 1", name="fusion_rule_one_coarse_side"),
        CheckConstraint("0 <= min_share AND min_share < max_share AND max_share <= 1", name="fusion_rule_shares"),
        UniqueConstraint("fine_layer_id", "fine_level", "coarse_layer_id", "coarse_level",
                         name="fusion_rule_pair", postgresql_nulls_not_distinct=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fine_layer_id: Mapped[int | None] = mapped_column(ForeignKey("grid_layer.id", ondelete="CASCADE"))
    fine_level: Mapped[DivisionLevel | None] = mapped_column(_LEVEL)
    coarse_layer_id: Mapped[int | None] = mapped_column(ForeignKey("grid_layer.id", ondelete="CASCADE"))
    coarse_level: Mapped[DivisionLevel | None] = mapped_column(_LEVEL)
    min_share: Mapped[float] = mapped_column(Float, default=0.02)
    max_share: Mapped[float] = mapped_column(Float, default=0.98)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(String, default="")
