"""Personal data: masked by default in every shape, unmasked only with pii:read + purpose, always audited,
never in logs, errors or list endpoints."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.pii import id_check_character, mask_id_number, mask_name, mask_phone, validate_id_number

ID_NUMBER = re.compile(r"(?<![\d*])\d{17}[\dX](?![\d*])")
MOBILE = re.compile(r"(?<![\d*])1[3-9]\d{9}(?![\d*])")


def _see_all(session: Session) -> None:
    """Test set-up reads personal-data tables as the application role with a county-wide scope."""
    session.execute(text("SELECT set_config('gridmap.scope_all', 'on', true)"))


def _worker1_household(session: Session) -> int:
    _see_all(session)
    return session.execute(text("""
        SELECT min(m.entity_id) FROM grid_membership m JOIN app_user u ON u.username = 'worker1'
        JOIN resident r ON r.household_id = m.entity_id
        WHERE m.kind = 'household' AND m.grid_id = u.grid_id""")).scalar_one()


def _audit_rows(session: Session, action: str) -> int:
    return session.execute(text("SELECT count(*) FROM audit_log WHERE action = :a"), {"a": action}).scalar_one()


def test_masks() -> None:
    assert mask_name("张三丰") == "张**" and mask_name("李四") == "李*"
    assert mask_id_number("52011119850101123X") == "5201**********123X"
    assert mask_phone("13812345678") == "138****5678"


def test_id_numbers_are_validated_with_the_gb11643_check_character() -> None:
    from geo.errors import InvalidInput

    assert validate_id_number("11010519491231002x") == "11010519491231002X"
    good = "520111198501011234"
    good = good[:17] + id_check_character(good[:17])
    assert validate_id_number(good) == good
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    for bad in (wrong, "52011119851301123X", "12345", "5201111985010112A4"):
        with pytest.raises(InvalidInput) as err:
            validate_id_number(bad)
        assert bad not in err.value.detail


def test_residents_are_masked_by_default(as_user, session: Session) -> None:  # noqa: ANN001
    hid = _worker1_household(session)
    for user in ("worker1", "admin", "planner"):
        rows = as_user(user).get(f"/households/{hid}/residents").json()
        assert rows and all(r["masked"] for r in rows), user
        text_ = str(rows)
        assert not ID_NUMBER.search(text_) and not MOBILE.search(text_)
        assert all(len(r["name"]) >= 2 and set(r["name"][1:]) == {"*"} for r in rows)


def test_unmasked_needs_permission_and_purpose_and_is_audited(as_user, session: Session) -> None:  # noqa: ANN001
    hid = _worker1_household(session)
    url = f"/households/{hid}/residents?unmasked=true"
    assert as_user("planner").get(url + "&purpose=checking+records").status_code == 403
    assert as_user("worker1").get(url).status_code == 422
    before = _audit_rows(session, "pii.read")
    rows = as_user("worker1").get(url + "&purpose=door-to-door+census").json()
    assert rows and not any(r["masked"] for r in rows)
    assert all(ID_NUMBER.fullmatch(r["id_number"]) for r in rows)
    assert _audit_rows(session, "pii.read") == before + 1
    row = session.execute(text(
        "SELECT username, entity, entity_id, purpose FROM audit_log WHERE action = 'pii.read' ORDER BY id DESC LIMIT 1"
    )).one()
    assert tuple(row) == ("worker1", "household", str(hid), "door-to-door census")


def test_reporter_contact_is_masked_and_scoped(as_user, session: Session) -> None:  # noqa: ANN001
    _see_all(session)
    eid = session.execute(text("""
        SELECT min(c.event_id) FROM event_contact c JOIN grid_membership m ON m.entity_id = c.event_id
        AND m.kind = 'event' JOIN app_user u ON u.username = 'worker1' AND m.grid_id = u.grid_id""")).scalar()
    if eid is None:
        pytest.skip("no reported event with a contact in worker1's grid in this district")
    masked = as_user("worker1").get(f"/events/{eid}/contact").json()
    assert masked["masked"] and "****" in masked["phone"]
    assert as_user("worker2").get(f"/events/{eid}/contact").status_code == 404


def test_export_needs_its_own_permission(as_user, session: Session) -> None:  # noqa: ANN001
    assert as_user("worker1").get("/residents/export?purpose=annual+report").status_code == 403
    r = as_user("head1").get("/residents/export?purpose=annual+report")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0].startswith("id,household_id,address,name,id_number,phone") and len(lines) > 10
    head_village = session.execute(text(
        "SELECT d.name FROM app_user u JOIN division d ON d.id = u.division_id WHERE u.username = 'head1'")).scalar()
    assert all(head_village in line for line in lines[1:])  # RLS and scope: only the head's village
    assert _audit_rows(session, "pii.export") >= 1


def test_writes_are_audited_and_validated(as_user, session: Session) -> None:  # noqa: ANN001
    hid = _worker1_household(session)
    bad = as_user("worker1").post(f"/households/{hid}/residents",
                                  json={"name": "赵六", "id_number": "110105194912310021", "phone": ""})
    assert bad.status_code == 422 and "110105194912310021" not in bad.text
    ok = as_user("worker1").post(f"/households/{hid}/residents",
                                 json={"name": "赵六", "id_number": "11010519491231002X", "phone": "13800138000"})
    assert ok.status_code == 201, ok.text
    assert ok.json()["masked"] and ok.json()["id_number"] == "1101**********002X"
    assert session.execute(text("SELECT count(*) FROM audit_log WHERE action = 'resident.create' AND"
                                " entity_id = :i"), {"i": str(ok.json()["id"])}).scalar_one() == 1


def test_audit_log_is_for_auditors_and_append_only(as_user, session: Session) -> None:  # noqa: ANN001
    as_user("worker1").get(f"/households/{_worker1_household(session)}/residents?unmasked=true&purpose=visit")
    assert as_user("admin").get("/audit").status_code == 403
    rows = as_user("auditor").get("/audit", params={"user": "worker1", "limit": 1000}).json()
    assert any(r["action"] == "pii.read" for r in rows)
    from sqlalchemy.exc import DBAPIError

    for sql in ("UPDATE audit_log SET outcome = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(DBAPIError):
            with session.begin_nested():
                session.execute(text(sql))


def test_no_personal_data_in_logs_errors_or_lists(as_user, session: Session, caplog) -> None:  # noqa: ANN001
    caplog.set_level(logging.DEBUG)
    hid = _worker1_household(session)
    client: TestClient = as_user("worker1")
    bodies = [
        client.get("/households?limit=1000").text,
        client.get("/events?limit=1000").text,
        client.get("/staff?limit=1000").text,
        client.get(f"/households/{hid}/residents").text,
        client.post(f"/households/{hid}/residents", json={"name": "x", "id_number": "110105194912310021"}).text,
        client.post(f"/households/{hid}/residents", json={"name": "x", "id_number": "11010519491231002X",
                                                          "phone": "1380013800"}).text,
        client.get("/households/abc").text,
    ]
    client.get(f"/households/{hid}/residents?unmasked=true&purpose=visit")  # unmasked on purpose: not checked
    for text_ in [*bodies, caplog.text]:
        assert not ID_NUMBER.search(text_), text_[:300]
        assert not MOBILE.search(text_), text_[:300]
