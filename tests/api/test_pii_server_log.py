"""A real server's log holds no personal data, at DEBUG, on the error paths too.

uvicorn runs in a subprocess on a free port, against a database of its own (``small``), with a
logging configuration that sends every logger — uvicorn's access and error logs, SQLAlchemy's
statements and result rows — to a file at DEBUG. Requests then carry a name, an ID number and
phones into every path that used to leak: a failed resident insert during a database fault (the
statement and its parameters, the traceback uvicorn prints), the same fault on an event whose
description quotes the numbers (PostgreSQL's "Failing row contains"), a validation error, a phone in
a URL, an unmasked read (result rows), Open311. The file and the process's own output are scanned
with tests/pii_scan.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pii_scan import find_personal_data
from sqlalchemy import Engine, text

from geo.privacy.pii import id_check_character

PASSWORD = "server-log-test-password"
PLANTED_ID = "52011119900101123"
PLANTED_ID += id_check_character(PLANTED_ID)
PERSON = {"name": "欧阳娜娜", "id_number": PLANTED_ID, "phone": "13812345678"}
LANDLINE = "0851-85551234"
WRITTEN = f"请联系我 138 1234 5678，身份证{PLANTED_ID}，座机{LANDLINE}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _logging_config(path: Path) -> Path:
    config = {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(path), "formatter": "plain"}},
        "root": {"level": "DEBUG", "handlers": ["file"]},
        "loggers": {"sqlalchemy.engine": {"level": "DEBUG"}, "uvicorn": {"level": "DEBUG"},
                    "uvicorn.access": {"level": "DEBUG"}, "uvicorn.error": {"level": "DEBUG"}},
    }
    out = path.with_suffix(".json")
    out.write_text(json.dumps(config))
    return out


@pytest.fixture(scope="module")
def server(small: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """(base URL, log file, captured stdout+stderr) of a uvicorn process serving the small district."""
    from geo.db import make_sessionmaker, transaction
    from importers.demo.users import create_demo_users

    with transaction(make_sessionmaker(small)) as s:
        create_demo_users(s, PASSWORD)
    folder = tmp_path_factory.mktemp("server-log")
    log, output = folder / "server.log", folder / "server.out"
    port = _free_port()
    env = {**os.environ, "GRIDMAP_DATABASE_URL": small.url.render_as_string(hide_password=False),
           "GRIDMAP_PUBLIC_REPORTS_PER_MINUTE": "1000"}
    with output.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.asgi:app", "--host", "127.0.0.1", "--port", str(port),
             "--log-config", str(_logging_config(log)), "--log-level", "debug"],
            env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, output.read_text()
                time.sleep(0.2)
            yield base, log, output
        finally:
            proc.terminate()
            proc.wait(20)


def _owner(small: Engine, sql: str) -> None:
    with small.begin() as conn:
        conn.execute(text(sql))


def test_the_server_log_holds_no_personal_data(server: tuple[str, Path, Path], small: Engine) -> None:
    base, log, output = server
    with small.connect() as conn:
        hid, lon, lat = conn.execute(text("""
            SELECT h.id, ST_X(h.geom), ST_Y(h.geom) FROM household h JOIN app_user u ON u.username = 'head1'
             WHERE h.division_id = u.division_id AND EXISTS (SELECT 1 FROM resident r WHERE r.household_id = h.id)
             ORDER BY h.id LIMIT 1""")).one()
        residents = conn.execute(text("SELECT name, id_number, phone FROM resident WHERE household_id = :h"),
                                 {"h": hid}).all()
    known = {*PERSON.values(), LANDLINE, *(v for r in residents for v in r if v)}

    # A failed login with a phone as the user name, then a real one.
    assert requests.post(f"{base}/auth/token", data={"username": PERSON["phone"], "password": "x"}).status_code == 401
    token = requests.post(f"{base}/auth/token", data={"username": "head1", "password": PASSWORD}).json()
    head = requests.Session()
    head.headers["Authorization"] = f"Bearer {token['access_token']}"

    statuses = [
        # the residents as written: the result rows go through SQLAlchemy's DEBUG log
        head.get(f"{base}/households/{hid}/residents?unmasked=true&purpose=door+to+door").status_code,
        head.post(f"{base}/households/{hid}/residents", json=PERSON).status_code,
        head.post(f"{base}/events", json={"category": "environment.garbage", "location": {"lon": lon, "lat": lat},
                                            "contact": {"name": PERSON["name"], "phone": int(PERSON["phone"])},
                                            PERSON["phone"]: PERSON["id_number"]}).status_code,
        head.get(f"{base}/events?category={PERSON['phone']}&bbox=1,2,3").status_code,  # a phone in the URL
        head.get(f"{base}/open311/v2/requests/{PERSON['phone']}.json").status_code,
        requests.post(f"{base}/open311/v2/requests.json", data={
            "service_code": "environment.garbage", "lat": lat, "long": lon, "description": WRITTEN,
            "first_name": "娜娜", "last_name": "欧阳", "phone": PERSON["phone"]}).status_code,
        head.post(f"{base}/events", json={"category": "environment.garbage", "description": WRITTEN,
                                            "location": {"lon": lon, "lat": lat}}).status_code,
    ]
    assert statuses == [200, 201, 422, 422, 404, 201, 201], statuses
    # A database fault during the inserts: every new row fails a constraint.
    _owner(small, "ALTER TABLE resident ADD CONSTRAINT injected_fault CHECK (id < 0) NOT VALID;"
                  " ALTER TABLE event ADD CONSTRAINT injected_fault CHECK (id < 0) NOT VALID")
    try:
        faults = [head.post(f"{base}/households/{hid}/residents", json=PERSON),
                  head.post(f"{base}/events", json={"category": "environment.garbage", "description": WRITTEN,
                                                      "location": {"lon": lon, "lat": lat}})]
    finally:
        _owner(small, "ALTER TABLE resident DROP CONSTRAINT injected_fault;"
                      " ALTER TABLE event DROP CONSTRAINT injected_fault")
    assert [f.status_code for f in faults] == [500, 500], [f.text for f in faults]
    for f in faults:
        assert find_personal_data(f.text, known) == [], f.text

    time.sleep(0.5)  # let the file handler flush the last records
    written = log.read_text(encoding="utf-8")
    printed = output.read_text(encoding="utf-8", errors="replace")
    # The log really holds what it should: statements, hidden parameters and rows, the faults, URLs.
    assert "INSERT INTO resident" in written and "[SQL parameters hidden" in written
    assert "Row '(row hidden)'" in written
    assert written.count("CheckViolation") >= 2 and "Failing row contains (…)" in written
    assert written.count("unhandled error") == 2 and "Traceback" in written
    assert "/events?category=138****5678" in written  # the access log's URL, masked
    assert find_personal_data(written, known) == [], find_personal_data(written, known)[:5]
    assert find_personal_data(printed, known) == [], printed[-2000:]
