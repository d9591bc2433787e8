"""Demo accounts, one per role, with jurisdictions inside a generated county.

Several counties can be loaded side by side (``gridmap demo --county B``), so the accounts are
named per county:

- the default county (520111, Huaxi) keeps the plain names (``admin``, ``auditor``, ``planner``,
  ``viewer``, ``department``, ``emergency``, ``head1``, ``worker1``, ``worker2``); its ``admin`` and
  ``auditor`` are the platform's: no jurisdiction, every county;
- any other county C gets the same names with ``.C`` appended (``admin.520112``, ``worker1.520112``),
  and its ``admin.C`` is that county's admin (jurisdiction: county C, nothing of any other county);
  there is no ``auditor.C``: the audit log is the platform's.

Reloading a county replaces its accounts and leaves the other counties' alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.permissions import Role
from geo.access.security import create_user
from geo.privacy import audit
from geo.privacy.audit import Actor

DEFAULT_COUNTY = "520111"  # the county whose demo accounts keep their plain names


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    jurisdiction: str  # human-readable


def demo_username(name: str, county: str) -> str:
    """``admin`` in the default county, ``admin.520112`` in county 520112."""
    return name if county == DEFAULT_COUNTY else f"{name}.{county}"


def create_demo_users(session: Session, password: str, county: str | None = None) -> list[DemoUser]:
    """Accounts for trying every role in ``county`` (default: the only, or the default, county loaded):
    county-wide staff, a township, two villages and one grid."""
    if county is None:
        county = session.execute(text(
            "SELECT county_code FROM division WHERE level = 'county'"
            " ORDER BY county_code <> :d, county_code LIMIT 1"), {"d": DEFAULT_COUNTY}).scalar_one()
    c = {"c": county}
    top = session.execute(text(
        "SELECT code, name FROM division WHERE county_code = :c AND level = 'county'"), c).one()
    town = session.execute(text(
        "SELECT code, name FROM division WHERE county_code = :c AND level = 'township' ORDER BY code LIMIT 1"), c).one()
    v1, v2 = session.execute(text(
        "SELECT code, name FROM division WHERE county_code = :c AND level = 'village' AND parent_id ="
        " (SELECT id FROM division WHERE county_code = :c AND code = :t) ORDER BY code LIMIT 2"),
        {**c, "t": town.code}).all()
    grid = session.execute(text(
        "SELECT g.code, g.name FROM grid g JOIN grid_layer l ON l.id = g.layer_id AND l.code = 'comprehensive'"
        " JOIN division d ON d.id = g.division_id WHERE g.county_code = :c AND d.code = :v ORDER BY g.code LIMIT 1"),
        {**c, "v": v1.code}).one()
    default = county == DEFAULT_COUNTY
    plan = [
        ("admin", Role.ADMIN, None if default else top.code, None, "the platform (every county)" if default
         else top.name),
        *([("auditor", Role.AUDITOR, None, None, "the audit log")] if default else []),
        ("planner", Role.PLANNER, top.code, None, top.name),
        ("viewer", Role.VIEWER, top.code, None, top.name),
        ("leader", Role.LEADER, top.code, None, top.name),
        ("leader_town", Role.LEADER, town.code, None, town.name),
        ("department", Role.DEPARTMENT, top.code, None, top.name),
        ("emergency", Role.EMERGENCY, town.code, None, town.name),
        ("head1", Role.GRID_HEAD, v1.code, None, v1.name),
        ("worker1", Role.GRID_WORKER, None, grid.code, f"{grid.name} ({grid.code})"),
        ("worker2", Role.GRID_WORKER, v2.code, None, v2.name),
    ]
    names = [demo_username(p[0], county) for p in plan]
    # The county's own accounts went with its divisions (loader.clear_county); the platform's do not.
    session.execute(text("DELETE FROM app_user WHERE username = ANY(:n)"), {"n": names})
    users = []
    for username, (_, role, division, grid_code, label) in zip(names, plan, strict=True):
        user = create_user(session, username=username, password=password, role=role, division_code=division,
                           grid_code=grid_code, display_name=f"demo {role.value}")
        audit.record(session, Actor(None, "demo generator"), action="user.create", entity="user",
                     entity_id=user.id, detail={"role": role.value})
        users.append(DemoUser(username, role, label))
    link_demo_staff(session, county)
    return users


def link_demo_staff(session: Session, county: str = DEFAULT_COUNTY) -> None:
    """Let the field accounts act as a responder (``/staff/me/...``): worker1 is the grid worker of
    their grid, head1 the grid head of their village, emergency the first emergency team member of
    their township."""
    session.execute(text("""
        UPDATE app_user u SET staff_id = pick.staff_id FROM (
            SELECT u.id AS user_id, (SELECT s.id FROM staff s
                WHERE s.county_code = :c AND (
                      (u.username = :worker AND s.role = 'grid_worker' AND s.grid_id = u.grid_id)
                   OR (u.username = :head AND s.role = 'grid_head' AND s.division_id = u.division_id)
                   OR (u.username = :emergency AND s.role = 'emergency_team' AND s.division_id = u.division_id))
                ORDER BY s.id LIMIT 1) AS staff_id
              FROM app_user u WHERE u.username IN (:worker, :head, :emergency)) pick
         WHERE u.id = pick.user_id"""), {"c": county, "worker": demo_username("worker1", county),
                                         "head": demo_username("head1", county),
                                         "emergency": demo_username("emergency", county)})
