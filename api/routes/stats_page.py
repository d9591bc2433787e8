"""The leaders' statistics (issue 15): the page ``/stats``, its tables, the lists behind its figures
and their XLSX. Every figure is geo/events/stats.py's, as ``/stats/events`` defines it; a leader (or
anyone with ``events:read``) sees their own territory, as everywhere."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import text

from api.deps import IsoDateTime, SessionDep
from api.routes.exports import content_disposition
from api.security import Principal, requires
from api.web.map import content_security_policy
from api.web.stats_page import build_stats_page
from geo.access.permissions import Permission
from geo.events import stats, stats_items, stats_tables, stats_trend, stats_xlsx
from geo.models.users import AppUser

router = APIRouter(tags=["statistics"])
EventReader = Annotated[Principal, requires(Permission.EVENTS_READ)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

Division = Annotated[str | None, Query(max_length=12, pattern=r"^\d{1,12}$",
                                       description="Division code (12 digits) or id: its villages only.")]
Category = Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9_.]+$",
                                       description="A category of GET /event-categories: a leaf, or a branch "
                                                   "and every leaf below it.")]
From = Annotated[IsoDateTime | None, Query(alias="from", description="Start of the window (default: a year before to).")]
To = Annotated[IsoDateTime | None, Query(alias="to", description="End of the window, exclusive (default: now).")]


@router.get("/stats", response_class=HTMLResponse, include_in_schema=False)
def stats_page() -> HTMLResponse:
    """The page shell is public like the map's; every figure on it needs a token."""
    page = build_stats_page()
    return HTMLResponse(page, headers={"Content-Security-Policy": content_security_policy(page)})


@router.get("/stats/events/tables", summary="The leaders' page: figures by township, village, category and week")
def event_tables(session: SessionDep, principal: EventReader, division: Division = None, category: Category = None,
                 start: From = None, end: To = None) -> JSONResponse:
    """Each table is ``/stats/events?group_by=…`` for the same window and filters (``week``: every week
    of the window, with zeros where nothing was reported); ``place`` names the division shown."""
    answer = stats_tables.leader_tables(session, scope=principal.scope, start=start, end=end,
                                        division=division, category=category)
    place = _place(session, principal, division)
    xlsx = stats_xlsx.file_name(answer, place["name"] if place else "全部")  # the page names its download so
    return JSONResponse(jsonable_encoder({**answer, "place": place, "xlsx_name": xlsx}))


@router.get("/stats/events/trend", summary="The figures of /stats/events by week (Beijing weeks, Monday first)")
def event_trend(session: SessionDep, principal: EventReader, division: Division = None, category: Category = None,
                start: From = None, end: To = None) -> JSONResponse:
    return JSONResponse(jsonable_encoder(stats_trend.weekly_trend(
        session, scope=principal.scope, start=start, end=end, division=division, category=category)))


@router.get("/stats/events/items", summary="The reports behind one figure of /stats/events, newest first")
def event_items(
    session: SessionDep, principal: EventReader,
    figure: Annotated[str, Query(max_length=32, description=f"One of {', '.join(stats.FIGURES)}.")],
    division: Division = None, category: Category = None, start: From = None, end: To = None,
    week: Annotated[str | None, Query(max_length=10, description="A week of the trend: its Monday, YYYY-MM-DD.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0, le=10**7)] = 0,
) -> JSONResponse:
    """``count`` equals the figure on the page for the same filters; the items carry no free text or contact."""
    return JSONResponse(jsonable_encoder(stats_items.figure_items(
        session, scope=principal.scope, figure=figure, start=start, end=end, division=division,
        category=category, week=week, limit=limit, offset=offset)))


@router.get("/stats/events.xlsx", summary="The leaders' page's tables as an XLSX workbook (Chinese headings)",
            response_class=Response, responses={200: {"content": {XLSX: {}}}})
def event_tables_xlsx(session: SessionDep, principal: EventReader, division: Division = None,
                      category: Category = None, start: From = None, end: To = None) -> Response:
    """The same numbers as ``/stats/events/tables`` with the same parameters, one sheet per table."""
    answer = stats_tables.leader_tables(session, scope=principal.scope, start=start, end=end,
                                        division=division, category=category)
    place = _place(session, principal, division)
    name = place["name"] if place else "全部"
    body = stats_xlsx.stats_workbook(answer, title=f"{name}事件统计")
    filename = stats_xlsx.file_name(answer, name)
    return Response(body, media_type=XLSX, headers={
        "Content-Disposition": content_disposition(filename, "event-statistics.xlsx")})


def _place(session: SessionDep, principal: Principal, division: str | None) -> dict[str, object] | None:
    """The division the figures cover: ``division`` if given (checked by the query already), else the
    caller's own jurisdiction (a grid's village); None for the whole platform."""
    if division is not None:
        where, params = "code = :d OR id::text = :d", {"d": division}
    else:
        user = session.get(AppUser, principal.user_id)
        if user is None or (user.division_id is None and user.grid_id is None):
            return None
        if user.division_id is not None:
            where, params = "id = :i", {"i": user.division_id}
        else:
            where, params = "id = (SELECT division_id FROM grid WHERE id = :g)", {"g": user.grid_id}
    row = session.execute(text(f"SELECT code, name, level::text AS level FROM division WHERE {where} LIMIT 1"),
                          params).mappings().first()
    return dict(row) if row else None
