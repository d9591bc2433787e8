"""People and things of the demo district: household groups, residents, cameras,
a year of events and staff for every grid. Pure numpy; the loader writes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from geo.grids.partition import bisect_balanced

# (category code, Chinese label, weight) — a realistic mix of what citizens and grid
# workers report. Deadlines, triage and handlers live in the category tree (event_category).
EVENT_CATEGORIES = [
    ("public_facilities.street_light", "路灯损坏", 14),
    ("public_facilities.road_damage", "道路破损", 10),
    ("public_facilities.water_outage", "停水", 7),
    ("environment.garbage", "垃圾堆放", 16),
    ("environment.sewage", "污水排放", 5),
    ("safety.fire_hazard", "消防隐患", 6),
    ("safety.geological_hazard", "地质灾害隐患", 3),
    ("safety.building", "危房", 3),
    ("dispute.neighbour", "邻里纠纷", 12),
    ("dispute.land", "土地纠纷", 5),
    ("livelihood.social_assistance", "社会救助", 8),
    ("livelihood.elderly_care", "独居老人关爱", 6),
    ("public_order.noise", "噪声扰民", 5),
]
REJECT_RATE = 0.0116  # screened out as invalid: 14,000 reports leave about 13,837 items (seed 002)
EVENT_SOURCES = (["app", "patrol", "hotline", "wechat"], [0.3, 0.45, 0.15, 0.1])


@dataclass
class Events:
    xy: np.ndarray
    category: list[str]
    description: list[str]
    status: list[str]
    source: list[str]
    reported_at: list[datetime]
    handled_at: list[datetime | None]
    closed_at: list[datetime | None]
    with_reporter: np.ndarray
    updated_at: list[datetime]  # the last step: closing, feedback, or the screening/assigning that moved it on


def linked_groups(household_grid: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Group index of each household: 10–15 neighbours within one comprehensive grid (十联户).

    Each grid's households are split by recursive bisection along the longer
    axis of their spread, so groups are compact and as equal as possible: a
    grid of n ≥ 20 households always yields groups of 10–15.
    """
    group = np.empty(len(xy), dtype=int)
    next_id = 0
    for g in np.unique(household_grid):
        members = np.flatnonzero(household_grid == g)
        n = len(members)
        k = int(np.clip(round(n / 12.5), int(np.ceil(n / 15)), max(1, n // 10)))
        k = max(k, int(np.ceil(n / 15)))
        for leaf in bisect_balanced(members, k, xy):
            group[leaf] = next_id
            next_id += 1
    return group


def events(
    household_xy: np.ndarray, n: int, anchor: datetime, rng: np.random.Generator
) -> Events:
    """A year of reports ending at ``anchor``. About 1% are screened out as invalid;
    old ones are nearly all handled, recent ones still in the loop. Deadlines come
    from the category tree when the loader writes them."""
    cats = EVENT_CATEGORIES
    w = np.array([c[2] for c in cats], dtype=float)
    which = rng.choice(len(cats), n, p=w / w.sum())
    base = household_xy[rng.integers(0, len(household_xy), n)]
    xy = base + rng.normal(0, 25, (n, 2))
    age_days = np.sort(rng.uniform(0, 365, n))[::-1]
    reported = [anchor - timedelta(days=float(d)) for d in age_days]
    hours_to_close = rng.lognormal(np.log(30), 1.0, n)
    handled_share = rng.uniform(0.6, 0.95, n)  # feedback comes before the closing check
    rejected = rng.random(n) < REJECT_RATE
    status: list[str] = []
    handled: list[datetime | None] = []
    closed: list[datetime | None] = []
    updated: list[datetime] = []
    for k, (r, age, h) in enumerate(zip(reported, age_days, hours_to_close, strict=True)):
        p_open = 0.0025 if age > 30 else (0.6 if age < 3 else 0.2)
        if rejected[k]:
            status.append("rejected")
            handled.append(None)
            closed.append(None)
            updated.append(_step(r, age, h, STEP_SHARE["rejected"]))
        elif rng.random() < p_open or h / 24 > age:
            s = str(rng.choice(["reported", "screened", "assigned", "in_progress", "feedback", "escalated"]))
            status.append(s)
            # an open event's feedback came before the demo's 'now' (its drawn handling time may run past it)
            handled.append(_step(r, age, h, float(handled_share[k])) if s == "feedback" else None)
            closed.append(None)
            updated.append(handled[-1] or _step(r, age, h, STEP_SHARE[s]))  # type: ignore[arg-type]
        else:
            status.append("closed")
            handled.append(r + timedelta(hours=float(h * handled_share[k])))
            closed.append(r + timedelta(hours=float(h)))
            updated.append(closed[-1])  # type: ignore[arg-type]
    return Events(
        xy=xy,
        category=[cats[c][0] for c in which],
        description=[cats[c][1] for c in which],
        status=status,
        source=list(rng.choice(EVENT_SOURCES[0], n, p=EVENT_SOURCES[1])),
        reported_at=reported,
        handled_at=handled,
        closed_at=closed,
        with_reporter=rng.random(n) < 0.7,
        updated_at=updated,
    )


# How far through its (drawn) handling time an open event took its last step, by status. A report
# still "reported" has had no step; every other one was touched after it came in, so Open311's
# updated_datetime is later than requested_datetime. No random draws: the demo stays as it was.
STEP_SHARE = {"reported": 0.0, "screened": 0.1, "rejected": 0.1, "assigned": 0.2, "in_progress": 0.35,
              "escalated": 0.45}


def _step(reported: datetime, age_days: float, hours_to_close: float, share: float) -> datetime:
    """``share`` of the handling time after ``reported`` (at least a minute, so a step shows at the
    second precision of Open311's datetimes), and never after the demo's 'now'."""
    if share == 0:
        return reported
    return reported + timedelta(hours=float(min(max(hours_to_close * share, 1 / 60), age_days * 24)))


def help_needs(residents: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Vulnerable-household flags as PostgreSQL array literals (COPY text): about a third of
    one-person households are an elderly person living alone 独居老人; ~3% of households have a
    disabled member 残疾人. Drawn from their own generator so the rest of the demo is unchanged."""
    alone = (residents == 1) & (rng.random(len(residents)) < 0.33)
    disabled = rng.random(len(residents)) < 0.03
    flags = np.where(alone & disabled, "{elderly_alone,disabled}",
                     np.where(alone, "{elderly_alone}", np.where(disabled, "{disabled}", "{}")))
    return flags.tolist()
