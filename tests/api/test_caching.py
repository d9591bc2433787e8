"""Caching: who may store an answer (private / no-store, Vary), and ETag revalidation of tiles and collections."""

from __future__ import annotations

import math

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.caching import _mark_no_store, etag_matches
from api.security import is_public

TILE = "/tiles/grids/comprehensive/10/815/434.mvt"  # over Huaxi's centre: admin sees many grids, worker1 one


def _tile_of(lon: float, lat: float, z: int) -> str:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return f"/tiles/grids/comprehensive/{z}/{x}/{y}.mvt"


def _directives(response) -> set[str]:  # noqa: ANN001
    return {d.strip() for d in response.headers.get("cache-control", "").split(",") if d.strip()}


def _varies_on_authorization(response) -> bool:  # noqa: ANN001
    return "authorization" in {v.strip().lower() for v in response.headers.get("vary", "").split(",")}


def test_tiles_are_private_and_differ_per_caller(as_user) -> None:  # noqa: ANN001
    admin = as_user("admin").get(TILE)
    admin_tag = admin.headers["etag"]
    worker = as_user("worker1").get(TILE)
    assert admin.status_code == worker.status_code == 200 and admin.content != worker.content
    for r in (admin, worker):
        assert "public" not in _directives(r) and "private" in _directives(r), r.headers
        assert _varies_on_authorization(r)
        assert r.headers["etag"].startswith('W/"')
    assert admin_tag != worker.headers["etag"]  # one user's tag never validates another's tile


def test_revalidation_answers_304_and_only_for_the_same_content(as_user) -> None:  # noqa: ANN001
    client = as_user("worker1")
    first = client.get(TILE)
    tag = first.headers["etag"]
    assert client.get(TILE).headers["etag"] == tag  # stable while nothing changes
    again = client.get(TILE, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    assert "private" in _directives(again) and _varies_on_authorization(again)
    assert client.get(TILE, headers={"If-None-Match": f'"x", {tag.removeprefix("W/")}'}).status_code == 304
    admin_tag = as_user("admin").get(TILE).headers["etag"]
    assert as_user("worker1").get(TILE, headers={"If-None-Match": admin_tag}).status_code == 200
    # A collection revalidates the same way.
    grids = client.get("/grids", params={"layer": "comprehensive"})
    assert grids.status_code == 200 and grids.headers["etag"].startswith('W/"')
    assert client.get("/grids", params={"layer": "comprehensive"},
                      headers={"If-None-Match": grids.headers["etag"]}).status_code == 304


def test_an_edit_changes_the_etag_of_the_tile_and_collection_that_show_it(client: TestClient,
                                                                          session: Session) -> None:
    g = session.execute(text("""
        SELECT g.id, d.code AS division, ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
        FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'
        JOIN division d ON d.id = g.division_id ORDER BY g.id LIMIT 1""")).one()
    tile = _tile_of(g.lon, g.lat, 14)
    page = {"layer": "comprehensive", "division": g.division}
    before_tile, before_page = client.get(tile), client.get("/grids", params=page)
    assert before_tile.status_code == before_page.status_code == 200
    grid_tag = client.get(f"/grids/{g.id}").headers["etag"]
    r = client.patch(f"/grids/{g.id}", json={"name": "缓存测试网格"}, headers={"If-Match": grid_tag})
    assert r.status_code == 200, r.text
    after_tile = client.get(tile, headers={"If-None-Match": before_tile.headers["etag"]})
    after_page = client.get("/grids", params=page, headers={"If-None-Match": before_page.headers["etag"]})
    assert after_tile.status_code == after_page.status_code == 200  # not 304: what they show has changed
    assert after_tile.headers["etag"] != before_tile.headers["etag"]
    assert after_page.headers["etag"] != before_page.headers["etag"] and "缓存测试网格" in after_page.text


def test_point_collections_carry_etags(as_user) -> None:  # noqa: ANN001
    client = as_user("admin")
    for url in ("/households", "/cameras", "/events", "/staff", "/divisions"):
        r = client.get(url, params={"limit": 5})
        assert r.status_code == 200 and r.headers["etag"].startswith('W/"'), url
        assert client.get(url, params={"limit": 5}, headers={"If-None-Match": r.headers["etag"]}).status_code == 304


def test_grid_keeps_its_version_etag(client: TestClient, session: Session) -> None:
    """GET /grids/{id} has its own ETag (the version If-Match checks); the middleware must not replace it."""
    gid = session.execute(text("SELECT id FROM grid ORDER BY id LIMIT 1")).scalar_one()
    r = client.get(f"/grids/{gid}")
    assert r.status_code == 200 and not r.headers["etag"].startswith("W/")


def test_every_authenticated_answer_is_private_and_varies(as_user) -> None:  # noqa: ANN001
    client = as_user("planner")
    for url in ("/auth/me", "/layers", "/event-categories", "/grids?limit=1", "/nope"):
        r = client.get(url)
        assert "private" in _directives(r) or "no-store" in _directives(r), (url, r.headers)
        assert "public" not in _directives(r) and _varies_on_authorization(r), url


def test_personal_data_is_never_stored(as_user, session: Session) -> None:  # noqa: ANN001
    hh = session.execute(text("SELECT id FROM household WHERE residents > 0 ORDER BY id LIMIT 1")).scalar_one()
    staff = session.execute(text("SELECT id FROM staff ORDER BY id LIMIT 1")).scalar_one()
    answers = [
        as_user("admin").get(f"/households/{hh}/residents"),
        as_user("auditor").get("/audit", params={"limit": 1}),
        as_user("admin").get(f"/staff/{staff}/positions"),
    ]
    for r in answers:
        assert r.status_code == 200, r.text
        assert _directives(r) == {"no-store"} and _varies_on_authorization(r), r.url


def test_anonymous_public_answers_stay_cacheable(anonymous: TestClient) -> None:
    categories = anonymous.get("/event-categories")
    assert categories.status_code == 200 and not _directives(categories) & {"private", "no-store", "no-cache"}
    assert _varies_on_authorization(categories)  # a cache keeps the anonymous copy for anonymous callers only
    shell = anonymous.get("/")
    assert shell.status_code == 200 and "private" not in _directives(shell)
    refused = anonymous.get(TILE)
    assert refused.status_code == 401 and "etag" not in refused.headers


def test_routes_with_personal_data_are_marked_no_store(app) -> None:  # noqa: ANN001
    """Every route that can return unmasked personal data or the audit log declares NoStore."""
    sensitive_scopes = {"pii:read", "pii:export", "audit:read"}
    unmarked, sensitive = [], []
    routes = [r for r in _api_routes(app.router.routes) if "GET" in r.methods]
    assert len(routes) > 40  # the walk found the app's routes (it cannot pass vacuously)
    for route in routes:
        deps = route.dependant
        stack, scopes, params, marked = [deps], set(), set(), False
        while stack:
            d = stack.pop()
            scopes |= set(d.own_oauth_scopes or [])  # a requires(...) anywhere below the route
            params |= {p.name for p in d.query_params}
            marked |= d.call is _mark_no_store
            stack.extend(d.dependencies)
        if scopes & sensitive_scopes or params & {"unmasked", "purpose"}:
            sensitive.append(route.path)
            if not marked:
                unmarked.append(route.path)
    assert not unmarked, f"routes that can return personal data without NoStore: {unmarked}"
    assert {"/audit", "/residents/export", "/staff/{staff_id}/positions"} <= set(sensitive)
    assert not is_public("GET", "/audit")


def _api_routes(routes):  # noqa: ANN001, ANN202
    """The app's APIRoutes, through FastAPI's included-router wrappers."""
    from fastapi.routing import APIRoute

    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif getattr(route, "original_router", None) is not None:
            yield from _api_routes(route.original_router.routes)


def test_if_none_match_is_compared_weakly() -> None:
    assert etag_matches('W/"a"', 'W/"a"') and etag_matches('"a"', 'W/"a"') and etag_matches("*", 'W/"a"')
    assert etag_matches('"b", W/"a"', 'W/"a"') and not etag_matches('W/"b"', 'W/"a"')


def test_token_answers_are_never_stored(anonymous: TestClient) -> None:
    """RFC 6749 §5.1: a token response carries Cache-Control: no-store (the request itself has no credentials)."""
    from conftest import TEST_PASSWORD

    r = anonymous.post("/auth/token", data={"username": "viewer", "password": TEST_PASSWORD})
    assert r.status_code == 200 and "access_token" in r.json()
    assert _directives(r) == {"no-store"} and _varies_on_authorization(r)
