"""自办自结: a grid worker closes a residents' matter (民事) in their own grid, after feedback with an after photo.

Everything else still needs a head or a department (409 with needs: events:assign): a village or government
matter, a report outside the grid the worker serves; a civil matter without an after photo is a 409 too. Photos go through the photos
part's API (POST /photos, photo_ids on feedback).
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session
from test_intake import report

CIVIL, VILLAGE, GOVERNMENT = "dispute.neighbour", "environment.garbage", "public_facilities.street_light"


def _worker1(session: Session) -> dict[str, Any]:
    """worker1's grid (their jurisdiction and the grid their staff record serves) and a point deep inside it."""
    return dict(session.execute(text("""
        SELECT u.grid_id, u.staff_id, s.grid_id AS served, ST_X(ST_PointOnSurface(g.geom)) AS lon,
               ST_Y(ST_PointOnSurface(g.geom)) AS lat
        FROM app_user u JOIN grid g ON g.id = u.grid_id LEFT JOIN staff s ON s.id = u.staff_id
        WHERE u.username = 'worker1'""")).mappings().one())


def _handled_by(as_user, category: str, lon: float, lat: float, worker: str, staff_id: int | None,  # noqa: ANN001
                photo_ids: list[str] | None = None) -> int:
    """A report of ``category`` at (lon, lat), accepted and assigned by the admin, started and given
    feedback by ``worker``: an event in state feedback."""
    admin = as_user("admin")
    e = report(admin, {"lon": lon, "lat": lat}, category=category).json()["id"]
    assert admin.post(f"/events/{e}/accept").status_code == 200
    body = {"staff_id": staff_id} if staff_id else {}
    assert admin.post(f"/events/{e}/assign", json=body).status_code == 200
    me = as_user(worker)
    assert me.post(f"/events/{e}/start").status_code == 200
    feedback: dict[str, Any] = {"note": "双方已调解 settled between them"}
    if photo_ids is not None:
        feedback["photo_ids"] = photo_ids
    r = me.post(f"/events/{e}/feedback", json=feedback)
    assert r.status_code == 200, r.text
    return e


def _status(session: Session, e: int) -> str:
    return session.execute(text("SELECT status::text FROM event WHERE id = :e"), {"e": e}).scalar_one()


def test_the_demo_worker_serves_the_grid_of_their_jurisdiction(session: Session) -> None:
    w = _worker1(session)
    assert w["staff_id"] is not None and w["served"] == w["grid_id"]


def test_a_civil_matter_without_an_after_photo_is_not_closed(as_user, session: Session) -> None:  # noqa: ANN001
    w = _worker1(session)
    e = _handled_by(as_user, CIVIL, w["lon"], w["lat"], "worker1", w["staff_id"])
    r = as_user("worker1").post(f"/events/{e}/close")
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "photo" in r.json()["detail"] and r.json()["missing"] == "photo_ids"
    assert _status(session, e) == "feedback"


@pytest.mark.parametrize("category, kind", [(VILLAGE, "村事"), (GOVERNMENT, "政事")])
def test_village_and_government_matters_need_a_head_or_a_department(
        as_user, session: Session, category: str, kind: str) -> None:  # noqa: ANN001
    w = _worker1(session)
    e = _handled_by(as_user, category, w["lon"], w["lat"], "worker1", w["staff_id"])
    r = as_user("worker1").post(f"/events/{e}/close")
    assert r.status_code == 409, r.text
    assert kind in r.json()["detail"] and "grid head or a department" in r.json()["detail"]
    assert r.json()["needs"] == "events:assign"
    assert _status(session, e) == "feedback"


def test_a_worker_without_a_grid_of_their_own_cannot_close(as_user, session: Session) -> None:  # noqa: ANN001
    """worker2's jurisdiction is a whole village: a civil matter there is in their territory, not in a grid they serve."""
    p = session.execute(text("""
        SELECT ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
        FROM app_user u JOIN grid g ON g.division_id = u.division_id
        JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
        WHERE u.username = 'worker2' ORDER BY g.code LIMIT 1""")).mappings().one()
    e = _handled_by(as_user, CIVIL, p["lon"], p["lat"], "worker2", None)
    r = as_user("worker2").post(f"/events/{e}/close")
    assert r.status_code == 409 and "grid you serve" in r.json()["detail"], r.text
    assert r.json()["needs"] == "events:assign"
    assert _status(session, e) == "feedback"


def test_a_worker_cannot_close_before_feedback(as_user, session: Session) -> None:  # noqa: ANN001
    w = _worker1(session)
    e = report(as_user("admin"), {"lon": w["lon"], "lat": w["lat"]}, category=CIVIL).json()["id"]
    r = as_user("worker1").post(f"/events/{e}/close")
    assert r.status_code == 409 and r.json()["current_status"] == "reported"


def test_a_head_still_closes_without_a_photo(as_user, session: Session) -> None:  # noqa: ANN001
    """The rule binds those who close under it; events:assign closes as before, not recorded as 自办自结."""
    w = _worker1(session)
    e = _handled_by(as_user, CIVIL, w["lon"], w["lat"], "worker1", w["staff_id"])
    r = as_user("admin").post(f"/events/{e}/close")
    assert r.status_code == 200 and "self_closed" not in r.json()["detail"]


def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 140, 60)).save(buf, "JPEG")
    return buf.getvalue()


def _upload(client: TestClient) -> str:
    r = client.post("/photos", files={"file": ("after.jpg", _jpeg(), "image/jpeg")})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_a_civil_matter_with_an_after_photo_is_closed_by_the_worker(as_user, session: Session) -> None:  # noqa: ANN001
    w = _worker1(session)
    photo = _upload(as_user("worker1"))
    e = _handled_by(as_user, CIVIL, w["lon"], w["lat"], "worker1", w["staff_id"], photo_ids=[photo])
    r = as_user("worker1").post(f"/events/{e}/close")
    assert r.status_code == 200, r.text
    assert r.json()["event"]["status"] == "closed" and r.json()["detail"] == {"self_closed": True}
    row = session.execute(text("""SELECT actor, detail FROM event_transition WHERE event_id = :e
                                  ORDER BY id DESC LIMIT 1"""), {"e": e}).one()
    assert row.actor == "worker1" and row.detail == {"self_closed": True}
    assert session.execute(text("SELECT count(*) FROM audit_log WHERE action = 'event.close' AND entity_id = :e"),
                           {"e": str(e)}).scalar_one() == 1


def test_a_report_photo_is_not_an_after_photo(as_user, session: Session) -> None:  # noqa: ANN001
    w = _worker1(session)
    admin = as_user("admin")
    photo = _upload(admin)
    e = report(admin, {"lon": w["lon"], "lat": w["lat"]}, category=CIVIL, photo_ids=[photo]).json()["id"]
    admin.post(f"/events/{e}/accept")
    admin.post(f"/events/{e}/assign", json={"staff_id": w["staff_id"]})
    worker = as_user("worker1")
    worker.post(f"/events/{e}/start")
    worker.post(f"/events/{e}/feedback", json={"note": "已处理"})
    assert worker.post(f"/events/{e}/close").status_code == 409


def test_an_after_photo_uploaded_by_another_account_is_refused(as_user, session: Session) -> None:  # noqa: ANN001
    """The after photo is the worker's evidence for 自办自结: a photo another signed-in account uploaded (its
    id shared or leaked) is not it. 422 naming the position; the step is not taken and the photo stays
    unattached (so its uploader still has it)."""
    w = _worker1(session)
    theirs = _upload(as_user("worker2"))
    admin = as_user("admin")
    e = report(admin, {"lon": w["lon"], "lat": w["lat"]}, category=CIVIL).json()["id"]
    admin.post(f"/events/{e}/accept")
    admin.post(f"/events/{e}/assign", json={"staff_id": w["staff_id"]})
    worker = as_user("worker1")
    assert worker.post(f"/events/{e}/start").status_code == 200
    r = worker.post(f"/events/{e}/feedback", json={"note": "已处理", "photo_ids": [theirs]})
    assert r.status_code == 422, r.text
    assert r.json()["pointer"] == "photo_ids/0" and "another account" in r.json()["detail"]
    assert _status(session, e) == "in_progress"
    assert session.execute(text("SELECT event_id FROM photo WHERE id = :p"), {"p": theirs}).scalar() is None
    got = as_user("worker2").get(f"/photos/{theirs}")
    assert got.status_code == 200, got.text
    before = as_user("worker1").post(f"/events/{e}/feedback", json={"note": "已处理", "before_photo_ids": [theirs]})
    assert before.status_code == 422 and before.json()["pointer"] == "before_photo_ids/0"
