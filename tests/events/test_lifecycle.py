"""The closed loop: every action from every state (allowed → done and recorded; otherwise 409),
deadlines, escalation, duplicates, audit, and re-routing when a boundary edit moves a report."""

from __future__ import annotations

import itertools

import pytest
from edit_grids import crossing_line, etag_of, pick_grid
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session
from test_intake import interior_point, report

from geo.events.lifecycle import ACTIONS
from geo.models.events import EventStatus

BODIES = {"reject": {"note": "not a real problem"}, "feedback": {"note": "cleared the rubbish"},
          "reopen": {"note": "it is back"}, "escalate": {"department": "urban_management", "note": "needs a truck"}}


@pytest.fixture
def two_events(client: TestClient, session: Session) -> tuple[int, int]:
    p = interior_point(session)
    a = report(client, {"lon": p["lon"], "lat": p["lat"]}).json()["id"]
    b = report(client, {"lon": p["lon"], "lat": p["lat"]}).json()["id"]
    return a, b


@pytest.mark.parametrize("status, action", list(itertools.product(EventStatus, ACTIONS)))
def test_every_action_from_every_state(client: TestClient, session: Session, two_events: tuple[int, int],
                                       status: EventStatus, action: str) -> None:
    event, original = two_events
    session.execute(text("UPDATE event SET status = CAST(:s AS event_status) WHERE id = :e"),
                    {"s": status.value, "e": event})
    body = BODIES.get(action, {}) | ({"duplicate_of": original} if action == "duplicate" else {})
    r = client.post(f"/events/{event}/{action}", json=body)
    act = ACTIONS[action]
    if status in act.sources:
        assert r.status_code == 200, r.text
        assert r.json()["event"]["status"] == act.target.value
        row = session.execute(text("""SELECT action, from_status::text, to_status::text, actor, note
                                      FROM event_transition WHERE event_id = :e ORDER BY id DESC LIMIT 1"""),
                              {"e": event}).one()
        assert tuple(row) == (action, status.value, act.target.value, "admin", body.get("note", ""))
        assert session.execute(text("SELECT count(*) FROM audit_log WHERE action = :a AND entity_id = :e"),
                               {"a": f"event.{action}", "e": str(event)}).scalar_one() == 1
    else:
        assert r.status_code == 409, (status, action, r.text)
        assert r.json()["allowed"] == [a for a, x in ACTIONS.items() if status in x.sources]
        assert session.execute(text("SELECT status::text FROM event WHERE id = :e"),
                               {"e": event}).scalar_one() == status.value


def test_the_whole_loop_with_escalation_and_deadlines(as_user, session: Session) -> None:  # noqa: ANN001
    p = interior_point(session)
    ev = report(as_user("admin"), {"lon": p["lon"], "lat": p["lat"]}, category="public_facilities.street_light").json()
    e = ev["id"]
    worker, head = as_user("admin"), as_user("admin")
    assert worker.post(f"/events/{e}/accept").json()["event"]["status"] == "screened"
    assigned = head.post(f"/events/{e}/assign").json()["event"]
    assert assigned["assignee"] == {"kind": "department", "code": "urban_management", "name": "区城市管理局"}
    assert worker.post(f"/events/{e}/start").status_code == 200
    before = session.execute(text("SELECT due_at FROM event WHERE id = :e"), {"e": e}).scalar_one()
    esc = head.post(f"/events/{e}/escalate", json={"department": "fire_rescue", "note": "吹哨"}).json()
    assert esc["event"]["escalated_to"] == "fire_rescue" and esc["detail"]["deadline_hours"] == 24
    after = session.execute(text("SELECT due_at, now() FROM event WHERE id = :e"), {"e": e}).one()
    assert after[0] != before and abs((after[0] - after[1]).total_seconds() - 24 * 3600) < 5
    assert worker.post(f"/events/{e}/start").status_code == 200  # the department takes it up
    assert worker.post(f"/events/{e}/feedback", json={"note": "修好了"}).status_code == 200
    closed = head.post(f"/events/{e}/close").json()["event"]
    assert closed["status"] == "closed" and closed["closed_at"] and closed["handled_at"]
    history = head.get(f"/events/{e}/history").json()["transitions"]
    assert [t["action"] for t in history] == ["report", "accept", "assign", "start", "escalate", "start",
                                              "feedback", "close"]
    assert head.post(f"/events/{e}/reopen").status_code == 422  # a note is required
    reopened = head.post(f"/events/{e}/reopen", json={"note": "灯又不亮了"}).json()["event"]
    assert reopened["status"] == "reopened" and reopened["closed_at"] is None and reopened["handled_at"] is None


def test_escalate_needs_a_known_department(client: TestClient, two_events: tuple[int, int]) -> None:
    e, _ = two_events
    client.post(f"/events/{e}/accept")
    client.post(f"/events/{e}/assign")
    r = client.post(f"/events/{e}/escalate", json={"department": "nasa"})
    assert r.status_code == 422 and "fire_rescue" in r.json()["choices"]
    assert client.post(f"/events/{e}/escalate").status_code == 422


def test_village_matters_go_to_the_village_committee(client: TestClient, session: Session) -> None:
    p = interior_point(session)
    e = report(client, {"lon": p["lon"], "lat": p["lat"]}).json()["id"]  # environment.garbage: 村事
    client.post(f"/events/{e}/accept")
    ev = client.post(f"/events/{e}/assign").json()["event"]
    village = session.execute(text("SELECT division_id FROM grid WHERE id = :g"), {"g": p["grid_id"]}).scalar_one()
    assert ev["assignee"]["kind"] == "division" and ev["assignee"]["id"] == village


def test_a_duplicate_follows_the_root_original(client: TestClient, session: Session, two_events) -> None:  # noqa: ANN001
    a, b = two_events
    p = interior_point(session)
    c = report(client, {"lon": p["lon"], "lat": p["lat"]}).json()["id"]
    assert client.post(f"/events/{b}/duplicate", json={"duplicate_of": a}).status_code == 200
    r = client.post(f"/events/{c}/duplicate", json={"duplicate_of": b})  # b is itself a duplicate of a
    assert r.json()["event"]["duplicate_of"] == a
    assert client.post(f"/events/{a}/duplicate", json={"duplicate_of": c}).status_code == 422  # a cycle
    assert client.post(f"/events/{a}/duplicate", json={}).status_code == 422


def test_overdue_events_are_flagged_and_listed(client: TestClient, session: Session, two_events) -> None:  # noqa: ANN001
    a, _ = two_events
    session.execute(text("UPDATE event SET due_at = now() - interval '5 hours' WHERE id = :e"), {"e": a})
    assert client.get(f"/events/{a}/history").json()["overdue"] is True
    listed = client.get("/events/overdue", params={"limit": 1000}).json()
    assert a in [i["id"] for i in listed["items"]] and listed["count"] >= 1
    assert all(i["hours_overdue"] >= 0 for i in listed["items"])
    client.post(f"/events/{a}/reject", json={"note": "spam"})
    assert a not in [i["id"] for i in client.get("/events/overdue", params={"limit": 1000}).json()["items"]]


def test_permissions_per_action(as_user, two_events) -> None:  # noqa: ANN001
    e, _ = two_events
    assert as_user("worker2").post(f"/events/{e}/assign").status_code in (403, 404)
    assert as_user("viewer").post(f"/events/{e}/accept").status_code == 403
    r = as_user("department").post(f"/events/{e}/close")  # events:handle reaches the rule of 自办自结, which refuses
    assert r.status_code == 409 and r.json()["needs"] == "events:assign"


def test_a_boundary_edit_reroutes_open_events_and_records_the_move(as_user, session: Session) -> None:  # noqa: ANN001
    g = pick_grid(session)
    admin = as_user("admin")
    lon, lat = session.execute(text("SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grid"
                                    " WHERE id = :g"), {"g": g["id"]}).one()
    open_event = report(admin, {"lon": lon, "lat": lat}).json()
    done = report(admin, {"lon": lon, "lat": lat}).json()
    admin.post(f"/events/{done['id']}/reject", json={"note": "test"})
    handled = report(admin, {"lon": lon, "lat": lat}).json()
    admin.post(f"/events/{handled['id']}/accept")
    admin.post(f"/events/{handled['id']}/assign", json={"staff_id": open_event["assignee"]["id"]})
    assert open_event["grids"]["comprehensive"] == g["code"] and open_event["routed_to"] == "grid_worker"
    planner = as_user("planner")
    r = planner.post(f"/grids/{g['id']}/split", json={"line": crossing_line(g), "reason": "re-route test"},
                     headers={"If-Match": etag_of(planner, g["id"])})
    assert r.status_code == 201, r.text
    after = as_user("admin").get(f"/events/{open_event['id']}/history").json()
    assert after["grids"]["comprehensive"] != g["code"]
    moved = [t for t in after["transitions"] if t["action"] == "rerouted"]
    assert len(moved) == 1 and moved[0]["actor"] == "planner"
    assert moved[0]["detail"]["from_grid"] == g["code"]
    assert moved[0]["detail"]["to_grid"] == after["grids"]["comprehensive"]
    # The new grid has no worker yet: the village's grid head takes over.
    assert after["assignee"]["role"] == "grid_head"
    kept = as_user("admin").get(f"/events/{handled['id']}/history").json()
    assert kept["assignee"]["id"] == open_event["assignee"]["id"]  # an assigned handler keeps working on it
    assert [t["action"] for t in kept["transitions"]][-1] == "rerouted"
    assert session.execute(text("SELECT count(*) FROM audit_log WHERE action = 'event.rerouted' AND entity_id = :e"),
                           {"e": str(open_event["id"])}).scalar_one() == 1
    closed = as_user("admin").get(f"/events/{done['id']}/history").json()["transitions"]
    assert "rerouted" not in [t["action"] for t in closed]  # closed reports keep their history as it was


def test_merging_an_original_carries_its_duplicates_along(client: TestClient, session: Session) -> None:
    p = interior_point(session)
    a, b, c = (report(client, {"lon": p["lon"], "lat": p["lat"]}).json()["id"] for _ in range(3))
    assert client.post(f"/events/{a}/duplicate", json={"duplicate_of": b}).status_code == 200
    assert client.post(f"/events/{b}/duplicate", json={"duplicate_of": c}).status_code == 200
    follows = dict(session.execute(text("SELECT id, duplicate_of FROM event WHERE id IN (:a, :b)"),
                                   {"a": a, "b": b}).all())
    assert follows == {a: c, b: c}  # a no longer follows a duplicate


def test_a_worker_cannot_reach_outside_their_territory(as_user, session: Session) -> None:  # noqa: ANN001
    worker = as_user("worker1")
    grid = session.execute(text("SELECT grid_id FROM app_user WHERE username = 'worker1'")).scalar_one()
    inside = session.execute(text("""SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grid
                                     WHERE id = :g"""), {"g": grid}).one()
    mine = report(worker, {"lon": inside[0], "lat": inside[1]}).json()["id"]
    elsewhere = session.execute(text("""
        SELECT e.id FROM event e JOIN grid_membership m ON m.kind = 'event' AND m.entity_id = e.id
        JOIN grid_layer l ON l.id = m.layer_id AND l.code = 'comprehensive'
        WHERE m.grid_id <> :g AND e.status = 'reported' LIMIT 1"""), {"g": grid}).scalar_one()
    r = worker.post(f"/events/{mine}/duplicate", json={"duplicate_of": elsewhere})
    assert r.status_code == 422 and "territory" in r.json()["detail"]
    assert worker.post(f"/events/{elsewhere}/accept").status_code == 404
    head = as_user("admin")
    far_staff = session.execute(text("""SELECT s.id FROM staff s JOIN grid_membership m ON m.kind = 'staff'
        AND m.entity_id = s.id JOIN grid_layer l ON l.id = m.layer_id AND l.code = 'comprehensive'
        WHERE m.grid_id <> :g LIMIT 1"""), {"g": grid}).scalar_one()
    head.post(f"/events/{mine}/accept")
    session.execute(text("UPDATE staff SET availability = 'out_of_service' WHERE id = :s"), {"s": far_staff})
    r = head.post(f"/events/{mine}/assign", json={"staff_id": far_staff})
    assert r.status_code == 422 and r.json()["pointer"] == "staff_id"  # out of service


def test_a_duplicate_is_not_an_open_event_anywhere(client: TestClient, session: Session) -> None:
    from geo.access.scope import Scope
    from geo.emergency import around
    from geo.grids.store import grid_counts

    p = interior_point(session)
    box = dict(zip(("x0", "y0", "x1", "y1"), around.envelope(p["lon"], p["lat"], 50), strict=True))

    def near() -> set[int]:
        where = {"lon": p["lon"], "lat": p["lat"], "r": 50, **box}
        return {e["id"] for e in around.open_events(session, where, Scope.county(), 100)}

    a, b = (report(client, {"lon": p["lon"], "lat": p["lat"]}).json()["id"] for _ in range(2))
    before = grid_counts(session, p["grid_id"])["open_events"]
    assert {a, b} <= near()
    assert client.post(f"/events/{b}/duplicate", json={"duplicate_of": a}).status_code == 200
    assert grid_counts(session, p["grid_id"])["open_events"] == before - 1
    assert a in near() and b not in near()
