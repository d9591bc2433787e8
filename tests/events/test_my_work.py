"""GET /events/mine (我的工作): the caller's open reports, counts by status, overdue first, grid names,
seconds to the deadline, addresses masked; an account without a staff record sees its territory's."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session
from test_intake import report
from test_self_close import CIVIL, _worker1


def _open_count(session: Session, where: str, **params: object) -> dict[str, int]:
    rows = session.execute(text(f"""SELECT status::text, count(*) FROM event
        WHERE status::text NOT IN ('closed', 'rejected', 'duplicate') AND {where} GROUP BY 1"""), params).all()
    return {s: n for s, n in rows}


def test_my_open_reports_overdue_first_with_grid_names(as_user, session: Session) -> None:  # noqa: ANN001
    w = _worker1(session)
    admin = as_user("admin")
    soon = report(admin, {"lon": w["lon"], "lat": w["lat"]}, category=CIVIL).json()["id"]
    late = report(admin, {"lon": w["lon"], "lat": w["lat"]}, category=CIVIL).json()["id"]
    # It waited past its deadline, and its address was written with a phone number in it.
    session.execute(text("""UPDATE event SET due_at = now() - interval '3 days 4 hours',
                            address = '花溪路1号 电话13812345678' WHERE id = :e"""), {"e": late})
    gone = report(admin, {"lon": w["lon"], "lat": w["lat"]}, category=CIVIL).json()["id"]
    admin.post(f"/events/{gone}/accept")
    assert admin.post(f"/events/{gone}/assign", json={"department": "urban_management"}).status_code == 200

    r = as_user("worker1").get("/events/mine")
    assert r.status_code == 200, r.text
    body = r.json()
    expected = _open_count(session, "assignee_staff_id = :s", s=w["staff_id"])
    assert body["by_status"] == expected and body["total"] == sum(expected.values())
    assert body["overdue"] == session.execute(text("""SELECT count(*) FROM event WHERE assignee_staff_id = :s
        AND status::text NOT IN ('closed', 'rejected', 'duplicate') AND due_at < now()"""),
                                              {"s": w["staff_id"]}).scalar_one()
    ids = [i["id"] for i in body["items"]]
    assert soon in ids and late in ids and gone not in ids
    flags = [i["overdue"] for i in body["items"]]
    assert flags == sorted(flags, reverse=True)  # overdue first
    item = next(i for i in body["items"] if i["id"] == late)
    grid = session.execute(text("SELECT code, name FROM grid WHERE id = :g"), {"g": w["grid_id"]}).one()
    assert (item["grid_code"], item["grid_name"]) == tuple(grid) and item["category_name"] == "邻里纠纷"
    assert -(3 * 24 + 4) * 3600 - 60 < item["due_in_s"] < -(3 * 24 + 4) * 3600 + 60
    assert "13812345678" not in r.text and "138****5678" in item["address"]
    fresh = next(i for i in body["items"] if i["id"] == soon)
    assert fresh["due_in_s"] > 0 and fresh["triage"] == "civil"


def test_an_account_without_a_staff_record_sees_its_territory(as_user, session: Session) -> None:  # noqa: ANN001
    body = as_user("admin").get("/events/mine", params={"limit": 5}).json()
    assert body["by_status"] == _open_count(session, "true") and len(body["items"]) <= 5


def test_my_work_needs_events_read(as_user) -> None:  # noqa: ANN001
    assert as_user("viewer").get("/events/mine").status_code == 403
    assert as_user("worker1").get("/events/mine", params={"limit": 0}).status_code == 422
