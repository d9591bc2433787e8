"""GET /exports/{what}: the file, its headers (RFC 5987 Chinese name, no-store), permissions, 4xx, and
numberMatched on the GeoJSON collections agreeing with what an export holds."""

from __future__ import annotations

import io
import re
from urllib.parse import unquote

import pyogrio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session


def _filename_star(disposition: str) -> str:
    match = re.search(r"filename\*=UTF-8''([^;]+)", disposition)
    assert match, disposition
    return unquote(match.group(1))


def test_a_layer_as_geopackage_with_a_chinese_file_name(client: TestClient, session: Session) -> None:
    r = client.get("/exports/grids", params={"format": "gpkg", "layer": "comprehensive"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/geopackage+sqlite3"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=\"grids_comprehensive.gpkg\"")
    county = session.execute(text("SELECT name FROM division WHERE level = 'county'")).scalar_one()
    assert _filename_star(disposition).startswith(f"{county}-综合网格-")
    assert r.headers["cache-control"] == "no-store" and "Authorization" in r.headers["vary"]
    stored = session.execute(text("SELECT count(*) FROM grid g JOIN grid_layer l ON l.id = g.layer_id"
                                  " WHERE l.code = 'comprehensive'")).scalar_one()
    assert int(r.headers["x-export-rows"]) == stored
    info = pyogrio.read_info(io.BytesIO(r.content))
    assert info["features"] == stored and "division_code" in list(info["fields"])


def test_every_format_answers(client: TestClient) -> None:
    for fmt, media in (("shp", "application/zip"), ("kml", "application/vnd.google-earth.kml+xml"),
                       ("geojson", "application/geo+json"), ("csv", "text/csv; charset=utf-8"),
                       ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")):
        r = client.get("/exports/cameras", params={"format": fmt, "status": "online"})
        assert r.status_code == 200, (fmt, r.text)
        assert r.headers["content-type"] == media
    r = client.get("/exports/grids", params={"format": "shp", "layer": "party", "encoding": "gbk"})
    assert r.status_code == 200 and r.content[:2] == b"PK"


@pytest.mark.parametrize(("params", "pointer"), [
    ({"format": "pdf"}, "format"),
    ({"format": "csv", "encoding": "gbk"}, "encoding"),
    ({"format": "gpkg", "layer": "nonesuch"}, "layer"),
    ({"format": "gpkg", "status": "closed"}, "status"),
    ({"format": "gpkg", "coords": "lonlat"}, "coords"),
    ({"format": "gpkg", "division": "12"}, "division"),
])
def test_bad_options_are_422_problems_naming_the_parameter(client: TestClient, params: dict, pointer: str) -> None:
    r = client.get("/exports/grids", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert pointer in r.text


def test_events_time_window_the_wrong_way_round_is_422(client: TestClient) -> None:
    r = client.get("/exports/events", params={"format": "csv", "since": "2026-10-01", "until": "2026-09-01"})
    assert r.status_code == 422 and "since" in r.text


def test_each_kind_needs_the_permission_that_reads_it(as_user) -> None:  # noqa: ANN001
    assert as_user("viewer").get("/exports/households", params={"format": "csv"}).status_code == 403
    assert as_user("viewer").get("/exports/cameras", params={"format": "csv"}).status_code == 200
    assert as_user("admin").get("/exports/residents", params={"format": "csv", "purpose": "核对人员"}
                                ).status_code == 403
    assert as_user("auditor").get("/exports/grids", params={"format": "csv"}).status_code == 403


def test_residents_need_a_purpose_and_leave_a_committed_audit_row(as_user, session: Session) -> None:  # noqa: ANN001
    head = as_user("head1")
    r = head.get("/exports/residents", params={"format": "csv"})
    assert r.status_code == 422 and "purpose" in r.text
    r = head.get("/exports/residents", params={"format": "csv", "purpose": "防汛转移 evacuation list"})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    rows = r.content.decode("utf-8-sig").splitlines()
    assert rows[0].startswith("id,household_id,address,division_code,name,id_number,phone")
    audit = session.execute(text("SELECT detail FROM audit_log WHERE action = 'pii.export' AND username = 'head1'"
                                 " ORDER BY id DESC LIMIT 1")).scalar_one()
    assert audit["rows"] == len(rows) - 1 > 0
    # the purpose and the personal data never reach the URL's echo in an error
    bad = head.get("/exports/residents", params={"format": "pdf", "purpose": "防汛转移 evacuation list"})
    assert bad.status_code == 422 and "防汛" not in bad.text


def _walk(client: TestClient, url: str, params: dict) -> tuple[int, list[dict], set[int]]:
    r = client.get(url, params=params)
    matched: set[int] = set()
    features: list[dict] = []
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        matched.add(body["numberMatched"])
        assert body["numberReturned"] == len(body["features"])
        features += body["features"]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        if not nxt:
            return len(features), features, matched
        r = client.get(nxt[0])


@pytest.mark.parametrize(("url", "params"), [
    ("/households", {"limit": 700}),
    ("/grids", {"layer": "party", "limit": 100}),
    ("/events", {"status": "closed", "limit": 1000}),
    ("/divisions", {"level": "village"}),
    ("/cameras", {"limit": 1000}),
    ("/staff", {"limit": 1000}),
])
def test_collections_report_number_matched_on_every_page(client: TestClient, url: str, params: dict) -> None:
    count, _, matched = _walk(client, url, params)
    assert matched == {count} and count > 0


def test_number_matched_follows_the_territory_and_agrees_with_the_export(as_user) -> None:  # noqa: ANN001
    worker = as_user("worker1")
    count, _, matched = _walk(worker, "/households", {"limit": 50})
    assert matched == {count}
    county = as_user("admin").get("/households", params={"limit": 1}).json()["numberMatched"]
    assert count < county
    worker = as_user("worker1")
    r = worker.get("/exports/households", params={"format": "geojson"})
    assert r.status_code == 200 and int(r.headers["x-export-rows"]) == count


def test_an_export_is_a_heavy_request(client: TestClient, app) -> None:  # noqa: ANN001
    limiter = app.state.heavy_limiter
    held = [limiter.slot(uid, "exports") for uid in (10**9, 10**9 + 1, 10**9 + 2)][: limiter.total]
    for h in held:
        h.__enter__()
    try:
        r = client.get("/exports/divisions", params={"format": "csv"})
        assert r.status_code == 503 and "retry-after" in r.headers
    finally:
        for h in held:
            h.__exit__(None, None, None)
