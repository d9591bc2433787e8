"""Break-glass 破窗: an emergency officer unmasks contacts around one open incident, for a while.

Why: an emergency officer has no ``pii:read``, so every phone they see is masked; in a flood or a
fire they must still call the households at the place and know who there cannot leave alone (独居老人,
disabled). Giving the role ``pii:read`` would unmask the whole territory all the time. A grant is
narrow instead: one officer (the one who opened it; another officer's grant never helps), one open
event inside their territory, a stated reason, a radius around the event's point
(``GRIDMAP_BREAK_GLASS_RADIUS_M``) and an end (``GRIDMAP_BREAK_GLASS_MINUTES``, default 2 h), or
earlier when closed. Opening and closing are audited (``break_glass.open``/``break_glass.close``);
every read under the grant is audited as its own kind, ``pii.break_glass``, with the grant's id,
the event and the reason, so an auditor can list exactly these reads (``GET /audit?action=...``).
Without an open grant nothing changes: the ordinary routes stay masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.access.security import Forbidden
from geo.emergency import around as around_mod
from geo.emergency.dispatch import open_event
from geo.errors import InvalidInput, NotFound
from geo.privacy import audit
from geo.privacy.audit import Actor
from geo.privacy.pii import mask_free_text

MIN_REASON = 4
MAX_REASON = 500
READ_ACTION = "pii.break_glass"  # the audit kind of every unmasked read under a grant


@dataclass(frozen=True)
class Grant:
    id: int
    user_id: int
    event_id: int
    reason: str
    opened_at: datetime
    expires_at: datetime
    closed_at: datetime | None

    def public(self, now: datetime) -> dict[str, Any]:
        """The grant as its holder sees it; ``seconds_left`` drives the page's countdown."""
        left = max(0, int((self.expires_at - now).total_seconds())) if self.closed_at is None else 0
        return {"id": self.id, "event_id": self.event_id, "reason": self.reason, "opened_at": self.opened_at,
                "expires_at": self.expires_at, "closed_at": self.closed_at, "open": left > 0,
                "seconds_left": left}


_COLUMNS = "id, user_id, event_id, reason, opened_at, expires_at, closed_at"


def _check_reason(reason: str | None) -> str:
    clean = (reason or "").strip()
    if len(clean) < MIN_REASON:
        raise InvalidInput(f"state the reason for breaking the glass (at least {MIN_REASON} characters)",
                           pointer="/reason")
    if len(clean) > MAX_REASON:
        raise InvalidInput(f"the reason is at most {MAX_REASON} characters, got {len(clean)}", pointer="/reason")
    return clean


def open_grant(session: Session, *, user_id: int, event_id: int, reason: str | None, scope: Scope, minutes: int,
               actor: Actor) -> Grant:
    """Open a grant on an open event inside ``scope`` (404 outside it, 409 when the event is not open)."""
    clean = _check_reason(reason)
    open_event(session, event_id, scope)
    row = session.execute(text(f"""
        INSERT INTO break_glass_grant (user_id, event_id, reason, expires_at)
        VALUES (:u, :e, :r, now() + make_interval(mins => :m)) RETURNING {_COLUMNS}"""),
        {"u": user_id, "e": event_id, "r": clean, "m": minutes}).one()
    grant = Grant(*row)
    # The reason is the officer's free text: stored with the grant, masked in the audit row like any free text.
    audit.record(session, actor, action="break_glass.open", entity="event", entity_id=event_id,
                 purpose=mask_free_text(clean)[:200], detail={"grant_id": grant.id, "minutes": minutes})
    return grant


def my_open_grants(session: Session, user_id: int) -> list[Grant]:
    """The caller's grants that are open now, newest first."""
    rows = session.execute(text(f"SELECT {_COLUMNS} FROM break_glass_grant WHERE user_id = :u AND closed_at IS NULL"
                                " AND expires_at > now() ORDER BY id DESC"), {"u": user_id}).all()
    return [Grant(*r) for r in rows]


def _mine(session: Session, grant_id: int, user_id: int) -> Grant:
    row = session.execute(text(f"SELECT {_COLUMNS} FROM break_glass_grant WHERE id = :g AND user_id = :u"),
                          {"g": grant_id, "u": user_id}).first()
    if row is None:  # someone else's grant looks like no grant
        raise NotFound(f"you have no break-glass grant {grant_id}", pointer="grant_id")
    return Grant(*row)


def close_grant(session: Session, grant_id: int, *, user_id: int, actor: Actor) -> Grant:
    """Close one's own grant early (closing a closed or expired grant changes nothing)."""
    grant = _mine(session, grant_id, user_id)
    row = session.execute(text(f"""
        UPDATE break_glass_grant SET closed_at = now() WHERE id = :g AND closed_at IS NULL AND expires_at > now()
        RETURNING {_COLUMNS}"""), {"g": grant_id}).first()
    if row is not None:
        grant = Grant(*row)
        audit.record(session, actor, action="break_glass.close", entity="event", entity_id=grant.event_id,
                     detail={"grant_id": grant.id})
    return grant


def usable_grant(session: Session, grant_id: int, *, user_id: int, scope: Scope) -> Grant:
    """The caller's grant if it is open now and its event still open and inside ``scope``; else 404/403/409."""
    grant = _mine(session, grant_id, user_id)
    state = session.execute(text("SELECT closed_at IS NOT NULL, expires_at <= now() FROM break_glass_grant"
                                 " WHERE id = :g"), {"g": grant_id}).one()
    if state[0]:
        raise Forbidden(f"break-glass grant {grant_id} was closed at {grant.closed_at.isoformat()}; open a new one")
    if state[1]:
        raise Forbidden(f"break-glass grant {grant_id} expired at {grant.expires_at.isoformat()}; open a new one")
    open_event(session, grant.event_id, scope)
    return grant


def around_incident(session: Session, grant_id: int, *, user_id: int, scope: Scope, radius_m: float,
                    max_radius_m: float, actor: Actor, limit: int = 200) -> dict[str, Any]:
    """Households around the grant's event with their contacts unmasked and the vulnerable listed; audited.

    The point is the event's own (a grant covers the incident, not wherever the officer clicks next)."""
    if radius_m > max_radius_m:
        raise InvalidInput(f"a break-glass grant reaches {max_radius_m:g} m around the incident, not {radius_m:g} m",
                           pointer="radius")
    grant = usable_grant(session, grant_id, user_id=user_id, scope=scope)
    event = session.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM event WHERE id = :e"),
                            {"e": grant.event_id}).one()
    body = around_mod.around(session, float(event[0]), float(event[1]), radius_m, scope=scope, limit=limit,
                             cameras=False, events=False, staff=False, unmasked_staff=True,
                             unmasked_contacts=True)
    homes = body["households"]
    shown = {h["id"] for h in homes["items"]} | {h["id"] for h in homes["needs_help"]}
    audit.record(session, actor, action=READ_ACTION, entity="household", entity_id=grant.event_id,
                 purpose=mask_free_text(grant.reason)[:200],
                 detail={"grant_id": grant.id, "event_id": grant.event_id, "households": len(shown),
                         "needs_help": len(homes["needs_help"]), "radius_m": radius_m})
    return {**body, "event_id": grant.event_id, "grant": grant.public(_now(session))}


def _now(session: Session) -> datetime:
    return session.execute(text("SELECT now()")).scalar_one()
