"""The reports behind one figure of the statistics (issue 15: every figure links to its list).

``figure_items(figure="handled", division=…, category=…, week=…)`` selects from the same window
(``stats.window``) with the same condition (``stats.FIGURES[figure]``) that ``event_stats`` counts, so
its ``count`` is the figure shown, by construction and not by a second spelling of the rule. Items
carry what a leader reads in a list — category, status, where (grid, village, township names), the
report, deadline, handling and closing times — and no free text or contact: a report's description and
reporter stay on its own page (``GET /events/{id}``), masked as everywhere.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.errors import InvalidInput
from geo.events.stats import FIGURES, window

_WEEK = re.compile(r"^\d{4}-\d{2}-\d{2}$")

_ITEMS = """
    WITH base AS ({base})
    SELECT id, category, category_name, status::text AS status, source, reported_at, due_at, handled_at, closed_at,
           grid_code, grid_name, village_code, village_name, township_code, township_name, week,
           count(*) OVER () AS total
    FROM base WHERE ({condition}) {week}
    ORDER BY reported_at DESC, id DESC
    LIMIT :limit OFFSET :offset
"""


def figure_items(session: Session, *, scope: Scope, figure: str, start: datetime | None, end: datetime | None,
                 division: str | None = None, category: str | None = None, week: str | None = None,
                 limit: int = 100, offset: int = 0) -> dict[str, object]:
    """A page of the reports counted by ``figure`` (a key of ``stats.FIGURES``), newest first, and how many
    there are in all (``count``)."""
    if figure not in FIGURES:
        raise InvalidInput(f"figure must be one of {', '.join(FIGURES)}", pointer="figure")
    if week is not None and not _WEEK.match(week):
        raise InvalidInput("week must be the Monday that starts it, as YYYY-MM-DD", pointer="week")
    w = window(session, scope=scope, start=start, end=end, division=division, category=category)
    params = w.params | {"limit": limit, "offset": offset}
    clause = ""
    if week is not None:
        clause, params["week"] = "AND week = :week", week
    rows = [dict(r) for r in session.execute(
        text(_ITEMS.format(base=w.base, condition=FIGURES[figure], week=clause)), params).mappings()]
    if rows:
        count = int(rows[0]["total"])
    else:  # past the last page, or nothing at all: count without the page
        count = session.execute(text(f"WITH base AS ({w.base}) SELECT count(*) FROM base WHERE ({FIGURES[figure]}) "
                                     f"{clause}"), params).scalar_one()
    for r in rows:
        del r["total"]
    return {"figure": figure, "from": w.start, "to": w.end, "as_of": w.as_of, "division": division,
            "category": category, "week": week, "count": count, "limit": limit, "offset": offset, "items": rows}
