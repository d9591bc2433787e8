"""Responders' positions and availability: fixes from their phones, history, retention.

Why this shape:

* A phone buffers fixes while it has no signal and sends them late, out of
  order, or twice. Every fix goes to the history (``staff_position``); the
  current position on ``staff`` moves only forward in time, so an old fix that
  arrives last never drags a responder back to where they were an hour ago.
  The staff row is locked for the update, so two uploads for the same person
  cannot interleave.
* Phones send GCJ-02 (AMap, WeChat): converted to WGS84 with ``geo.spatial.crs`` on
  whole arrays (one numpy call per CRS in a batch, not one per fix).
* The history is a person's movements (行踪轨迹), sensitive personal data under
  PIPL: it is kept for a set number of days and purged after (``purge``);
  roles without ``pii:read`` only see it coarsened to ~100 m cells with counts
  and no order, so no track can be read from it; every unmasked read is audited.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput, NotFound
from geo.models.people import Availability
from geo.privacy import audit
from geo.privacy.audit import Actor
from geo.settings import PositionSettings
from geo.spatial.crs import Crs, to_wgs84

MIN_PURPOSE = 4
CELL_DEG = 0.001  # masked history: ~111 m north–south, ~100 m east–west at 26°N
MIN_FIXES_PER_CELL = 3  # masked history shows a cell only when it holds at least this many fixes


@dataclass(frozen=True)
class Fix:
    """One position report as the phone sent it (any supported CRS)."""

    lon: float
    lat: float
    crs: Crs = Crs.WGS84
    accuracy_m: float | None = None
    at: datetime | None = None  # when the fix was taken; None: now


@dataclass(frozen=True)
class Recorded:
    accepted: int  # stored in the history
    duplicates: int  # already stored (a phone re-sending its buffer): not stored twice
    expired: int  # older than the retention period: not stored
    moved: bool  # the current position changed
    current: dict[str, Any] | None  # the responder's current position after this upload


def staff_of_account(session: Session, user_id: int) -> int:
    """The staff record an account acts as (``/staff/me``); NotFound when it has none."""
    staff_id = session.execute(text("SELECT staff_id FROM app_user WHERE id = :u"), {"u": user_id}).scalar()
    if staff_id is None:
        raise NotFound("your account is not linked to a staff record; ask an administrator to link it",
                       pointer="me")
    return int(staff_id)


def _validate(fixes: Sequence[Fix], settings: PositionSettings, now: datetime, single: bool) -> None:
    """Every value checked before anything is stored; the pointer names the fix by its index."""
    if not fixes:
        raise InvalidInput("no fixes given", pointer="/fixes")
    if len(fixes) > settings.position_batch_max:
        raise InvalidInput(f"at most {settings.position_batch_max} fixes per upload, got {len(fixes)}",
                           pointer="/fixes")
    horizon = now + timedelta(seconds=settings.position_future_skew_s)
    for i, f in enumerate(fixes):
        check_fix(f, now, horizon, where="" if single else f"/fixes/{i}", label="" if single else f"fix {i}: ")


def check_fix(f: Fix, now: datetime, horizon: datetime, *, where: str, label: str) -> None:
    """One fix's values (finite, on the globe, not Null Island, a sane accuracy, an offset, not after ``horizon``,
    the server's ``now`` plus the clock skew allowed);
    shared with visits and patrols (geo/visits/fixes.py). ``where`` is the fix's JSON pointer, ``label`` the
    message's prefix naming it in a batch."""
    for name, value, bound in (("lon", f.lon, 180), ("lat", f.lat, 90)):
        if not (math.isfinite(value) and -bound <= value <= bound):
            raise InvalidInput(f"{label}{name} must be a finite number within ±{bound}, got {value}",
                               pointer=f"{where}/{name}")
    if f.lon == 0 and f.lat == 0:
        # "Null Island": what a phone's location API hands back before it has a fix
        raise InvalidInput(f"{label}lon 0, lat 0 is a phone's placeholder for 'no fix yet', not a position",
                           pointer=f"{where}/lon")
    if f.accuracy_m is not None and not (math.isfinite(f.accuracy_m) and 0 <= f.accuracy_m <= 100_000):
        raise InvalidInput(f"{label}accuracy_m must be between 0 and 100000 metres", pointer=f"{where}/accuracy_m")
    if f.at is not None:
        if f.at.tzinfo is None:
            raise InvalidInput(f"{label}at needs a UTC offset (e.g. 2026-11-23T08:00:00+08:00)",
                               pointer=f"{where}/at")
        if f.at > horizon:
            raise InvalidInput(f"{label}at is {f.at.isoformat()}, in the future (server time {now.isoformat()})",
                               pointer=f"{where}/at")


def fixes_to_wgs84(fixes: Sequence[Fix]) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 longitudes and latitudes of fixes in any mix of CRSs (one array call per CRS)."""
    lon = np.array([f.lon for f in fixes], dtype=np.float64)
    lat = np.array([f.lat for f in fixes], dtype=np.float64)
    crs = np.array([Crs(f.crs).value for f in fixes])
    for c in set(crs.tolist()):
        mask = crs == c
        lon[mask], lat[mask] = to_wgs84(lon[mask], lat[mask], c)
    return lon, lat


def record_fixes(
    session: Session, staff_id: int, fixes: Sequence[Fix], *, settings: PositionSettings, single: bool = False,
    now: datetime | None = None,
) -> Recorded:
    """Store fixes in the history and move the current position to the newest one, if newer."""
    now = now or datetime.now(UTC)
    _validate(fixes, settings, now, single)
    at = [f.at or now for f in fixes]
    cutoff = now - timedelta(days=settings.position_retention_days)
    keep = [i for i, t in enumerate(at) if t >= cutoff]
    previous = session.execute(text("SELECT position_at FROM staff WHERE id = :s FOR UPDATE"), {"s": staff_id}).first()
    if previous is None:
        raise NotFound(f"no staff member with id {staff_id}", pointer="staff_id")
    moved = False
    stored = 0
    if keep:
        kept = [fixes[i] for i in keep]
        lon, lat = fixes_to_wgs84(kept)
        bad = np.flatnonzero(~((np.abs(lon) <= 180) & (np.abs(lat) <= 90)))
        if bad.size:
            i = keep[int(bad[0])]
            raise InvalidInput(f"{'' if single else f'fix {i}: '}the position lies off the globe once converted from "
                               f"{Crs(fixes[i].crs).value}", pointer="" if single else f"/fixes/{i}")
        ats = [at[i] for i in keep]
        stored = session.execute(text("""
            INSERT INTO staff_position (staff_id, at, accuracy_m, crs, geom)
            SELECT :s, u.at, u.acc, u.crs, ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326)
              FROM unnest(CAST(:at AS timestamptz[]), CAST(:lon AS float8[]), CAST(:lat AS float8[]),
                          CAST(:acc AS float8[]), CAST(:crs AS text[])) AS u(at, lon, lat, acc, crs)
            ON CONFLICT (staff_id, at) DO NOTHING"""),
            {"s": staff_id, "at": ats, "lon": lon.tolist(), "lat": lat.tolist(),
             "acc": [f.accuracy_m for f in kept], "crs": [Crs(f.crs).value for f in kept]}).rowcount
        newest = max(range(len(kept)), key=lambda j: ats[j])  # first of equal times: max keeps the first
        if previous.position_at is None or ats[newest] > previous.position_at:
            session.execute(text("""
                UPDATE staff SET position = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), position_at = :at,
                       position_accuracy_m = :acc WHERE id = :s"""),
                {"s": staff_id, "lon": float(lon[newest]), "lat": float(lat[newest]), "at": ats[newest],
                 "acc": kept[newest].accuracy_m})
            moved = True
    return Recorded(stored, len(keep) - stored, len(fixes) - len(keep), moved, current_position(session, staff_id))


def current_position(session: Session, staff_id: int) -> dict[str, Any] | None:
    row = session.execute(text("""
        SELECT ST_X(position) AS lon, ST_Y(position) AS lat, position_at AS at, position_accuracy_m AS accuracy_m
          FROM staff WHERE id = :s AND position IS NOT NULL"""), {"s": staff_id}).mappings().first()
    return dict(row) if row else None


def set_availability(
    session: Session, staff_id: int, availability: Availability, *, actor: Actor, by: str,
) -> dict[str, Any]:
    """Change a responder's state; the change (from, to, by whom) goes to the audit log."""
    row = session.execute(text("""
        UPDATE staff s SET availability = CAST(:a AS availability), availability_at = now(),
               -- busy for an event only while busy (geo/emergency/dispatch.py); any other state ends it
               busy_event_id = CASE WHEN CAST(:a AS availability) = 'busy' THEN s.busy_event_id END
          FROM (SELECT id, availability FROM staff WHERE id = :s FOR UPDATE) old
         WHERE s.id = old.id
        RETURNING s.id, old.availability AS before, s.availability AS after, s.availability_at AS at"""),
        {"s": staff_id, "a": Availability(availability).value}).mappings().first()
    if row is None:
        raise NotFound(f"no staff member with id {staff_id}", pointer="staff_id")
    audit.record(session, actor, action="staff.availability", entity="staff", entity_id=staff_id,
                 detail={"from": row["before"], "to": row["after"], "by": by})
    return {"staff_id": staff_id, "availability": row["after"], "previous": row["before"], "at": row["at"]}


def history(
    session: Session, staff_id: int, *, actor: Actor, since: datetime | None = None, until: datetime | None = None,
    unmasked: bool = False, purpose: str | None = None, limit: int = 1000,
) -> dict[str, Any]:
    """A responder's position history: fixes in time order (unmasked, audited) or ~100 m cells with counts."""
    params: dict[str, Any] = {"s": staff_id, "since": since, "until": until, "limit": limit, "cell": CELL_DEG}
    window = ("staff_id = :s AND (CAST(:since AS timestamptz) IS NULL OR at >= :since)"
              " AND (CAST(:until AS timestamptz) IS NULL OR at < :until)")
    if unmasked:
        if not purpose or len(purpose.strip()) < MIN_PURPOSE:
            raise InvalidInput("unmasked position history needs a stated purpose (at least 4 characters)",
                               pointer="purpose")
        rows = [dict(r) for r in session.execute(text(
            f"SELECT at, ST_X(geom) AS lon, ST_Y(geom) AS lat, accuracy_m, crs FROM staff_position WHERE {window}"
            " ORDER BY at, id LIMIT :limit"), params).mappings()]
        audit.record(session, actor, action="pii.read", entity="staff_position", entity_id=staff_id,
                     purpose=purpose.strip()[:200], detail={"fixes": len(rows)})
        return {"staff_id": staff_id, "masked": False, "fixes": rows}
    # Masked: whole UTC days only, and only cells visited by at least MIN_FIXES_PER_CELL fixes — a narrow
    # window or a lone fix would give back a timed track, cell by cell.
    params["since"] = _day_floor(since)
    params["until"] = _day_ceil(until)
    rows = [dict(r) for r in session.execute(text(f"""
        SELECT round(ST_X(geom) / :cell) * :cell AS lon, round(ST_Y(geom) / :cell) * :cell AS lat, count(*) AS fixes
          FROM staff_position WHERE {window} GROUP BY 1, 2 HAVING count(*) >= :k ORDER BY 1, 2 LIMIT :limit"""),
        {**params, "k": MIN_FIXES_PER_CELL}).mappings()]
    return {"staff_id": staff_id, "masked": True, "cell_deg": CELL_DEG, "cells": rows, "since": params["since"],
            "until": params["until"], "fixes": sum(r["fixes"] for r in rows), "truncated": len(rows) == limit}


def _day_floor(t: datetime | None) -> datetime | None:
    return None if t is None else t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _day_ceil(t: datetime | None) -> datetime | None:
    floor = _day_floor(t)
    return None if floor is None else (floor if floor == t else floor + timedelta(days=1))


@dataclass(frozen=True)
class Purged:
    cutoff: datetime
    history_rows: int
    current_cleared: int


def purge(session: Session, *, retention_days: int, actor: Actor = audit.SYSTEM) -> Purged:
    """Delete position history older than the retention period, and current positions that old.

    Run daily (``gridmap positions purge``). The audit row says how much went, never where anyone was.
    """
    if retention_days < 1:
        raise InvalidInput("retention_days must be at least 1", pointer="retention_days")
    cutoff = session.execute(text("SELECT now() - make_interval(days => :d)"), {"d": retention_days}).scalar_one()
    deleted = session.execute(text("DELETE FROM staff_position WHERE at < :c"), {"c": cutoff}).rowcount
    cleared = session.execute(text(
        "UPDATE staff SET position = NULL, position_at = NULL, position_accuracy_m = NULL WHERE position_at < :c"),
        {"c": cutoff}).rowcount
    audit.record(session, actor, action="positions.purge", entity="staff_position",
                 detail={"retention_days": retention_days, "history_rows": deleted, "current_cleared": cleared})
    return Purged(cutoff, deleted, cleared)
