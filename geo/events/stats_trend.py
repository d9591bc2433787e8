"""The weekly trend of the reported figures (issue 15, the leaders' page): ``stats.event_stats`` by week.

Each week is Monday 00:00 to Sunday 24:00 Beijing time, named by its Monday (``2026-03-02``), and holds
the reports *received in it* with every figure of geo/events/stats.py judged as of the window's
``as_of`` — so a week's 处置率 is the share of that week's items handled by now, exactly as
``/stats/events`` computes it for the same dates. The first and last week are cut at the window's
``from`` and ``to``. Weeks without a report are listed with zeros, so a chart's axis has no holes.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.events.stats import BEIJING, FIGURES, event_stats


def weekly_trend(session: Session, *, scope: Scope, start: datetime | None, end: datetime | None,
                 division: str | None = None, category: str | None = None) -> dict[str, object]:
    """``event_stats(group_by="week")`` with every week of the window present, oldest first."""
    found = event_stats(session, scope=scope, start=start, end=end, group_by="week",
                        division=division, category=category)
    by_week = {g["key"]: g for g in found["groups"]}
    weeks = []
    for monday in _mondays(found["from"], found["to"]):
        key = monday.isoformat()
        weeks.append(by_week.pop(key, None) or _empty_week(key))
    weeks.extend(by_week.values())  # none expected: a report's week always lies in the window
    return {**found, "groups": weeks}


def _mondays(start: datetime, end: datetime) -> list[date]:
    """The Mondays (Beijing) of every week that [start, end) touches."""
    first = start.astimezone(BEIJING).date()
    last = (end - timedelta(microseconds=1)).astimezone(BEIJING).date()
    monday = first - timedelta(days=first.weekday())
    out = []
    while monday <= last:
        out.append(monday)
        monday += timedelta(days=7)
    return out


def _empty_week(key: str) -> dict[str, object]:
    return {"key": key, "name": key, **dict.fromkeys(FIGURES, 0), "median_hours_to_close": None,
            "p90_hours_to_close": None, "handling_rate": None, "on_time_rate": None}
