"""The tables of the leaders' statistics page (issue 15), computed once for the page and its XLSX.

``leader_tables`` answers the page's one question — how the division's reports were received, handled
and closed, by township, village, category and week — with the functions of geo/events/stats.py, so
every figure (处置率 above all) is ``/stats/events``'s for the same window and filters. The page draws
this answer, and ``GET /stats/events.xlsx`` writes the same answer to a workbook
(geo/events/stats_xlsx.py): what the leader downloads is what they saw.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.events.stats import event_stats
from geo.events.stats_trend import weekly_trend

TABLES = ("township", "village", "category", "week")  # the page's order


def leader_tables(session: Session, *, scope: Scope, start: datetime | None, end: datetime | None,
                  division: str | None = None, category: str | None = None) -> dict[str, object]:
    """``{"from", "to", "as_of", "division", "category", "total", "tables": {name: [groups]}, "definitions"}``."""
    args = {"scope": scope, "start": start, "end": end, "division": division, "category": category}
    tables: dict[str, list[dict[str, object]]] = {}
    first: dict[str, object] | None = None
    for name in TABLES:
        found = weekly_trend(session, **args) if name == "week" else event_stats(session, group_by=name, **args)
        tables[name] = found["groups"]
        first = first or found
    assert first is not None
    return {"from": first["from"], "to": first["to"], "as_of": first["as_of"], "division": division,
            "category": category, "total": first["total"], "tables": tables, "definitions": first["definitions"]}
