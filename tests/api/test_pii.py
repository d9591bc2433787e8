"""Personal data: masked by default in every shape, unmasked only with pii:read + purpose, always audited,
never in logs, errors or list endpoints."""

from __future__ import annotations

import json
import logging
import re

import pytest
from fastapi.testclient import TestClient
from pii_scan import find_personal_data
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.privacy.pii import id_check_character, mask_id_number, mask_name, mask_phone, validate_id_number

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


# -- Free text: what people write into reports and notes ---------------------------------------------
PLANTED_ID = "520111199001011230"[:17] + id_check_character("52011119900101123")
PLANTED_MOBILE = "13812345678"
PLANTED_LANDLINE = "0851-85551234"
PLANTED = {PLANTED_ID, PLANTED_MOBILE, PLANTED_LANDLINE}
WRITTEN = f"请联系我 138 1234 5678，身份证{PLANTED_ID}，座机{PLANTED_LANDLINE}"
NO_PII_READ = ("planner", "department", "emergency", "viewer", "auditor")
WITH_PII_READ = ("admin", "head1", "worker1")  # still masked unless they ask, with a purpose


def _in_worker1_grid(session: Session) -> tuple[float, float, int]:
    _see_all(session)
    return tuple(session.execute(text("""
        SELECT ST_X(p), ST_Y(p), g.id FROM (SELECT g.id, ST_PointOnSurface(g.geom) AS p FROM grid g
        JOIN app_user u ON u.grid_id = g.id WHERE u.username = 'worker1') g""")).one())


@pytest.fixture
def written_event(as_user, session: Session) -> dict:  # noqa: ANN001
    """An event in worker1's grid whose description, address and notes carry an ID number and phones;
    every write's response is kept to be scanned too."""
    lon, lat, grid_id = _in_worker1_grid(session)
    admin = as_user("admin")
    created = admin.post("/events", json={"category": "environment.garbage", "description": WRITTEN,
                                          "location": {"lon": lon, "lat": lat}})
    assert created.status_code == 201, created.text
    eid = created.json()["id"]
    session.execute(text("UPDATE event SET address = :a, media_url = :m, attributes = CAST(:q AS jsonb) WHERE id = :e"),
                    {"a": f"幸福路1号 {WRITTEN}", "e": eid, "m": f"https://img.example.cn/{PLANTED_MOBILE}/{PLANTED_ID}.jpg",
                     "q": json.dumps({"volume": WRITTEN, "smell": [WRITTEN]}, ensure_ascii=False)})
    steps = [admin.post(f"/events/{eid}/accept", json={"note": WRITTEN}),
             admin.post(f"/events/{eid}/assign", json={"note": WRITTEN}),
             admin.post(f"/events/{eid}/start"),
             admin.post(f"/events/{eid}/feedback", json={"note": f"已处理，回访 {WRITTEN}"})]
    assert [s.status_code for s in steps] == [200] * 4, [s.text for s in steps]
    return {"id": eid, "lon": lon, "lat": lat, "grid_id": grid_id,
            "writes": [created.text, *(s.text for s in steps)]}


def _surfaces(client: TestClient, ev: dict) -> dict[str, str]:
    """Every output that shows the event's free text, as this client sees it (404/403 bodies included)."""
    eid, lon, lat = ev["id"], ev["lon"], ev["lat"]
    bbox = f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"
    return {
        "collection": client.get(f"/events?bbox={bbox}&limit=1000").text,
        "feature": client.get(f"/events/{eid}").text,
        "history": client.get(f"/events/{eid}/history").text,
        "around": client.get(f"/around?lon={lon}&lat={lat}&radius=300").text,
        "grid history": client.get(f"/grids/{ev['grid_id']}/history").text,
    }


def test_free_text_is_masked_on_every_surface_for_every_role(as_user, anonymous, written_event) -> None:  # noqa: ANN001
    from pii_scan import find_personal_data

    ev = written_event
    for write in ev["writes"]:
        assert find_personal_data(write, PLANTED) == [], write[:300]
    seen = 0
    for user in (*NO_PII_READ, *WITH_PII_READ):
        for surface, body in _surfaces(as_user(user), ev).items():
            planted_only = surface == "around" and user in WITH_PII_READ  # heads' work phones are shown to them
            found = find_personal_data(body, PLANTED, patterns=not planted_only)
            assert found == [], (user, surface, found)
            seen += "138****5678" in body
    assert seen >= 10  # the event really was on those surfaces, masked
    anonymous.headers.pop("Authorization", None)
    open311 = [anonymous.get(f"/open311/v2/requests/{ev['id']}.{fmt}") for fmt in ("json", "xml")]
    open311 += [anonymous.get(f"/open311/v2/requests.{fmt}?service_code=environment.garbage")
                for fmt in ("json", "xml")]
    for r in open311:
        assert r.status_code == 200, r.text
        assert find_personal_data(r.text, PLANTED) == [], r.text[:300]
    assert "138****5678" in open311[0].text and "138****5678" in open311[1].text


def test_the_written_text_needs_pii_read_and_a_purpose_and_is_audited(as_user, session: Session,
                                                                       written_event) -> None:  # noqa: ANN001
    eid = written_event["id"]
    for url in (f"/events/{eid}?unmasked=true", f"/events/{eid}/history?unmasked=true"):
        assert as_user("planner").get(url + "&purpose=checking+records").status_code == 403
        assert as_user("worker1").get(url).status_code == 422
        assert as_user("worker2").get(url + "&purpose=checking+records").status_code == 404  # not their grid
    before = _audit_rows(session, "pii.read")
    feature = as_user("worker1").get(f"/events/{eid}?unmasked=true&purpose=回访报告人")
    assert feature.status_code == 200 and feature.headers["cache-control"] == "no-store"
    assert feature.json()["properties"]["description"] == WRITTEN
    history = as_user("worker1").get(f"/events/{eid}/history?unmasked=true&purpose=回访报告人").json()
    assert history["description"] == WRITTEN and history["location"]["address"] == f"幸福路1号 {WRITTEN}"
    assert [t["note"] for t in history["transitions"] if t["action"] == "accept"] == [WRITTEN]
    assert history["attributes"] == {"volume": WRITTEN, "smell": [WRITTEN]} and PLANTED_ID in history["media_url"]
    assert _audit_rows(session, "pii.read") == before + 2
    rows = session.execute(text("SELECT username, entity, entity_id, purpose, detail FROM audit_log"
                                " WHERE action = 'pii.read' ORDER BY id DESC LIMIT 2")).all()
    assert {tuple(r[:4]) for r in rows} == {("worker1", "event", str(eid), "回访报告人")}
    assert {r[4]["free_text"] for r in rows} == {"feature", "history"}


def test_grid_history_reasons_are_masked(as_user, session: Session) -> None:  # noqa: ANN001
    from pii_scan import find_personal_data

    planner = as_user("planner")
    gid = session.execute(text("SELECT min(id) FROM grid")).scalar_one()
    tag = planner.get(f"/grids/{gid}").headers["etag"]
    r = planner.patch(f"/grids/{gid}", json={"name": "新名", "reason": f"网格员电话 {WRITTEN}"},
                      headers={"If-Match": tag})
    assert r.status_code == 200, r.text
    history = planner.get(f"/grids/{gid}/history")
    assert "网格员电话 请联系我 138****5678" in history.text
    assert find_personal_data(history.text + r.text, PLANTED) == []


# -- Failures: what a failed write carries must not reach the log ------------------------------------
PERSON = {"name": "欧阳娜娜", "id_number": PLANTED_ID, "phone": PLANTED_MOBILE}


def _as_owner(session: Session, sql: str) -> None:
    """DDL in this test's transaction (rolled back with it): the test connection is the owner acting as the app."""
    from geo.settings import APP_ROLE

    session.execute(text("RESET ROLE"))
    session.execute(text(sql))
    session.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))


def test_failures_carrying_personal_data_leave_none_in_the_log(as_user, session: Session,  # noqa: ANN001
                                                               caplog) -> None:  # noqa: ANN001
    from pii_scan import find_personal_data

    caplog.set_level(logging.DEBUG)
    worker = as_user("worker1")
    hid = _worker1_household(session)
    bodies = []
    # A validation error whose body carries a phone as a value and as a key (pydantic echoes both by default).
    r = worker.post("/events", json={"category": "environment.garbage", "location": {"lon": 106.6, "lat": 26.4},
                                     "contact": {"name": PERSON["name"], "phone": int(PLANTED_MOBILE)},
                                     PLANTED_MOBILE: PERSON["id_number"]})
    assert r.status_code == 422 and "contact" in r.text
    bodies.append(r.text)
    # A unique violation on a resident insert: PostgreSQL's DETAIL quotes the ID number.
    existing = session.execute(text("SELECT id_number FROM resident WHERE household_id = :h LIMIT 1"),
                               {"h": hid}).scalar_one()
    _as_owner(session, f"CREATE UNIQUE INDEX injected_unique_id ON resident (id_number) WHERE household_id = {hid}")
    r = worker.post(f"/households/{hid}/residents", json={**PERSON, "id_number": existing})
    assert r.status_code == 409, r.text
    bodies.append(r.text)
    session.rollback()
    # A database fault on the insert (every new row fails a constraint): a 500, logged with its traceback,
    # whose exception text holds the statement and its parameters (name, ID number, phone) unless hidden.
    # (Row-level security keeps PostgreSQL from quoting a resident row in DETAIL; the event table has none.)
    _as_owner(session, "ALTER TABLE resident ADD CONSTRAINT injected_fault CHECK (id < 0) NOT VALID")
    r = worker.post(f"/households/{hid}/residents", json=PERSON)
    assert r.status_code == 500 and "incident" in r.text
    bodies.append(r.text)
    session.rollback()
    # The same fault on the event table: DETAIL "Failing row contains (…)" quotes the description.
    lon, lat, _ = _in_worker1_grid(session)
    _as_owner(session, "ALTER TABLE event ADD CONSTRAINT injected_fault CHECK (id < 0) NOT VALID")
    r = worker.post("/events", json={"category": "environment.garbage", "description": WRITTEN,
                                     "location": {"lon": lon, "lat": lat}})
    assert r.status_code == 500, r.text
    bodies.append(r.text)
    session.rollback()
    log = caplog.text
    assert log.count("CheckViolation") >= 2 and "Failing row contains (…)" in log  # logged, scrubbed
    assert "INSERT INTO resident" in log and "[SQL parameters hidden" in log
    known = {*PERSON.values(), existing, *PLANTED}
    assert find_personal_data(log, known) == [], log[-2000:]
    for body in bodies:
        assert find_personal_data(body, known) == [], body


def test_grid_names_and_notes_with_personal_numbers_are_refused(as_user, session: Session) -> None:  # noqa: ANN001
    """A grid's name and notes reach every map reader (features, tiles, history) with no pii:read behind
    them: found by the attack on issue 12, where a renamed grid showed an ID number to viewer."""
    planner = as_user("planner")
    gid = session.execute(text("SELECT min(id) FROM grid")).scalar_one()
    tag = planner.get(f"/grids/{gid}").headers["etag"]
    before = session.execute(text("SELECT name, notes, version FROM grid WHERE id = :g"), {"g": gid}).one()
    for body in ({"name": "网格 138.1234.5678"}, {"notes": f"网格长身份证 {PLANTED_ID}"}):
        r = planner.patch(f"/grids/{gid}", json=body, headers={"If-Match": tag})
        assert r.status_code == 422 and r.json()["pointer"] == next(iter(body)), r.text
        assert find_personal_data(r.text, PLANTED) == []
    assert session.execute(text("SELECT name, notes, version FROM grid WHERE id = :g"), {"g": gid}).one() == before
    assert planner.patch(f"/grids/{gid}", json={"name": "花岭1号网格"}, headers={"If-Match": tag}).status_code == 200


def test_audit_log_masks_free_text_for_auditors(as_user, session: Session) -> None:  # noqa: ANN001
    planner = as_user("planner")
    gid = session.execute(text("SELECT min(id) FROM grid")).scalar_one()
    tag = planner.get(f"/grids/{gid}").headers["etag"]
    assert planner.patch(f"/grids/{gid}", json={"name": "新名", "reason": f"网格员电话 {WRITTEN}"},
                         headers={"If-Match": tag}).status_code == 200
    body = as_user("auditor").get("/audit?entity=grid&limit=1000").text
    assert "网格员电话 请联系我 138****5678" in body
    assert find_personal_data(body, PLANTED) == []
