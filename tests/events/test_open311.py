"""Open311 GeoReport v2 through an independent client library (georeport, from PyPI) against a
real server on a socket, in JSON and XML."""

from __future__ import annotations

import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
import requests
import uvicorn
from georeport import GeoReport
from sqlalchemy import Engine, text

from geo.settings import DatabaseSettings, ServerSettings
from geo.spatial.crs import from_wgs84


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
    fire = next(s for s in services if s["service_code"] == "safety.fire_hazard")
    assert garbage["service_name"] == "垃圾堆放" and str(garbage["metadata"]).lower() == "true"
    assert str(fire["metadata"]).lower() == "false"
    definition = client.get_service_definition("environment.garbage")
    assert definition["service_code"] == "environment.garbage"
    attrs = definition["attributes"] if fmt == "json" else definition["attributes"]["attribute"]
    volume = next(a for a in attrs if a["code"] == "volume")
    keys = [v["key"] for v in (volume["values"] if fmt == "json" else volume["values"]["value"])]
    assert volume["datatype"] == "singlevaluelist" and "heap" in keys
    assert str(volume["variable"]).lower() == "true" and str(volume["required"]).lower() == "false"


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
                description="楼上漏水", media_url="https://img.example.cn/楼上漏水.jpg").json()[0]["service_request_id"]
    with small.begin() as conn:
        conn.execute(text("UPDATE event SET status = 'closed', closed_at = now() WHERE id = :e"), {"e": int(a)})
    client = GeoReport(server)
    both = client.get_service_requests(service_request_id=f"{a},{b}")
    assert {x["service_request_id"]: x["status"] for x in both} == {a: "closed", b: "open"}
    dispute = next(x for x in both if x["service_request_id"] == b)
    assert dispute["description"] is None  # a residents' private matter (民事) is not published
    assert dispute.get("media_url") is None  # nor its photo (found by the attack on issue 12)
    closed = {x["service_request_id"] for x in client.get_service_requests(status="closed")}
    opened = {x["service_request_id"] for x in client.get_service_requests(status="open")}
    assert a in closed and a not in opened and b in opened
    assert {x["service_code"] for x in client.get_service_requests(service_code="dispute.neighbour")} == \
        {"dispute.neighbour"}


def test_public_reads_name_no_household_and_survive_bad_bytes(server: str, point: tuple, small: Engine) -> None:
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
    assert _submit(server, service_code="environment.garbage", address_string="a\x00b").status_code == 400


# -- text arrives intact: every text field, in every encoding a client or gateway uses ----------------
CHINESE = {"description": "垃圾成堆，臭味很大 & 100% 要处理", "first_name": "小明", "last_name": "欧阳",
           "email": "欧阳@例子.中国", "device_id": "华为手机-甲", "account_id": "微信用户-乙",
           "address_string": "华溪村三组 路口东侧", "media_url": "https://例子.中国/照片/垃圾.jpg",
           "attribute[volume]": "heap"}


def _raw(fields: dict[str, object], charset: str = "utf-8") -> bytes:
    """The body as many gateways send it: the text's own bytes, only '&', '=', '%' and '+' escaped."""
    def esc(v: object) -> bytes:
        return str(v).replace("%", "%25").replace("&", "%26").replace("=", "%3D").replace("+", "%2B").encode(charset)
    return b"&".join(esc(k) + b"=" + esc(v) for k, v in fields.items())


def _post(base: str, encoding: str, fields: dict[str, object], fmt: str = "json") -> requests.Response:
    url = f"{base}/requests.{fmt}"
    form = "application/x-www-form-urlencoded"
    if encoding == "percent":
        return requests.post(url, data=fields, timeout=10)
    if encoding == "raw-utf8":
        return requests.post(url, data=_raw(fields), headers={"Content-Type": form}, timeout=10)
    if encoding == "raw-utf8-declared":
        return requests.post(url, data=_raw(fields), headers={"Content-Type": f"{form}; charset=utf-8"}, timeout=10)
    if encoding in ("gbk", "gb18030"):
        return requests.post(url, data=_raw(fields, encoding), headers={"Content-Type": f"{form}; charset={encoding}"},
                             timeout=10)
    assert encoding == "multipart"
    return requests.post(url, files={k: (None, str(v)) for k, v in fields.items()}, timeout=10)


@pytest.mark.parametrize("encoding", ["percent", "raw-utf8", "raw-utf8-declared", "gbk", "gb18030", "multipart"])
def test_chinese_text_survives_every_encoding(server: str, point: tuple, small: Engine, encoding: str) -> None:
    lon, lat, _ = point
    r = _post(server, encoding, {"service_code": "environment.garbage", "lat": lat, "long": lon, **CHINESE})
    assert r.status_code == 201, r.text
    rid = int(r.json()[0]["service_request_id"])
    with small.connect() as conn:  # the owner role: what was stored, before any masking
        event = conn.execute(text("SELECT description, address, media_url, attributes FROM event WHERE id = :e"),
                             {"e": rid}).one()
        contact = conn.execute(text("SELECT name, email, device_id, account_id FROM event_contact"
                                    " WHERE event_id = :e"), {"e": rid}).one()
    assert event.description == CHINESE["description"] and event.address == CHINESE["address_string"]
    assert event.media_url == CHINESE["media_url"] and event.attributes == {"volume": "heap"}
    assert contact.name == "欧阳小明" and contact.email == CHINESE["email"]
    assert (contact.device_id, contact.account_id) == (CHINESE["device_id"], CHINESE["account_id"])
    got = GeoReport(server).get_service_request(str(rid))
    assert got["description"] == CHINESE["description"] and got["media_url"] == CHINESE["media_url"]


def test_an_undecodable_body_is_a_400_in_the_spec_format(server: str, point: tuple, small: Engine) -> None:
    lon, lat, _ = point
    with small.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM event")).scalar_one()
    fields = {"service_code": "environment.garbage", "lat": lat, "long": lon, "description": "垃圾成堆"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    as_json = requests.post(f"{server}/requests.json", data=_raw(fields, "gbk"), headers=form, timeout=10)
    assert as_json.status_code == 400
    assert as_json.json() == [{"code": 400, "description": as_json.json()[0]["description"]}]
    assert "field 'description' is not valid utf-8" in as_json.json()[0]["description"]
    as_xml = requests.post(f"{server}/requests.xml", data=_raw(fields, "gbk"), headers=form, timeout=10)
    assert as_xml.status_code == 400 and as_xml.headers["content-type"].startswith("text/xml")
    error = ET.fromstring(as_xml.content).find("error")
    assert error.findtext("code") == "400" and "not valid utf-8" in error.findtext("description")
    with small.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event")).scalar_one() == before  # nothing stored


# -- the standard fields are kept, the contact under the same protection ------------------------------
def test_contact_fields_are_personal_data_masked_unless_unmasked(server: str, point: tuple, small: Engine) -> None:
    from geo.access.scope import Scope, bind
    from geo.db import make_sessionmaker
    from geo.privacy.audit import Actor
    from geo.privacy.residents import event_contact
    from geo.settings import APP_ROLE

    lon, lat, _ = point
    r = _submit(server, service_code="environment.garbage", lat=lat, long=lon, email="ouyang.ming@example.cn",
                device_id="a1b2c3d4e5f6a7b8", account_id="wx-user-00012345", phone="13800138001",
                first_name="小明", last_name="欧阳")
    assert r.status_code == 201, r.text
    created = r.json()[0]
    rid = int(created["service_request_id"])
    assert created["account_id"] == "wx-user-00012345"  # the spec echoes the caller's account
    public_view = requests.get(f"{server}/requests/{rid}.json", timeout=10).text
    for secret in ("ouyang.ming", "a1b2c3d4", "wx-user", "13800138001", "欧阳"):
        assert secret not in public_view
    with make_sessionmaker(small)() as s, s.begin():
        s.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        bind(s, Scope.county())  # the county's territory, through row-level security as the server reads it
        masked = event_contact(s, rid, actor=Actor(None, "test", "t", "127.0.0.1"))
        assert masked["masked"] and masked["email"] == "o***@example.cn" and masked["phone"] == "138****8001"
        assert masked["device_id"] == "****a7b8" and masked["account_id"] == "****2345" and masked["name"] == "欧***"
        plain = event_contact(s, rid, actor=Actor(None, "test", "t", "127.0.0.1"), unmasked=True,
                              purpose="回访 follow-up call")
        assert plain["email"] == "ouyang.ming@example.cn" and plain["device_id"] == "a1b2c3d4e5f6a7b8"
        s.rollback()


@pytest.mark.parametrize(("fields", "says"), [
    ({"attribute[volume]": "mountain"}, "attribute[volume] must be one of bag, cart, heap; got 'mountain'"),
    ({"attribute[colour]": "red"}, "attribute[colour] is not an attribute of service_code environment.garbage"),
    ({"attribute[volume]": ["bag", "cart"]}, "attribute[volume] takes one value"),
    ({"attribute[smell][]": ["odour", "rats"]}, "attribute[smell] must be among odour, flies, leak; got 'rats'"),
    ({"email": "not-an-address"}, "email must be an address"),
    ({"attribute[volume][x]": "heap"}, "attribute[volume][x] is not a field of this form"),
    ({"attributes": "heap"}, "attributes is not a field of this form"),
])
def test_attributes_and_fields_are_checked_not_dropped(server: str, point: tuple, fields: dict, says: str) -> None:
    lon, lat, _ = point
    r = _submit(server, service_code="environment.garbage", lat=lat, long=lon, **fields)
    assert r.status_code == 400 and says in r.json()[0]["description"], r.text


def test_multivalue_and_required_attributes(server: str, point: tuple, small: Engine) -> None:
    lon, lat, _ = point
    r = _submit(server, service_code="environment.garbage", lat=lat, long=lon,
                **{"attribute[smell][]": ["odour", "flies"], "attribute[volume]": "bag"})
    assert r.status_code == 201, r.text
    with small.connect() as conn:
        assert conn.execute(text("SELECT attributes FROM event WHERE id = :e"),
                            {"e": int(r.json()[0]["service_request_id"])}).scalar_one() == \
            {"smell": ["odour", "flies"], "volume": "bag"}
    from geo.access.scope import Scope
    from geo.db import make_sessionmaker
    from geo.events.views import event_detail

    with make_sessionmaker(small)() as s:  # staff see the answers with the event
        detail = event_detail(s, int(r.json()[0]["service_request_id"]), scope=Scope.county())
        assert detail["attributes"] == {"smell": ["odour", "flies"], "volume": "bag"}
    with small.begin() as conn:  # a county makes the pole number required
        conn.execute(text("""UPDATE event_category SET attributes = jsonb_set(attributes, '{0,required}', 'true')
                             WHERE code = 'public_facilities.street_light'"""))
    try:
        missing = _submit(server, service_code="public_facilities.street_light", lat=lat, long=lon)
        assert missing.status_code == 400
        assert "attribute[pole_number] is required" in missing.json()[0]["description"]
        given = _submit(server, service_code="public_facilities.street_light", lat=lat, long=lon,
                        **{"attribute[pole_number]": "华溪-017"})
        assert given.status_code == 201, given.text
    finally:
        with small.begin() as conn:
            conn.execute(text("""UPDATE event_category SET attributes = jsonb_set(attributes, '{0,required}',
                                 'false') WHERE code = 'public_facilities.street_light'"""))


# -- one error format, the spec's statuses, Open311's parameter names ----------------------------------
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_client_errors_are_400_in_the_spec_format_and_words(server: str, point: tuple, fmt: str) -> None:
    lon, lat, _ = point
    cases = [  # (form, what the description must say)
        ({"service_code": "environment.garbage"}, "a location is required: give lat and long, or address_string"),
        ({"service_code": "environment.garbage", "lat": 39.9, "long": 116.4},
         "lat/long (39.900000, 116.400000 WGS-84) lies outside the county"),
        ({"service_code": "environment.garbage", "lat": 91, "long": lon}, "lat must be a number in [-90, 90]"),
        ({"service_code": "environment.garbage", "lat": lat, "long": 181}, "long must be a number in [-180, 180]"),
        ({"service_code": "environment.garbage", "lat": lat}, "lat and long go together; long is missing"),
        ({"service_code": "environment.garbage", "lat": "north", "long": lon}, "'lat'"),
        ({"service_code": "environment.garbage", "address_id": 5}, "address_id is not accepted"),
        ({"service_code": "environment.garbage", "address_string": "火星基地一号"}, "address_string '火星基地一号'"),
        ({"service_code": "no.such", "lat": lat, "long": lon}, "service_code 'no.such' is not a service"),
        ({"service_code": "environment", "lat": lat, "long": lon}, "service_code 'environment' is not a service"),
        ({"lat": lat, "long": lon}, "'service_code'"),
        ({"service_code": "environment.garbage", "lat": lat, "long": lon, "phone": "12345"}, "phone must be"),
        ({"service_code": "environment.garbage", "lat": lat, "long": lon, "media_url": "ftp://x"}, "media_url must"),
        ({"service_code": "environment.garbage", "lat": lat, "long": lon, "crs": "mars"}, "'crs'"),
    ]
    for form, says in cases:
        r = _submit(server, fmt, **form)
        assert r.status_code == 400, (form, r.status_code, r.text)
        if fmt == "json":
            body = r.json()
            assert len(body) == 1 and body[0]["code"] == 400, body
            description = body[0]["description"]
        else:
            assert r.headers["content-type"].startswith("text/xml")
            error = ET.fromstring(r.content)
            assert error.tag == "errors" and error.findtext("error/code") == "400"
            description = error.findtext("error/description")
        assert says in description, (form, description)
        for internal in ("household_id", "category", "lon ", "lon/lat", "the location", "contact/"):
            assert internal not in description, (form, description)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_what_does_not_exist_is_404(server: str, fmt: str) -> None:
    for path, says in ((f"services/no.such.service.{fmt}", "service_code no.such.service"),
                       (f"requests/999999999.{fmt}", "service_request_id 999999999 does not exist"),
                       (f"requests/abc.{fmt}", "service_request_id abc does not exist"),
                       (f"services.{fmt}?jurisdiction_id=110101", "jurisdiction_id '110101' is not served"),
                       (f"requests.{fmt}?jurisdiction_id=nowhere", "jurisdiction_id 'nowhere' is not served")):
        r = requests.get(f"{server}/{path}", timeout=10)
        assert r.status_code == 404, (path, r.text)
        description = r.json()[0]["description"] if fmt == "json" else \
            ET.fromstring(r.content).findtext("error/description")
        assert says in description, (path, description)
    assert requests.get(f"{server}/requests.json?service_request_id=abc", timeout=10).status_code == 400
    assert requests.get(f"{server}/services.csv", timeout=10).status_code == 400


def test_jurisdiction_is_the_county(server: str, point: tuple, small: Engine) -> None:
    with small.connect() as conn:
        county = conn.execute(text("SELECT code FROM division WHERE level = 'county'")).scalar_one()
    for jurisdiction in (county, county[:6]):
        client = GeoReport(server, jurisdiction=jurisdiction)
        assert client.get_service_list() and client.get_service_requests(status="open") is not None
    with pytest.raises(requests.HTTPError) as refused:
        GeoReport(server, jurisdiction="110101").get_service_list()
    assert refused.value.response.status_code == 404
    lon, lat, _ = point
    wrong = _submit(server, service_code="environment.garbage", lat=lat, long=lon, jurisdiction_id="110101")
    assert wrong.status_code == 404 and "jurisdiction_id" in wrong.json()[0]["description"]
    right = _submit(server, service_code="environment.garbage", lat=lat, long=lon, jurisdiction_id=county[:6])
    assert right.status_code == 201, right.text


def test_each_served_county_is_a_jurisdiction_of_its_own(server: str, point: tuple, small: Engine) -> None:
    """Once jurisdiction_id only ever meant the first county loaded, though the service holds several."""
    with small.begin() as conn:
        county = conn.execute(text("SELECT left(code, 6) FROM division WHERE level = 'county'")).scalar_one()
        conn.execute(text("""INSERT INTO division (code, name, level, geom)
                             SELECT '520112000000', '乌当区', 'county', ST_Translate(geom, 0.5, 0.5)
                               FROM division WHERE level = 'county'"""))
    try:
        lon, lat, _ = point
        before = len(GeoReport(server, jurisdiction=county).get_service_requests(status="open,closed"))
        assert GeoReport(server, jurisdiction="520112").get_service_list()  # the other county is served too
        assert GeoReport(server, jurisdiction="520112").get_service_requests(status="open,closed") == []
        elsewhere = _submit(server, service_code="environment.garbage", lat=lat, long=lon, jurisdiction_id="520112")
        assert elsewhere.status_code == 400, elsewhere.text
        assert f"lies in county {county}" in elsewhere.json()[0]["description"]
        assert len(GeoReport(server, jurisdiction=county).get_service_requests(status="open,closed")) == before
    finally:
        with small.begin() as conn:
            conn.execute(text("DELETE FROM division WHERE code = '520112000000'"))


# -- the demo's history shows in updated_datetime ------------------------------------------------------
def test_demo_events_that_moved_on_were_updated_after_they_were_requested(server: str, small: Engine) -> None:
    with small.connect() as conn:
        rows = conn.execute(text("""SELECT id, status::text, reported_at, updated_at FROM event
                                    WHERE public_token IS NULL AND source <> 'open311'""")).all()
    moved = [r for r in rows if r.status != "reported"]
    assert moved and all(r.updated_at > r.reported_at for r in moved), \
        [r for r in moved if not r.updated_at > r.reported_at][:3]
    assert all(r.updated_at == r.reported_at for r in rows if r.status == "reported")
    with small.connect() as conn:  # no step lies in the future of the demo that was generated before this test
        assert conn.execute(text("SELECT count(*) FROM event WHERE greatest(updated_at, handled_at, closed_at)"
                                 " > now()")).scalar_one() == 0
    sample = [str(r.id) for r in moved if r.status in ("assigned", "closed", "in_progress")][:20]
    for got in GeoReport(server).get_service_requests(service_request_id=",".join(sample)):
        assert got["updated_datetime"] > got["requested_datetime"], got


def test_a_big_raw_body_is_decoded_off_the_loop_and_judged_like_any_other(server: str, point: tuple) -> None:
    lon, lat, _ = point
    fields = {"service_code": "environment.garbage", "lat": lat, "long": lon, "description": "垃" * 30_000}
    r = requests.post(f"{server}/requests.json", data=_raw(fields),  # 90 kB: over forms.IN_LOOP_BYTES
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
    assert r.status_code == 400 and "'description'" in r.json()[0]["description"], r.text
    fields["description"] = "垃" * 1_000 + "\n第二行"
    long_name = requests.post(f"{server}/requests.json", data=_raw(fields) + b"&first_name=" + b"x" * 70_000,
                              headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
    assert long_name.status_code == 400 and "'first_name'" in long_name.json()[0]["description"], long_name.text
