"""Every route declares a permission; every role gets exactly what its permissions allow.

The matrix is generated from the app's OpenAPI route table, so a new route
without a declared permission, or with a wrong one, fails here.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.security import is_public
from geo.access.permissions import Permission, Role, permissions_of

ROLE_USERS = {Role.ADMIN: "admin", Role.AUDITOR: "auditor", Role.PLANNER: "planner", Role.VIEWER: "viewer",
              Role.DEPARTMENT: "department", Role.EMERGENCY: "emergency", Role.GRID_HEAD: "head1",
              Role.GRID_WORKER: "worker1", Role.LEADER: "leader"}


def _operations(app) -> list[tuple[str, str, dict]]:  # noqa: ANN001
    ops = []
    for path, item in app.openapi()["paths"].items():
        for method, op in item.items():
            ops.append((path, method.upper(), op))
    return ops


def _permission(op: dict) -> str | None:
    reqs = op.get("security") or []
    scopes = [s for req in reqs for s in req.get("OAuth2PasswordBearer", [])]
    return scopes[0] if len(scopes) == 1 else None


def test_only_the_listed_routes_are_public() -> None:
    assert is_public("POST", "/events") and is_public("GET", "/open311/v2/services.json")
    assert not is_public("GET", "/events") and not is_public("GET", "/grids") and not is_public("DELETE", "/x/1")
    assert is_public("GET", "/") and not is_public("GET", "/audit")


def test_every_route_declares_one_permission_or_is_public(app) -> None:  # noqa: ANN001
    undeclared = [(m, p) for p, m, op in _operations(app) if not is_public(m, p) and _permission(op) is None]
    assert undeclared == []
    for path, method, op in _operations(app):
        if not is_public(method, path):
            Permission(_permission(op))  # a known permission name


def _sample_values(session: Session) -> dict[str, object]:
    ids = session.execute(text("""
        SELECT (SELECT min(h.id) FROM household h JOIN grid_membership m ON m.entity_id = h.id
                 AND m.kind = 'household' JOIN app_user u ON u.username = 'worker1' AND m.grid_id = u.grid_id),
               (SELECT min(id) FROM grid WHERE id = (SELECT grid_id FROM app_user WHERE username = 'worker1')),
               (SELECT min(e.id) FROM event e JOIN grid_membership m ON m.entity_id = e.id AND m.kind = 'event'
                 JOIN app_user u ON u.username = 'head1' JOIN grid g ON g.id = m.grid_id
                 AND g.division_id = u.division_id)
    """)).one()
    return {"household_id": ids[0], "grid_id": ids[1], "event_id": ids[2] or 1}


def _url(path: str, values: dict[str, object], session: Session) -> str:
    fill = {"division_id": 1, "camera_id": 1, "staff_id": 1, "code": "comprehensive", "source": "grids",
            "layer": "comprehensive", "z": 10, "x": 815, "y": 434, "rule_id": 1,
            "suggestion_id": "merge-g1v1-g2v1", "import_id": 1, "edit_id": 1, "patrol_id": 1,
            "grant_id": 1,  # break-glass (command)
            **values}
    url = re.sub(r"\{(\w+)\}", lambda m: str(fill[m.group(1)]), path)
    if path in ("/locate", "/responders/nearest", "/around"):
        lon, lat = session.execute(text("""
            SELECT ST_X(ST_PointOnSurface(g.geom)), ST_Y(ST_PointOnSurface(g.geom)) FROM grid g
            WHERE g.id = (SELECT grid_id FROM app_user WHERE username = 'worker1')""")).one()
        url += f"?lon={lon}&lat={lat}"
    if path in ("/residents/export",):
        url += "?purpose=matrix+test"
    return url


BODIES = {"/households/{household_id}/residents": {"name": "测试", "id_number": "11010519491231002X",
                                                   "phone": "13800138000"},
          "/staff/me/position": {"lon": 106.65, "lat": 26.43, "crs": "gcj02", "accuracy_m": 10},
          "/staff/me/positions": {"fixes": [{"lon": 106.65, "lat": 26.43}]},
          "/staff/me/availability": {"availability": "on_duty"},
          "/staff/{staff_id}/availability": {"availability": "busy"},
          "/fusion/rules": {"fine": "layer:dedicated", "coarse": "level:village"},
          "/fusion/rules/{rule_id}": {"enabled": True},
          "/fusion/suggestions/apply": {"suggestions": ["merge-g1v1-g2v1"]},
          "/break-glass": {"event_id": 1, "reason": "矩阵测试"},  # command
          "/events/{event_id}/dispatch": {"staff_id": 1}}  # command


STREAMS = {"/live"}  # server-sent events, open until the token expires


@pytest.mark.parametrize("role", list(Role))
def test_role_matrix(app, as_user, anonymous: TestClient, session: Session, role: Role) -> None:  # noqa: ANN001
    values = _sample_values(session)
    user = ROLE_USERS[role]
    granted = permissions_of(role)
    for path, method, op in _operations(app):
        if is_public(method, path):
            continue
        url = _url(path, values, session)
        body = BODIES.get(path)
        anonymous.headers.pop("Authorization", None)
        assert anonymous.request(method, url, json=body).status_code == 401, (method, path)
        if path in STREAMS and Permission(_permission(op)) in granted:
            continue  # never ends under TestClient (it reads the whole body): tests/api/test_live.py opens it
        r = as_user(user).request(method, url, json=body)
        if Permission(_permission(op)) in granted:
            assert r.status_code not in (401, 403), (role, method, path, r.status_code, r.text[:200])
            assert r.status_code < 500, (role, method, path, r.text[:200])
        else:
            assert r.status_code == 403, (role, method, path, r.status_code)
