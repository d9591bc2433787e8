"""Open311 GeoReport v2 through an independent client library (georeport, from PyPI) against a
real server on a socket, in JSON and XML."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests
import uvicorn
from georeport import GeoReport
from sqlalchemy import Engine, text

from geo.crs import from_wgs84
from geo.settings import DatabaseSettings, ServerSettings


@pytest.fixture(scope="module")
def server(small: Engine) -> Iterator[str]:
    from api.main import create_app

    app = create_app(DatabaseSettings(database_url=small.url.render_as_string(hide_password=False)),
                     ServerSettings(public_reports_per_minute=1000))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/open311/v2"
    srv.should_exit = True
    thread.join(10)
    app.state.engine.dispose()


@pytest.fixture(scope="module")
def point(small: Engine) -> tuple[float, float, str]:
    with small.connect() as conn:
        row = conn.execute(text("""
            SELECT ST_X(p), ST_Y(p), g.code FROM (SELECT g.code, ST_PointOnSurface(g.geom) p FROM grid g
            JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive' ORDER BY g.code LIMIT 1) g""")).one()
    return row[0], row[1], row[2]


def _submit(base: str, fmt: str = "json", **form: object) -> requests.Response:
    return requests.post(f"{base}/requests.{fmt}", data=form, timeout=10)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_services_through_the_client(server: str, fmt: str) -> None:
    client = GeoReport(server, output_format=fmt)
    services = client.get_service_list()
    codes = {s["service_code"] for s in services}
    assert {"environment.garbage", "safety.fire_hazard"} <= codes and "environment" not in codes  # leaves only
    garbage = next(s for s in services if s["service_code"] == "environment.garbage")
    assert garbage["service_name"] == "垃圾堆放" and str(garbage["metadata"]).lower() == "false"
    assert client.get_service_definition("environment.garbage")["service_code"] == "environment.garbage"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_submit_then_read_back_through_the_client(server: str, point: tuple, fmt: str, small: Engine) -> None:
    lon, lat, code = point
    gx, gy = from_wgs84(lon, lat, "gcj02")  # a WeChat mini-program sends GCJ-02 (extension parameter crs)
    r = _submit(server, fmt, service_code="public_facilities.street_light", lat=float(gy), long=float(gx),
                crs="gcj02", description="路灯不亮", first_name="三", last_name="张", phone="13800138000")
    assert r.status_code == 201, r.text
    client = GeoReport(server, output_format=fmt)
    if fmt == "json":
        created = r.json()[0]
    else:
        import xmltodict
        created = xmltodict.parse(r.content)["service_requests"]["request"]
    rid, token = created["service_request_id"], created["token"]
    got = client.get_service_request(rid)
    assert got["service_request_id"] == rid and got["status"] == "open"
    assert got["service_code"] == "public_facilities.street_light" and got["description"] == "路灯不亮"
    assert abs(float(got["lat"]) - lat) < 6e-4 and abs(float(got["long"]) - lon) < 6e-4  # coarsened, WGS-84
    assert "13800138000" not in str(got) and "张" not in str(got.get("agency_responsible", ""))
    with small.connect() as conn:
        assert conn.execute(text("""SELECT g.code FROM grid_membership m JOIN grid g ON g.id = m.grid_id
            JOIN grid_layer l ON l.id = m.layer_id AND l.code = 'comprehensive'
            WHERE m.kind = 'event' AND m.entity_id = :e"""), {"e": int(rid)}).scalar_one() == code
    looked_up = requests.get(f"{server}/tokens/{token}.json", timeout=10).json()
    assert looked_up == [{"service_request_id": rid, "token": token}]


def test_query_by_ids_and_status(server: str, point: tuple, small: Engine) -> None:
    lon, lat, _ = point
    a = _submit(server, service_code="environment.garbage", lat=lat, long=lon).json()[0]["service_request_id"]
    b = _submit(server, service_code="dispute.neighbour", lat=lat, long=lon,
                description="楼上漏水").json()[0]["service_request_id"]
    with small.begin() as conn:
        conn.execute(text("UPDATE event SET status = 'closed', closed_at = now() WHERE id = :e"), {"e": int(a)})
    client = GeoReport(server)
    both = client.get_service_requests(service_request_id=f"{a},{b}")
    assert {x["service_request_id"]: x["status"] for x in both} == {a: "closed", b: "open"}
    dispute = next(x for x in both if x["service_request_id"] == b)
    assert dispute["description"] is None  # a residents' private matter (民事) is not published
    closed = {x["service_request_id"] for x in client.get_service_requests(status="closed")}
    opened = {x["service_request_id"] for x in client.get_service_requests(status="open")}
    assert a in closed and a not in opened and b in opened
    assert {x["service_code"] for x in client.get_service_requests(service_code="dispute.neighbour")} == \
        {"dispute.neighbour"}


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_errors_in_the_spec_format(server: str, point: tuple, fmt: str) -> None:
    r = requests.get(f"{server}/services/no.such.service.{fmt}", timeout=10)
    assert r.status_code == 404
    missing = requests.get(f"{server}/requests/999999999.{fmt}", timeout=10)
    assert missing.status_code == 404
    outside = _submit(server, fmt, service_code="environment.garbage", lat=39.9, long=116.4)
    assert outside.status_code == 422
    if fmt == "json":
        assert missing.json() == [{"code": 404, "description": "service request 999999999 does not exist"}]
        assert "outside the county" in outside.json()[0]["description"]
    else:
        assert b"<errors><error><code>404</code>" in missing.content
        assert "outside the county".encode() in outside.content
    assert _submit(server, fmt, service_code="environment.garbage").status_code == 422  # no location
    assert requests.get(f"{server}/services.csv", timeout=10).status_code in (400, 422)


def test_public_reads_name_no_household_and_survive_bad_bytes(server: str, point: tuple, small: Engine) -> None:
    import xml.etree.ElementTree as ET

    with small.connect() as conn:
        address = conn.execute(text("SELECT address FROM household ORDER BY id LIMIT 1")).scalar_one()
    r = _submit(server, service_code="dispute.neighbour", address_string=address, description="邻居吵架")
    assert r.status_code == 201, r.text
    rid = r.json()[0]["service_request_id"]
    got = requests.get(f"{server}/requests/{rid}.json", timeout=10).json()[0]
    assert got["address_id"] is None and got["address"] and got["address"] != address  # the village, not the door
    assert got["address"] in address and got["description"] is None
    with small.begin() as conn:  # a row written before intake refused control characters
        conn.execute(text("UPDATE event SET description = 'bad' || chr(1) || 'byte', category = 'environment.garbage'"
                          " WHERE id = :e"), {"e": int(rid)})
    feed = requests.get(f"{server}/requests/{rid}.xml", timeout=10)
    assert ET.fromstring(feed.content).find("request/description").text == "badbyte"
    for url in (f"{server}/tokens/a%00b.json", f"{server}/services/a%00b.xml",
                f"{server}/requests.json?end_date=0001-01-01T00:00:00"):
        bad = requests.get(url, timeout=10)
        assert 400 <= bad.status_code < 500, (url, bad.status_code, bad.text)
    assert _submit(server, service_code="environment.garbage", address_string="a\x00b").status_code == 422
