"""A grid worker's own open reports 我的工作: counts by status and the list, overdue first.

"Mine" is what the worker is answerable for: the open reports inside their territory that are assigned
to their staff record (``app_user.staff_id``; intake routes a grid's reports to its worker). An account
without a staff record (an office account) gets every open report of its territory. Each report carries
its comprehensive grid's name (people know grids by name, not by 17-digit code), the seconds to its
deadline (negative when overdue: the client shows days and hours) and its address masked like all
free text.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, member_filter
from geo.events.views import OVERDUE
from geo.models.events import NOT_OPEN_SQL
from geo.privacy.pii import mask_free_text

# The caller's open reports: in the territory (``member_filter``), assigned to their staff record, or all of
# them for an account without one.
_MINE = f"""e.status::text NOT IN {NOT_OPEN_SQL}
    AND (e.assignee_staff_id = (SELECT staff_id FROM app_user WHERE id = :u)
         OR (SELECT staff_id FROM app_user WHERE id = :u) IS NULL)"""


def my_open_reports(session: Session, *, user_id: int, scope: Scope, limit: int) -> dict[str, object]:
    """Counts of the caller's open reports by status (and overdue), and up to ``limit`` of them, overdue
    first, then by deadline."""
    clause, params = member_filter(scope, "event", "e")
    params |= {"u": user_id, "n": limit}
    counts = session.execute(text(f"""
        SELECT e.status::text AS status, count(*) AS n, count(*) FILTER (WHERE {OVERDUE}) AS late
        FROM event e WHERE {_MINE} {clause} GROUP BY 1"""), params).mappings().all()
    rows = session.execute(text(f"""
        SELECT e.id, e.category, c.name AS category_name, c.triage::text AS triage, e.status::text AS status,
               {OVERDUE} AS overdue, e.reported_at, e.due_at,
               round(extract(epoch FROM e.due_at - now()))::bigint AS due_in_s,
               e.address, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat, g.code AS grid_code, g.name AS grid_name
        FROM event e JOIN event_category c ON c.code = e.category
        LEFT JOIN LATERAL (SELECT g.code, g.name FROM grid_membership m JOIN grid g ON g.id = m.grid_id
                           JOIN grid_layer l ON l.id = m.layer_id AND l.code = 'comprehensive'
                           WHERE m.kind = 'event' AND m.entity_id = e.id LIMIT 1) g ON true
        WHERE {_MINE} {clause}
        ORDER BY {OVERDUE} DESC, e.due_at NULLS LAST, e.id
        LIMIT :n"""), params).mappings().all()
    by_status = {r["status"]: int(r["n"]) for r in counts}
    return {
        "total": sum(by_status.values()),
        "overdue": sum(int(r["late"]) for r in counts),
        "by_status": by_status,
        "items": [dict(r) | {"address": mask_free_text(r["address"])} for r in rows],
    }
