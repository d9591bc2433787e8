"""The category tree: what a report is about, how it is triaged (三事分流), who
handles it by default and how long they have."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput


@dataclass(frozen=True)
class Category:
    code: str
    parent_code: str | None
    name: str
    name_en: str
    triage: str
    handler: str
    department_code: str | None
    deadline_hours: int
    duplicate_radius_m: float
    duplicate_window_hours: int
    is_leaf: bool
    attributes: list[dict[str, object]] = field(default_factory=list)  # Open311 service definition


_SELECT = """
    SELECT c.code, c.parent_code, c.name, c.name_en, c.triage::text AS triage, c.handler::text AS handler,
           c.department_code, c.deadline_hours, c.duplicate_radius_m, c.duplicate_window_hours,
           NOT EXISTS (SELECT 1 FROM event_category k WHERE k.parent_code = c.code) AS is_leaf, c.attributes
    FROM event_category c"""


def all_categories(session: Session) -> list[Category]:
    return [Category(**r) for r in session.execute(text(f"{_SELECT} ORDER BY c.code")).mappings()]


def category(session: Session, code: str, *, pointer: str = "category") -> Category:
    """The leaf category ``code``; a group or an unknown code is refused with the choices."""
    row = session.execute(text(f"{_SELECT} WHERE c.code = :c"), {"c": code}).mappings().first()
    if row is None:
        leaves = [c.code for c in all_categories(session) if c.is_leaf]
        raise InvalidInput(f"unknown category {code!r}", pointer=pointer, choices=leaves)
    cat = Category(**row)
    if not cat.is_leaf:
        children = list(session.execute(text("SELECT code FROM event_category WHERE parent_code = :c ORDER BY code"),
                                        {"c": code}).scalars())
        raise InvalidInput(f"category {code!r} is a group; choose one of its subcategories", pointer=pointer,
                           choices=children)
    return cat


def tree(session: Session) -> list[dict[str, object]]:
    """The categories as nested dicts, roots first, for clients that build a picker."""
    cats = all_categories(session)
    nodes = {c.code: {**c.__dict__, "children": []} for c in cats}
    roots: list[dict[str, object]] = []
    for c in cats:
        node = nodes[c.code]
        del node["is_leaf"]
        (nodes[c.parent_code]["children"] if c.parent_code in nodes else roots).append(node)
    return roots
