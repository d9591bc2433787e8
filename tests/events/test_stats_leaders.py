"""The leaders' statistics (issue 15): the weekly trend, the tables by township, village and category,
the list behind each figure and the XLSX, on the demo county's year, checked against direct SQL."""

from __future__ import annotations

import io
import re
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

# The demo's year (tests/conftest.py anchors it at 2026-11-01): a window wholly in the past, so as_of = to.
YEAR = {"from": "2025-11-03T00:00:00+08:00", "to": "2026-11-02T00:00:00+08:00"}  # Monday to Monday: 52 weeks
COUNTED = ("reported", "rejected", "duplicates", "received", "handled", "closed", "closed_on_time", "open_overdue")

# The figures per week, spelled independently of geo/events/stats.py, from the event table itself.
_DIRECT_WEEKS = """
    SELECT to_char(date_trunc('week', e.reported_at AT TIME ZONE 'Asia/Shanghai'), 'YYYY-MM-DD') AS week,
           count(*) AS reported,
           count(*) FILTER (WHERE e.status::text NOT IN ('rejected', 'duplicate')) AS received,
           count(*) FILTER (WHERE e.status::text NOT IN ('rejected', 'duplicate') AND e.handled_at <= :t) AS handled,
           count(*) FILTER (WHERE e.status::text NOT IN ('rejected', 'duplicate')
                            AND (e.closed_at IS NULL OR e.closed_at > :t) AND e.due_at < :t) AS open_overdue
    FROM event e {join}
    WHERE e.reported_at >= :f AND e.reported_at < :t {where}
    GROUP BY 1 ORDER BY 1
"""
_IN_TOWNSHIP = ("JOIN grid_membership m ON m.kind = 'event' AND m.entity_id = e.id AND m.layer_id = "
                "(SELECT id FROM grid_layer WHERE code = 'comprehensive') JOIN grid g ON g.id = m.grid_id "
                "JOIN division v ON v.id = g.division_id JOIN division t ON t.id = v.parent_id")


def _direct(session: Session, *, in_grids: bool = True, township: str | None = None) -> dict[str, dict]:
    """Per week; ``in_grids``: only reports inside a comprehensive grid (a county leader's territory: the few
    demo reports that fall in no grid belong to nobody's territory), ``township``: only that township's."""
    sql = _DIRECT_WEEKS.format(join=_IN_TOWNSHIP if in_grids else "", where="AND t.code = :town" if township else "")
    rows = session.execute(text(sql), {"f": "2025-11-03T00:00:00+08:00", "t": "2026-11-02T00:00:00+08:00",
                                       "town": township}).mappings()
    return {r["week"]: dict(r) for r in rows}


def _town_of(session: Session, username: str) -> tuple[str, str]:
    return tuple(session.execute(text("SELECT d.code, d.name FROM app_user u JOIN division d ON d.id = u.division_id "
                                      "WHERE u.username = :u"), {"u": username}).one())


@pytest.mark.parametrize(("username", "in_grids"), [("leader", True), ("admin", False)])
def test_the_weekly_trend_equals_a_direct_count(as_user, session: Session, username: str, in_grids: bool) -> None:
    r = as_user(username).get("/stats/events/trend", params=YEAR)
    assert r.status_code == 200, r.text
    weeks = r.json()["groups"]
    assert len(weeks) == 52 and weeks[0]["key"] == "2025-11-03" and weeks[-1]["key"] == "2026-10-26"
    direct = _direct(session, in_grids=in_grids)
    assert sum(d["received"] for d in direct.values()) > 1000  # the demo's year, not an empty window
    for w in weeks:
        d = direct.get(w["key"], dict.fromkeys(("reported", "received", "handled", "open_overdue"), 0))
        assert (w["reported"], w["received"], w["handled"], w["open_overdue"]) == (
            d["reported"], d["received"], d["handled"], d["open_overdue"]), w["key"]
        if w["received"]:
            assert w["handling_rate"] == round(w["handled"] / w["received"], 4)


def test_a_township_leader_sees_their_township_only(as_user, session: Session) -> None:
    town, name = _town_of(session, "leader_town")
    mine = as_user("leader_town").get("/stats/events/tables", params=YEAR).json()
    assert mine["place"] == {"code": town, "name": name, "level": "township"}
    assert [g["key"] for g in mine["tables"]["township"]] == [town]
    assert mine["tables"]["village"] and all(g["key"].startswith(town[:9]) for g in mine["tables"]["village"])
    direct = _direct(session, township=town)
    assert {w["key"]: w["received"] for w in mine["tables"]["week"] if w["received"]} == {
        k: d["received"] for k, d in direct.items() if d["received"]}
    county = as_user("leader").get("/stats/events/tables", params=YEAR).json()
    row = next(g for g in county["tables"]["township"] if g["key"] == town)
    assert {k: row[k] for k in COUNTED} == {k: mine["total"][k] for k in COUNTED}
    assert row["handling_rate"] == mine["total"]["handling_rate"]


def test_tables_add_up_to_the_total_and_equal_stats_events(as_user) -> None:
    leader = as_user("leader")
    answer = leader.get("/stats/events/tables", params=YEAR).json()
    total = answer["total"]
    for table in ("township", "village", "category", "week"):
        groups = answer["tables"][table]
        for k in COUNTED:
            assert sum(g[k] for g in groups) == total[k], (table, k)
    # 处置率 exactly as /stats/events defines it, for the same window
    headline = leader.get("/stats/events", params=YEAR).json()["total"]
    assert headline == total and total["handling_rate"] == round(total["handled"] / total["received"], 4)
    by_category = leader.get("/stats/events", params={**YEAR, "group_by": "category"}).json()["groups"]
    assert by_category == answer["tables"]["category"]


@pytest.mark.parametrize("figure", ["received", "handled", "open_overdue", "closed_on_time", "rejected"])
def test_the_list_behind_a_township_figure_has_that_many_reports(as_user, session: Session, figure: str) -> None:
    leader = as_user("leader")
    town, _ = _town_of(session, "leader_town")
    row = next(g for g in leader.get("/stats/events/tables", params=YEAR).json()["tables"]["township"]
               if g["key"] == town)
    listed = leader.get("/stats/events/items", params={**YEAR, "figure": figure, "division": town,
                                                        "limit": 1000}).json()
    assert listed["count"] == row[figure] == len(listed["items"])
    assert len({i["id"] for i in listed["items"]}) == row[figure]
    assert all(i["township_code"] == town for i in listed["items"])
    assert not any(k in i for i in listed["items"] for k in ("description", "address", "contact"))


def test_the_list_behind_a_week_and_a_category_pages_to_its_figure(as_user) -> None:
    leader = as_user("leader")
    answer = leader.get("/stats/events/tables", params=YEAR).json()
    week = max(answer["tables"]["week"], key=lambda w: w["received"])
    category = max(answer["tables"]["category"], key=lambda c: c["handled"])
    by_week = leader.get("/stats/events/items", params={**YEAR, "figure": "received", "week": week["key"],
                                                        "limit": 7}).json()
    ids = [i["id"] for i in by_week["items"]]
    offset = 7
    while offset < by_week["count"]:  # page through: every report once
        ids += [i["id"] for i in leader.get("/stats/events/items", params={
            **YEAR, "figure": "received", "week": week["key"], "limit": 7, "offset": offset}).json()["items"]]
        offset += 7
    assert by_week["count"] == week["received"] == len(ids) == len(set(ids))
    by_cat = leader.get("/stats/events/items", params={**YEAR, "figure": "handled", "category": category["key"],
                                                       "limit": 1000}).json()
    assert by_cat["count"] == category["handled"] == len(by_cat["items"])
    assert {i["category"] for i in by_cat["items"]} == {category["key"]}


def test_the_xlsx_holds_the_numbers_of_the_json(as_user) -> None:
    from openpyxl import load_workbook

    leader = as_user("leader_town")
    answer = leader.get("/stats/events/tables", params=YEAR).json()
    r = leader.get("/stats/events.xlsx", params=YEAR)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    star = unquote(re.search(r"filename\*=UTF-8''([^;]+)", r.headers["content-disposition"]).group(1))
    assert star == f"{answer['place']['name']}事件统计_2025-11-03至2026-11-01.xlsx"
    book = load_workbook(io.BytesIO(r.content), read_only=True)
    assert book.sheetnames == ["总体", "按乡镇", "按村（社区）", "按类别", "按周"]
    fields = ("key", "name", "reported", "rejected", "duplicates", "received", "handled", "handling_rate", "closed",
              "closed_on_time", "on_time_rate", "open_overdue", "median_hours_to_close", "p90_hours_to_close")
    for sheet, table in (("按乡镇", "township"), ("按村（社区）", "village"), ("按类别", "category"), ("按周", "week")):
        rows = [_padded(row, len(fields)) for row in book[sheet].iter_rows(values_only=True)]
        assert rows[0][2:8] == ("上报", "无效", "重复", "受理", "处置", "处置率")
        assert rows[1:] == [tuple(g[f] for f in fields) for g in answer["tables"][table]]
    summary = list(book["总体"].iter_rows(values_only=True))
    total_row = _padded(next(row for row in summary if row and row[0] == "合计"), len(fields))
    assert total_row[2:] == tuple(answer["total"][f] for f in fields[2:])


def _padded(row: tuple, width: int) -> tuple:
    """A row as written: openpyxl reads no cell for a trailing empty one (a time to close with nothing closed)."""
    return tuple(row) + (None,) * (width - len(row))


@pytest.mark.parametrize(("path", "params", "pointer"), [
    ("/stats/events/items", {"figure": "planet"}, "figure"),
    ("/stats/events/items", {"figure": "handled", "week": "last week"}, "week"),
    ("/stats/events/tables", {"category": "no.such"}, "category"),
    ("/stats/events/tables", {"division": "999999999999"}, "division"),
    ("/stats/events.xlsx", {"from": "2026-02-01", "to": "2026-01-01"}, "from"),
])
def test_bad_parameters_are_problems_naming_them(as_user, path: str, params: dict, pointer: str) -> None:
    r = as_user("leader").get(path, params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["pointer"] == pointer


def test_the_page_is_a_shell_from_this_server(anonymous: TestClient) -> None:
    r = anonymous.get("/stats")
    assert r.status_code == 200 and "事件统计" in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp.split(";")[1]
    assert not re.search(r"(src|href)=\"(https?:)?//", r.text)
    for src in re.findall(r"(?:src|href)=\"(/static/[^\"]+)\"", r.text):
        assert anonymous.get(src).status_code == 200, src
    assert anonymous.get("/stats/events/tables").status_code == 401  # the figures need a token
