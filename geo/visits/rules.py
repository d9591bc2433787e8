"""The rules of visits: when a visit counts as logged from far away, and how often a household is due.

One place for them, so the map, the "behind" list and the doc agree (docs/visits.md):

* a visit logged more than ``GRIDMAP_VISIT_FAR_M`` metres (default 200, on the spheroid) from the
  household's point is flagged ``far``, never refused: a register point can sit on the wrong side of
  a compound, and a refused visit is a visit not recorded;
* every household is due a visit every ``GRIDMAP_VISIT_TARGET_DAYS`` (30) days;
* the households that need care — vulnerable ones (``needs_help``: 独居老人, 残疾人) and the head
  household of each 十联户 group (联户长) — every ``GRIDMAP_VISIT_CARE_TARGET_DAYS`` (7) days, weekly.

A household never visited is behind from the start.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class VisitSettings(BaseSettings):
    """Thresholds of visits and patrols (environment, prefix ``GRIDMAP_``)."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_")

    visit_far_m: float = Field(default=200.0, gt=0, le=100_000,
                               description="A visit logged farther than this from the household is flagged far.")
    visit_target_days: int = Field(default=30, ge=1, le=366, description="Every household is due a visit this often.")
    visit_care_target_days: int = Field(default=7, ge=1, le=366,
                                        description="Vulnerable households and 联户长 are due this often (weekly).")
    patrol_batch_max: int = Field(default=500, ge=1, le=10_000, description="Most track points in one upload.")


@lru_cache(maxsize=1)
def settings() -> VisitSettings:
    """Read once, on first use (never at import time)."""
    return VisitSettings()


def target_days_sql(alias: str) -> str:
    """SQL for the days between visits that household ``alias`` is due (binds ``:t_care``, ``:t_routine``)."""
    return (f"(CASE WHEN cardinality({alias}.needs_help) > 0 OR EXISTS (SELECT 1 FROM linked_household_group lg"
            f" WHERE lg.id = {alias}.group_id AND lg.head_household_id = {alias}.id) THEN :t_care ELSE :t_routine END)")


def target_params(s: VisitSettings | None = None) -> dict[str, int]:
    s = s or settings()
    return {"t_care": s.visit_care_target_days, "t_routine": s.visit_target_days}


def describe(s: VisitSettings | None = None) -> dict[str, Any]:
    """The rule as answers state it, in the app's language and in numbers."""
    s = s or settings()
    return {"target_days": s.visit_target_days, "care_target_days": s.visit_care_target_days, "far_m": s.visit_far_m,
            "text": f"每户每{s.visit_target_days}天至少走访一次；独居老人、残疾人家庭和联户长每{s.visit_care_target_days}天一次；"
                    f"打卡位置距住户超过{s.visit_far_m:g}米的走访标记为“距离较远”"}
