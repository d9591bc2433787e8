"""Demo accounts, one per role, with jurisdictions inside the generated district."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.permissions import Role
from geo.access.security import create_user
from geo.privacy import audit
from geo.privacy.audit import Actor


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    jurisdiction: str  # human-readable


def create_demo_users(session: Session, password: str) -> list[DemoUser]:
    """Accounts for trying every role: county-wide staff, a township, two villages and one grid."""
    county = session.execute(text("SELECT code, name FROM division WHERE level = 'county'")).one()
    town = session.execute(text("SELECT code, name FROM division WHERE level = 'township' ORDER BY code LIMIT 1")).one()
    v1, v2 = session.execute(text(
        "SELECT code, name FROM division WHERE level = 'village' AND parent_id = (SELECT id FROM division"
        " WHERE code = :t) ORDER BY code LIMIT 2"), {"t": town.code}).all()
    grid = session.execute(text(
        "SELECT g.code, g.name FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'"
        " JOIN division d ON d.id = g.division_id WHERE d.code = :v ORDER BY g.code LIMIT 1"), {"v": v1.code}).one()
    plan = [
        ("admin", Role.ADMIN, None, None, "the county"),
        ("auditor", Role.AUDITOR, None, None, "the audit log"),
        ("planner", Role.PLANNER, county.code, None, county.name),
        ("viewer", Role.VIEWER, county.code, None, county.name),
        ("department", Role.DEPARTMENT, county.code, None, county.name),
        ("emergency", Role.EMERGENCY, town.code, None, town.name),
        ("head1", Role.GRID_HEAD, v1.code, None, v1.name),
        ("worker1", Role.GRID_WORKER, None, grid.code, f"{grid.name} ({grid.code})"),
        ("worker2", Role.GRID_WORKER, v2.code, None, v2.name),
    ]
    users = []
    for username, role, division, grid_code, label in plan:
        user = create_user(session, username=username, password=password, role=role, division_code=division,
                           grid_code=grid_code, display_name=f"demo {role.value}")
        audit.record(session, Actor(None, "demo generator"), action="user.create", entity="user",
                     entity_id=user.id, detail={"role": role.value})
        users.append(DemoUser(username, role, label))
    link_demo_staff(session)
    return users


def link_demo_staff(session: Session) -> None:
    """Let the field accounts act as a responder (``/staff/me/...``): worker1 is the grid worker of
    their grid, head1 the grid head of their village, emergency the first emergency team member of
    their township."""
    session.execute(text("""
        UPDATE app_user u SET staff_id = pick.staff_id FROM (
            SELECT u.id AS user_id, (SELECT s.id FROM staff s
                WHERE (u.username = 'worker1' AND s.role = 'grid_worker' AND s.grid_id = u.grid_id)
                   OR (u.username = 'head1' AND s.role = 'grid_head' AND s.division_id = u.division_id)
                   OR (u.username = 'emergency' AND s.role = 'emergency_team' AND s.division_id = u.division_id)
                ORDER BY s.id LIMIT 1) AS staff_id
              FROM app_user u WHERE u.username IN ('worker1', 'head1', 'emergency')) pick
         WHERE u.id = pick.user_id"""))
