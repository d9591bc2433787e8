"""The figures a county reports upward, computed the way those reports mean them.

Over the reports *received* in the window [from, to) — reported_at inside it —
and judged as of ``to`` (or now, if ``to`` is later):

- reported 上报: every report, from every channel;
- rejected / duplicates: screened out as invalid, or merged into an earlier report;
- received 受理: reported − rejected − duplicates (the "items" 信息条数 of a report);
- handled 处置: received items whose handler has given feedback 反馈 (handled_at ≤ as-of);
- handling rate 处置率 = handled / received;
- closed 办结: received items closed (closed_at ≤ as-of);
- on-time rate 按期办结率 = items closed no later than the deadline in force / closed;
- time to close: median and 90th percentile of closed_at − reported_at, in hours, over closed items;
- open overdue 超期未办结: received items not closed by as-of whose deadline is before as-of.

An item belongs to the grid, village and township of its comprehensive grid
(which tiles the villages exactly), and to its leaf category.

Limitation: rejection and duplicate marks are read as they are now, and a
reopening clears the handled and closed times, so a report rejected or
reopened after ``to`` changes that past window's figures. ``event_transition``
keeps every step, from which a frozen monthly report could be rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, county_filter, member_filter
from geo.errors import InvalidInput

BEIJING = ZoneInfo("Asia/Shanghai")
GROUPS = {
    "none": ("'all'", "'all'"),
    "grid": ("grid_code", "grid_name"),
    "village": ("village_code", "village_name"),
    "township": ("township_code", "township_name"),
    "category": ("category", "category_name"),
    "week": ("week", "week"),  # the Monday (Beijing) that starts the report's week, YYYY-MM-DD
}

# Each counted figure as the condition on a row of _BASE that counts it: the one spelling of the
# definitions below, used by the counts (_AGG) and by the lists behind them (geo/events/stats_items.py),
# so a figure and its list cannot disagree.
FIGURES = {
    "reported": "true",
    "rejected": "status::text = 'rejected'",
    "duplicates": "status::text = 'duplicate'",
    "received": "received",
    "handled": "received AND handled_at <= :asof",
    "closed": "received AND is_closed",
    "closed_on_time": "received AND is_closed AND closed_at <= due_at",
    "open_overdue": "received AND NOT is_closed AND due_at < :asof",
}

_BASE = """
    SELECT e.*, c.name AS category_name, g.code AS grid_code, g.name AS grid_name,
           v.code AS village_code, v.name AS village_name, t.code AS township_code, t.name AS township_name,
           e.status::text NOT IN ('rejected', 'duplicate') AS received,
           e.closed_at IS NOT NULL AND e.closed_at <= :asof AS is_closed,
           to_char(date_trunc('week', e.reported_at AT TIME ZONE 'Asia/Shanghai'), 'YYYY-MM-DD') AS week
    FROM event e
    JOIN event_category c ON c.code = e.category
    LEFT JOIN grid_membership m ON m.kind = 'event' AND m.entity_id = e.id
         AND m.layer_id = (SELECT id FROM grid_layer WHERE code = 'comprehensive')
    LEFT JOIN grid g ON g.id = m.grid_id
    LEFT JOIN division v ON v.id = g.division_id
    LEFT JOIN division t ON t.id = v.parent_id
    WHERE e.reported_at >= :from AND e.reported_at < :to {filters}
"""

_COUNTS = ",\n".join(f"count(*) FILTER (WHERE {cond}) AS {name}" for name, cond in FIGURES.items())
_AGG = """
    SELECT {key} AS key, {label} AS name,
           """ + _COUNTS.replace("{", "{{").replace("}", "}}") + """,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - reported_at) / 3600)
               FILTER (WHERE received AND is_closed) AS median_hours_to_close,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - reported_at) / 3600)
               FILTER (WHERE received AND is_closed) AS p90_hours_to_close
    FROM base GROUP BY 1, 2 ORDER BY 1
"""


@dataclass(frozen=True)
class Window:
    """The reports a set of figures is computed over: ``base`` (SQL selecting them, with their grid,
    village, township, category name and week) and its bound ``params``, judged as of ``as_of``."""

    start: datetime
    end: datetime
    as_of: datetime
    base: str
    params: dict[str, object]


def window(session: Session, *, scope: Scope, start: datetime | None, end: datetime | None,
           division: str | None = None, category: str | None = None) -> Window:
    """The window [start, end) inside ``scope``, narrowed to the villages under ``division`` and to
    ``category`` (a leaf, or a branch of the tree and every leaf below it); checked, so a bad value is
    an InvalidInput naming its parameter."""
    now = datetime.now(UTC)
    end = _aware(end) or now
    try:
        start = _aware(start) or end - timedelta(days=365)
    except OverflowError:
        raise InvalidInput("to is too early: the default window reaches before year 1", pointer="to") from None
    if start >= end:
        raise InvalidInput("from must be before to", pointer="from")
    asof = min(end, now)
    filters, params = member_filter(scope, "event", "e")
    counties, cp = county_filter(scope, "e")  # the (county_code, reported_at) index: county-local
    filters, params = filters + counties, params | cp
    params |= {"from": start, "to": end, "asof": asof}
    if division is not None:
        below = _villages_under(session, division)
        filters += " AND v.id = ANY(:below) AND e.county_code = ANY(:d_counties)"
        params["below"] = below
        params["d_counties"] = list(session.execute(  # a constant, so the county-leading index is usable
            text("SELECT DISTINCT county_code FROM division WHERE id = ANY(:below)"), {"below": below}).scalars())
    if category is not None:
        _check_category(session, category)
        filters += " AND (e.category = :category OR starts_with(e.category, :category || '.'))"
        params["category"] = category
    return Window(start, end, asof, _BASE.format(filters=filters), params)


def event_stats(session: Session, *, scope: Scope, start: datetime | None, end: datetime | None,
                group_by: str = "none", division: str | None = None,
                category: str | None = None) -> dict[str, object]:
    if group_by not in GROUPS:
        raise InvalidInput(f"group_by must be one of {', '.join(GROUPS)}", pointer="group_by")
    w = window(session, scope=scope, start=start, end=end, division=division, category=category)
    key, label = GROUPS[group_by]
    sql = f"WITH base AS ({w.base}) {_AGG.format(key=key, label=label)}"
    rows = [_rates(dict(r)) for r in session.execute(text(sql), w.params).mappings()]
    if group_by == "none":
        found = rows
        rows = []
    else:  # the total over every group: one more pass, which (like any GROUP BY) yields no row for an empty window
        found = [dict(r) for r in session.execute(text(
            f"WITH base AS ({w.base}) {_AGG.format(key=repr('all'), label=repr('all'))}"),
            w.params).mappings()]
    total = _rates(found[0]) if found else _empty_total()
    return {"from": w.start, "to": w.end, "as_of": w.as_of, "division": division, "category": category,
            "group_by": group_by, "total": total, "groups": rows, "definitions": DEFINITIONS}


def _empty_total() -> dict[str, object]:
    """The total of a window with no report in it: zeros, and no rates or times (nothing to divide)."""
    return _rates({"key": "all", "name": "all", **dict.fromkeys(FIGURES, 0),
                   "median_hours_to_close": None, "p90_hours_to_close": None})


def _aware(t: datetime | None) -> datetime | None:
    """A date without a zone is Beijing time, as a county office means it."""
    return t.replace(tzinfo=BEIJING) if t is not None and t.tzinfo is None else t


def _rates(r: dict[str, object]) -> dict[str, object]:
    received, closed = int(r["received"]), int(r["closed"])
    r["handling_rate"] = round(int(r["handled"]) / received, 4) if received else None
    r["on_time_rate"] = round(int(r["closed_on_time"]) / closed, 4) if closed else None
    for k in ("median_hours_to_close", "p90_hours_to_close"):
        r[k] = round(float(r[k]), 1) if r[k] is not None else None
    return r


def _check_category(session: Session, category: str) -> None:
    known = session.execute(text("SELECT EXISTS (SELECT 1 FROM event_category WHERE code = :c)"),
                            {"c": category}).scalar_one()
    if not known:
        raise InvalidInput(f"category {category!r} is not in the category tree (GET /event-categories)",
                           pointer="category")


def _villages_under(session: Session, division: str) -> list[int]:
    ids = list(session.execute(text("""
        WITH RECURSIVE down AS (SELECT id, level FROM division WHERE code = :d OR id::text = :d
                                UNION ALL SELECT c.id, c.level FROM division c JOIN down ON c.parent_id = down.id)
        SELECT id FROM down WHERE level = 'village'"""), {"d": division}).scalars())
    if not ids:
        raise InvalidInput(f"division {division!r} is not a known division code or id", pointer="division")
    return ids


DEFINITIONS = {
    "reported": "every report whose reported_at is in [from, to), from every channel",
    "rejected": "screened out as invalid",
    "duplicates": "merged into an earlier report of the same matter",
    "received": "reported − rejected − duplicates: the items 信息 a county counts",
    "handled": "received items whose handler gave feedback 反馈 by as_of",
    "handling_rate": "处置率 = handled / received",
    "closed": "received items closed 办结 by as_of",
    "on_time_rate": "按期办结率 = items closed by their deadline in force / closed",
    "median_hours_to_close": "median of closed_at − reported_at over closed items, hours",
    "p90_hours_to_close": "90th percentile of closed_at − reported_at over closed items, hours",
    "open_overdue": "received items not closed by as_of whose deadline is before as_of",
    "as_of": "min(to, now): states are judged at this instant",
    "week": "group_by=week: the week (Monday to Sunday, Beijing time) of reported_at, named by its Monday",
}
