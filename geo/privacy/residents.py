"""Residents 居民 and reporters' contacts: personal data, masked unless asked for with a purpose.

Callers check territory first (the household or event must be in the caller's
scope); row-level security in PostgreSQL checks it again. Unmasked reads and
every write leave an audit row in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput, NotFound
from geo.privacy import audit, pii
from geo.privacy.audit import Actor
from geo.privacy.pii import (
    mask_email,
    mask_id_number,
    mask_identifier,
    mask_name,
    mask_phone,
    validate_id_number,
    validate_phone,
)

MIN_PURPOSE = pii.MIN_PURPOSE
_check_purpose = pii.check_purpose


def _present(row: dict[str, Any], unmasked: bool) -> dict[str, Any]:
    if unmasked:
        return {**row, "masked": False}
    return {**row, "name": mask_name(row["name"]), "id_number": mask_id_number(row["id_number"]),
            "phone": mask_phone(row["phone"]), "masked": True}


def list_residents(
    session: Session, household_id: int, *, actor: Actor, unmasked: bool = False, purpose: str | None = None
) -> list[dict[str, Any]]:
    if unmasked:
        purpose = _check_purpose(purpose)
    rows = [dict(r) for r in session.execute(
        text("SELECT id, household_id, name, id_number, phone FROM resident WHERE household_id = :h ORDER BY id"),
        {"h": household_id}).mappings()]
    if unmasked:
        audit.record(session, actor, action="pii.read", entity="household", entity_id=household_id,
                     purpose=purpose, detail={"residents": [r["id"] for r in rows]})
    return [_present(r, unmasked) for r in rows]


def add_resident(
    session: Session, household_id: int, *, actor: Actor, name: str, id_number: str, phone: str = ""
) -> dict[str, Any]:
    name = name.strip()
    if not 1 <= len(name) <= 50:
        raise InvalidInput("name must have 1–50 characters", pointer="name")
    number = validate_id_number(id_number)
    tel = validate_phone(phone)
    row = session.execute(
        text("INSERT INTO resident (household_id, name, id_number, phone) VALUES (:h, :n, :i, :p)"
             " RETURNING id, household_id, name, id_number, phone"),
        {"h": household_id, "n": name, "i": number, "p": tel},
    ).mappings().one()
    session.execute(text("UPDATE household SET residents = residents + 1 WHERE id = :h"), {"h": household_id})
    audit.record(session, actor, action="resident.create", entity="resident", entity_id=row["id"],
                 detail={"household": household_id})
    return _present(dict(row), unmasked=False)


def export_residents(session: Session, *, actor: Actor, purpose: str | None) -> list[dict[str, Any]]:
    """Every resident the caller's scope (and row-level security) allows, unmasked, for a stated purpose."""
    purpose = _check_purpose(purpose)
    rows = [dict(r) for r in session.execute(text(
        "SELECT r.id, r.household_id, h.address, r.name, r.id_number, r.phone FROM resident r"
        " JOIN household h ON h.id = r.household_id ORDER BY r.id")).mappings()]
    audit.record(session, actor, action="pii.export", entity="resident", purpose=purpose,
                 detail={"rows": len(rows)})
    return rows


def event_contact(
    session: Session, event_id: int, *, actor: Actor, unmasked: bool = False, purpose: str | None = None
) -> dict[str, Any]:
    if unmasked:
        purpose = _check_purpose(purpose)
    row = session.execute(text("SELECT event_id, name, phone, email, device_id, account_id FROM event_contact"
                               " WHERE event_id = :e"), {"e": event_id}).mappings().first()
    if row is None:
        raise NotFound(f"event {event_id} has no reporter contact", pointer="event_id")
    if unmasked:
        audit.record(session, actor, action="pii.read", entity="event", entity_id=event_id, purpose=purpose)
        return {**row, "masked": False}
    return {**row, "name": mask_name(row["name"]), "phone": mask_phone(row["phone"]), "email": mask_email(row["email"]),
            "device_id": mask_identifier(row["device_id"]), "account_id": mask_identifier(row["account_id"]),
            "masked": True}
