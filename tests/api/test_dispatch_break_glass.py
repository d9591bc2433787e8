"""The command map's writes and unmasking: dispatch a responder to an event, break the glass on an incident.

Real PostGIS, the test district, every test in its own rolled-back transaction (tests/conftest.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

OPEN = "status::text NOT IN ('closed', 'rejected', 'duplicate')"


def _territory_event(session: Session, inside: bool = True) -> int:
    """An open event inside (or outside) the emergency account's township with households around it,
    at least one of them flagged as needing help, within 300 m."""
    return session.execute(text(f"""
        SELECT e.id FROM event e, app_user u JOIN division d ON d.id = u.division_id
         WHERE u.username = 'emergency' AND e.{OPEN}
           AND {'' if inside else 'NOT'} EXISTS (SELECT 1 FROM grid_membership m JOIN grid g ON g.id = m.grid_id
                        JOIN division v ON v.id = g.division_id
                       WHERE m.kind = 'event' AND m.entity_id = e.id AND v.parent_id = d.id)
           AND EXISTS (SELECT 1 FROM household h WHERE cardinality(h.needs_help) > 0
                         AND ST_DWithin(h.geom::geography, e.geom::geography, 300))
         ORDER BY e.id LIMIT 1""")).scalar_one()


def _responder(officer: TestClient, event_id: int) -> int:
    r = officer.get(f"/events/{event_id}/responders?k=3&include_stale=true")
    assert r.status_code == 200, r.text
    return r.json()["responders"][0]["id"]


@pytest.fixture
def officer2(app, session: Session, tokens) -> str:  # noqa: ANN001
    """A second emergency officer of the same township (an account of their own, in this transaction)."""
    from geo.access.permissions import Role
    from geo.access.security import create_user, issue_tokens

    town = session.execute(text("SELECT d.code FROM app_user u JOIN division d ON d.id = u.division_id"
                                " WHERE u.username = 'emergency'")).scalar_one()
    user = create_user(session, username="emergency_b", password="another-password-1", role=Role.EMERGENCY,
                       division_code=town)
    session.flush()
    return str(issue_tokens(user, app.state.token_settings)["access_token"])


def test_dispatch_sets_busy_for_the_event_and_audits(as_user, session: Session) -> None:  # noqa: ANN001
    officer = as_user("emergency")
    event = _territory_event(session)
    staff = _responder(officer, event)
    r = officer.post(f"/events/{event}/dispatch", json={"staff_id": staff})
    assert r.status_code == 200, r.text
    assert r.json()["availability"] == "busy" and r.json()["previous"] in ("available", "on_duty")
    row = session.execute(text("SELECT availability::text, busy_event_id FROM staff WHERE id = :s"),
                          {"s": staff}).one()
    assert tuple(row) == ("busy", event)
    audit = session.execute(text("SELECT username, entity, detail FROM audit_log WHERE action = 'responder.dispatched'"
                                 " AND entity_id = :s ORDER BY id DESC LIMIT 1"), {"s": str(staff)}).one()
    assert audit.username == "emergency" and audit.detail["event_id"] == event
    assert officer.get(f"/events/{event}/dispatch").json()["staff_ids"] == [staff]
    assert staff not in [x["id"] for x in officer.get(f"/events/{event}/responders?k=20&include_stale=true")
                         .json()["responders"]]  # busy: no longer offered
    again = officer.post(f"/events/{event}/dispatch", json={"staff_id": staff})  # already busy: 409, unchanged
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    assert "busy" in again.json()["detail"] and str(event) in again.json()["detail"]
    # Back to available (by the responder or dispatch): no longer busy for the event.
    officer.put(f"/staff/{staff}/availability", json={"availability": "available"})
    assert session.execute(text("SELECT busy_event_id FROM staff WHERE id = :s"), {"s": staff}).scalar() is None


def test_dispatch_refusals(as_user, session: Session) -> None:  # noqa: ANN001
    officer = as_user("emergency")
    event = _territory_event(session)
    off = session.execute(text("SELECT id FROM staff WHERE id = :s"), {"s": _responder(officer, event)}).scalar_one()
    session.execute(text("UPDATE staff SET availability = 'off_duty' WHERE id = :s"), {"s": off})
    r = officer.post(f"/events/{event}/dispatch", json={"staff_id": off})
    assert r.status_code == 409 and "off_duty" in r.json()["detail"]
    outside = _territory_event(session, inside=False)
    r = officer.post(f"/events/{outside}/dispatch", json={"staff_id": off})
    assert r.status_code == 404  # outside the territory looks like absent
    far = session.execute(text("""
        SELECT s.id FROM staff s, app_user u WHERE u.username = 'emergency' AND s.availability = 'available'
           AND s.division_id IS DISTINCT FROM u.division_id
           AND s.division_id NOT IN (SELECT id FROM division WHERE parent_id = u.division_id)
           AND s.grid_id IS NULL ORDER BY s.id LIMIT 1""")).scalar_one()
    r = officer.post(f"/events/{event}/dispatch", json={"staff_id": far})
    assert r.status_code == 404 and r.json()["pointer"] == "staff_id"
    assert officer.post(f"/events/{event}/dispatch", json={"staff_id": "x"}).status_code == 422
    closed = session.execute(text("UPDATE event SET status = 'closed' WHERE id = :e RETURNING id"),
                             {"e": event}).scalar_one()
    r = officer.post(f"/events/{closed}/dispatch", json={"staff_id": off})
    assert r.status_code == 409 and "not open" in r.json()["detail"]
    assert as_user("viewer").post(f"/events/{event}/dispatch", json={"staff_id": off}).status_code == 403
    assert session.execute(text("SELECT count(*) FROM audit_log WHERE action = 'responder.dispatched'"
                                " AND entity_id = :s"), {"s": str(off)}).scalar_one() == 0  # nothing half-way


def _phones(body: dict) -> list[str]:
    homes = body["households"]
    return [h["contact"]["phone"] for h in homes["items"] + homes.get("needs_help", []) if h["contact"]]


def test_break_glass_unmasks_around_the_incident_and_is_audited(as_user, session: Session) -> None:  # noqa: ANN001
    officer = as_user("emergency")
    event = _territory_event(session)
    lon, lat = session.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM event WHERE id = :e"), {"e": event}).one()
    plain = officer.get(f"/around?lon={lon}&lat={lat}&radius=300").json()  # no grant: masked, as before
    assert plain["households"]["count"] > 0 and plain["households"]["needs_help"] == []
    assert all("****" in p for p in _phones(plain)) and _phones(plain)
    assert officer.post("/break-glass", json={"event_id": event, "reason": " "}).status_code == 422
    r = officer.post("/break-glass", json={"event_id": event, "reason": "暴雨内涝，转移低洼处住户"})
    assert r.status_code == 201, r.text
    grant = r.json()
    assert grant["open"] and 7100 < grant["seconds_left"] <= 7200 and grant["event_id"] == event
    assert [g["id"] for g in officer.get("/break-glass").json()] == [grant["id"]]
    body = officer.get(f"/break-glass/{grant['id']}/around?radius=300")
    assert body.status_code == 200, body.text
    homes = body.json()["households"]
    assert homes["needs_help"] and all(h["needs_help"] for h in homes["needs_help"])
    phones = _phones(body.json())
    assert phones and not any("*" in p for p in phones) and all(p.isdigit() and len(p) == 11 for p in phones)
    assert all(h["contact"]["masked"] is False for h in homes["items"] if h["contact"])
    row = session.execute(text("SELECT username, entity_id, purpose, detail FROM audit_log"
                               " WHERE action = 'pii.break_glass' ORDER BY id DESC LIMIT 1")).one()
    assert row.username == "emergency" and row.entity_id == str(event)
    assert row.detail["grant_id"] == grant["id"] and row.detail["event_id"] == event and "暴雨" in row.purpose
    assert row.detail["households"] == len({h["id"] for h in homes["items"] + homes["needs_help"]})
    assert not any(p in str(row.detail) for p in phones)  # counts and ids only
    # The ordinary /around stays masked while the grant is open: a grant is read through its own route.
    assert all("****" in p for p in _phones(officer.get(f"/around?lon={lon}&lat={lat}&radius=300").json()))
    # Beyond the grant's reach around the incident: refused, nothing read.
    assert officer.get(f"/break-glass/{grant['id']}/around?radius=3000").status_code == 422
    # The auditor sees the reads as their own kind.
    seen = as_user("auditor").get("/audit?action=pii.break_glass&limit=500").json()
    assert seen and {a["action"] for a in seen} == {"pii.break_glass"}
    assert any(a["detail"]["grant_id"] == grant["id"] for a in seen)
    family = {a["action"] for a in as_user("auditor").get("/audit?action=pii.*&limit=500").json()}
    assert "pii.break_glass" in family
    assert as_user("auditor").get("/audit?action=pii.break glass").status_code == 422
    # Closed early: the grant no longer unmasks.
    closed = as_user("emergency").delete(f"/break-glass/{grant['id']}")
    assert closed.status_code == 200 and closed.json()["open"] is False
    r = officer.get(f"/break-glass/{grant['id']}/around?radius=300")
    assert r.status_code == 403 and "closed" in r.json()["detail"]
    assert officer.get("/break-glass").json() == []
    assert session.execute(text("SELECT count(*) FROM audit_log WHERE action IN ('break_glass.open',"
                                " 'break_glass.close') AND entity_id = :e"), {"e": str(event)}).scalar_one() == 2


def test_expired_or_anothers_grant_does_not_unmask(as_user, anonymous, officer2: str, session: Session) -> None:  # noqa: ANN001
    officer = as_user("emergency")
    event = _territory_event(session)
    grant = officer.post("/break-glass", json={"event_id": event, "reason": "火情，通知周边住户"}).json()
    reads = "SELECT count(*) FROM audit_log WHERE action = 'pii.break_glass'"
    before = session.execute(text(reads)).scalar_one()
    anonymous.headers["Authorization"] = f"Bearer {officer2}"
    r = anonymous.get(f"/break-glass/{grant['id']}/around")
    assert r.status_code == 404  # another officer's grant: as if none
    assert anonymous.delete(f"/break-glass/{grant['id']}").status_code == 404
    assert anonymous.get("/break-glass").json() == []
    session.execute(text("UPDATE break_glass_grant SET opened_at = now() - interval '3 hours',"
                         " expires_at = now() - interval '1 hour' WHERE id = :g"), {"g": grant["id"]})
    officer = as_user("emergency")
    r = officer.get(f"/break-glass/{grant['id']}/around")
    assert r.status_code == 403 and "expired" in r.json()["detail"]
    assert officer.get("/break-glass").json() == []  # no open grant
    assert session.execute(text(reads)).scalar_one() == before  # nothing was read


def test_break_glass_only_for_an_open_event_in_territory(as_user, session: Session) -> None:  # noqa: ANN001
    officer = as_user("emergency")
    outside = _territory_event(session, inside=False)
    r = officer.post("/break-glass", json={"event_id": outside, "reason": "越界测试原因"})
    assert r.status_code == 404
    event = _territory_event(session)
    session.execute(text("UPDATE event SET status = 'closed' WHERE id = :e"), {"e": event})
    r = officer.post("/break-glass", json={"event_id": event, "reason": "已办结事件"})
    assert r.status_code == 409 and "not open" in r.json()["detail"]
    for role in ("admin", "worker1", "viewer", "auditor"):  # only the emergency role may break the glass
        assert as_user(role).post("/break-glass", json={"event_id": event, "reason": "无权限测试"}).status_code == 403
    assert session.execute(text("SELECT count(*) FROM break_glass_grant")).scalar_one() == 0
