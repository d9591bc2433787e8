"""The purge of workers' positions in visit and patrol logs (行踪轨迹, PIPL), with position history's retention.

Run by ``gridmap positions purge`` beside geo/emergency/positions.py's purge, with the same
retention (GRIDMAP_POSITION_RETENTION_DAYS): past it, track points are deleted and visits and
check-ins lose their position and accuracy. The visit itself, its distance in metres and its
``far`` flag stay: they are the record of the work, not of where the worker went. The audit row
says how much went, never where anyone was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.privacy import audit
from geo.privacy.audit import Actor


@dataclass(frozen=True)
class PurgedVisits:
    cutoff: datetime
    visit_positions: int
    track_points: int
    checkin_positions: int


def purge(session: Session, *, retention_days: int, actor: Actor = audit.SYSTEM) -> PurgedVisits:
    """Clear positions older than ``retention_days`` from visits, patrol tracks and check-ins."""
    if retention_days < 1:
        raise InvalidInput("retention_days must be at least 1", pointer="retention_days")
    cutoff = session.execute(text("SELECT now() - make_interval(days => :d)"), {"d": retention_days}).scalar_one()
    c = {"c": cutoff}
    visits = session.execute(text(
        "UPDATE visit SET position = NULL, accuracy_m = NULL WHERE at < :c AND position IS NOT NULL"), c).rowcount
    points = session.execute(text("DELETE FROM patrol_point WHERE at < :c"), c).rowcount
    checkins = session.execute(text(
        "UPDATE patrol_checkin SET position = NULL, accuracy_m = NULL WHERE at < :c AND position IS NOT NULL"),
        c).rowcount
    audit.record(session, actor, action="visits.purge", entity="visit",
                 detail={"retention_days": retention_days, "visit_positions": visits, "track_points": points,
                         "checkin_positions": checkins})
    return PurgedVisits(cutoff, visits, points, checkins)
