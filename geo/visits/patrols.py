"""Patrols 巡查: a worker's walk through their grid as a track of timed points, with check-ins 打卡.

Why this shape:

* The track is points with times (``patrol_point``), not a LineString updated in place: a phone
  uploads in batches, late and sometimes twice; (patrol, time) is unique, so a re-sent batch is
  stored once and the line is drawn in time order by SQL (``ST_MakeLine(... ORDER BY at)``).
* Only the worker who started a patrol adds to it or ends it; to everyone else it does not exist
  for writing (404).
* The track is the worker's movements (行踪轨迹): shown exactly to themselves, to others only with
  ``pii:read`` and a purpose (audited), else as its length and counts. Track points past the
  retention period are deleted and check-ins lose their position (geo/visits/retention.py);
  the length in metres, computed on the spheroid when the patrol ends, stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.errors import Conflict, InvalidInput, NotFound
from geo.privacy import audit
from geo.privacy.audit import Actor
from geo.privacy.pii import check_purpose, mask_free_text
from geo.visits import fixes, rules
from geo.visits.fixes import Spot
from geo.visits.log import check_note, household_in_scope

PLACE_MAX = 100


def _grid_in_scope(session: Session, grid_id: int, scope: Scope) -> Any:
    row = session.execute(text("SELECT id, county_code FROM grid WHERE id = :g"),
                          {"g": grid_id}).first()
    if row is None or not (scope.everything or grid_id in scope.visible_grids):
        raise NotFound(f"no grid with id {grid_id}", pointer="/grid_id")
    return row


def start(session: Session, *, staff_id: int, grid_id: int | None, at: datetime | None, scope: Scope,
          actor: Actor) -> dict[str, Any]:
    """Open a patrol of ``grid_id`` (default: the grid the worker serves)."""
    now = fixes.utcnow()
    if at is not None:
        fixes.check([Spot(1, 1, at=at)], now)
    if grid_id is None:
        grid_id = session.execute(text("SELECT grid_id FROM staff WHERE id = :s"), {"s": staff_id}).scalar()
        if grid_id is None:
            raise InvalidInput("you serve no grid: name the grid to patrol", pointer="/grid_id")
    grid = _grid_in_scope(session, grid_id, scope)
    patrol_id = session.execute(text("""
        INSERT INTO patrol (county_code, staff_id, grid_id, started_at, created_by)
        VALUES (:c, :s, :g, :at, :u) RETURNING id"""),
        {"c": grid.county_code, "s": staff_id, "g": grid.id, "at": at or now, "u": actor.user_id}).scalar_one()
    audit.record(session, actor, action="patrol.start", entity="patrol", entity_id=patrol_id, detail={"grid_id": grid.id})
    return get(session, patrol_id, scope=scope, actor=actor, own_staff_id=staff_id)


def _own(session: Session, patrol_id: int, staff_id: int, *, lock: bool = False) -> Any:
    row = session.execute(text("SELECT id, county_code, started_at, ended_at FROM patrol WHERE id = :p AND staff_id = :s"
                               + (" FOR UPDATE" if lock else "")), {"p": patrol_id, "s": staff_id}).first()
    if row is None:
        raise NotFound(f"no patrol of yours with id {patrol_id}", pointer="id")
    return row


def _check_times(patrol: Any, ats: Sequence[datetime], prefix: str) -> None:
    earliest = patrol.started_at - timedelta(seconds=fixes.FUTURE_SKEW_S)
    for i, at in enumerate(ats):
        where = f"{prefix}/{i}/at" if prefix else "/at"
        if at < earliest:
            raise InvalidInput(f"{'point %d: ' % i if prefix else ''}at {at.isoformat()} is before the patrol started"
                               f" ({patrol.started_at.isoformat()})", pointer=where)
        if patrol.ended_at is not None and at > patrol.ended_at:
            raise InvalidInput(f"{'point %d: ' % i if prefix else ''}at {at.isoformat()} is after the patrol ended"
                               f" ({patrol.ended_at.isoformat()})", pointer=where)


def add_track(session: Session, patrol_id: int, *, staff_id: int, points: Sequence[Spot],
              retention_days: int) -> dict[str, Any]:
    """Store a batch of track points; a point already stored (same time) is a duplicate, not stored twice."""
    now = fixes.utcnow()
    if not points:
        raise InvalidInput("no points given", pointer="/points")
    limit = rules.settings().patrol_batch_max
    if len(points) > limit:
        raise InvalidInput(f"at most {limit} points per upload, got {len(points)}", pointer="/points")
    fixes.check(points, now, "/points")
    patrol = _own(session, patrol_id, staff_id, lock=True)
    ats = [p.at or now for p in points]
    _check_times(patrol, ats, "/points")
    cutoff = now - timedelta(days=retention_days)
    keep = [i for i, t in enumerate(ats) if t >= cutoff]
    stored = 0
    if keep:
        lon, lat = fixes.to_storage([points[i] for i in keep])
        stored = session.execute(text("""
            INSERT INTO patrol_point (county_code, patrol_id, at, geom, accuracy_m)
            SELECT :c, :p, u.at, ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326), u.acc
              FROM unnest(CAST(:at AS timestamptz[]), CAST(:lon AS float8[]), CAST(:lat AS float8[]),
                          CAST(:acc AS float8[])) AS u(at, lon, lat, acc)
            ON CONFLICT (patrol_id, at) DO NOTHING"""),
            {"c": patrol.county_code, "p": patrol_id, "at": [ats[i] for i in keep], "lon": lon, "lat": lat,
             "acc": [points[i].accuracy_m for i in keep]}).rowcount
    total = session.execute(text("SELECT count(*) FROM patrol_point WHERE patrol_id = :p"), {"p": patrol_id}).scalar_one()
    return {"accepted": stored, "duplicates": len(keep) - stored, "expired": len(points) - len(keep), "points": total}


def check_in(session: Session, patrol_id: int, *, staff_id: int, spot: Spot, household_id: int | None,
             place: str | None, note: str, scope: Scope, actor: Actor,
             retention_days: int) -> tuple[dict[str, Any], bool]:
    """A check-in 打卡 on the patrol; idempotent on its time. Returns the check-in and whether it is new."""
    now = fixes.utcnow()
    fixes.check([spot], now)
    note = check_note(note)
    place = (place or "").strip() or None
    if place is not None and len(place) > PLACE_MAX:
        raise InvalidInput(f"the place may have at most {PLACE_MAX} characters", pointer="/place")
    patrol = _own(session, patrol_id, staff_id)
    at = spot.at or now
    _check_times(patrol, [at], "")
    if household_id is not None:
        household_in_scope(session, household_id, scope)
    (lon,), (lat,) = fixes.to_storage([spot])
    row = session.execute(text("""
        INSERT INTO patrol_checkin (county_code, patrol_id, at, position, accuracy_m, household_id, place, note)
        VALUES (:c, :p, :at, CASE WHEN :keep THEN ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END,
                CASE WHEN :keep THEN CAST(:acc AS float8) END, :h, :place, :note)
        ON CONFLICT (patrol_id, at) DO NOTHING RETURNING id"""),
        {"c": patrol.county_code, "p": patrol_id, "at": at, "lon": lon, "lat": lat, "acc": spot.accuracy_m,
         "h": household_id, "place": place, "note": note,
         "keep": at >= now - timedelta(days=retention_days)}).first()
    created = row is not None
    checkin_id = row.id if created else session.execute(text(
        "SELECT id FROM patrol_checkin WHERE patrol_id = :p AND at = :at"), {"p": patrol_id, "at": at}).scalar_one()
    if created:
        audit.record(session, actor, action="patrol.checkin", entity="patrol", entity_id=patrol_id,
                     detail={"checkin_id": checkin_id})
    shown = _checkins(session, patrol_id, exact=True, only=checkin_id)[0]
    return shown, created


def end(session: Session, patrol_id: int, *, staff_id: int, at: datetime | None, scope: Scope,
        actor: Actor) -> dict[str, Any]:
    """End the patrol and measure its track on the spheroid; ending it again changes nothing."""
    now = fixes.utcnow()
    if at is not None:
        fixes.check([Spot(1, 1, at=at)], now)
    patrol = _own(session, patrol_id, staff_id, lock=True)
    if patrol.ended_at is None:
        end_at = at or now
        if end_at < patrol.started_at:
            raise InvalidInput(f"at {end_at.isoformat()} is before the patrol started", pointer="/at")
        last = session.execute(text("SELECT max(at) FROM patrol_point WHERE patrol_id = :p"), {"p": patrol_id}).scalar()
        if last is not None and last > end_at:
            raise Conflict(f"the track has points after {end_at.isoformat()}: end it at {last.isoformat()} or later",
                           pointer="/at")
        session.execute(text("""
            UPDATE patrol SET ended_at = :at, length_m = coalesce((
                SELECT ST_Length(ST_MakeLine(geom ORDER BY at)::geography) FROM patrol_point WHERE patrol_id = :p), 0)
             WHERE id = :p"""), {"p": patrol_id, "at": end_at})
        audit.record(session, actor, action="patrol.end", entity="patrol", entity_id=patrol_id)
    return get(session, patrol_id, scope=scope, actor=actor, own_staff_id=staff_id)


def _checkins(session: Session, patrol_id: int, *, exact: bool, only: int | None = None) -> list[dict[str, Any]]:
    rows = session.execute(text("""
        SELECT id, at, household_id, place, note, accuracy_m, ST_X(position) AS lon, ST_Y(position) AS lat
          FROM patrol_checkin WHERE patrol_id = :p AND (CAST(:only AS bigint) IS NULL OR id = :only)
         ORDER BY at, id"""), {"p": patrol_id, "only": only}).mappings().all()
    out = []
    for r in rows:
        c = {"id": r["id"], "at": r["at"], "household_id": r["household_id"], "place": mask_free_text(r["place"]),
             "note": mask_free_text(r["note"])}
        if exact:
            c["position"] = None if r["lon"] is None else {"lon": r["lon"], "lat": r["lat"]}
            c["accuracy_m"] = r["accuracy_m"]
        out.append(c)
    return out


def get(session: Session, patrol_id: int, *, scope: Scope, actor: Actor, own_staff_id: int | None = None,
        unmasked: bool = False, purpose: str | None = None) -> dict[str, Any]:
    """A patrol inside the caller's territory (its grid visible to them), else NotFound. The track and the
    check-ins' positions are shown to the worker who walked it, or ``unmasked`` with a purpose (audited)."""
    row = session.execute(text("""
        SELECT p.id, p.staff_id, p.grid_id, g.code AS grid_code, g.name AS grid_name, p.started_at, p.ended_at,
               p.length_m, (SELECT count(*) FROM patrol_point pp WHERE pp.patrol_id = p.id) AS points
          FROM patrol p LEFT JOIN grid g ON g.id = p.grid_id WHERE p.id = :p"""), {"p": patrol_id}).mappings().first()
    if row is None or not (scope.everything or row["grid_id"] in scope.visible_grids
                           or (own_staff_id is not None and row["staff_id"] == own_staff_id)):
        raise NotFound(f"no patrol with id {patrol_id}", pointer="id")
    own = own_staff_id is not None and row["staff_id"] == own_staff_id
    if unmasked and not own:
        purpose = check_purpose(purpose)
    exact = own or unmasked
    out = dict(row)
    out["length_m"] = None if out["length_m"] is None else round(out["length_m"], 1)
    out["track_shown"] = exact
    if exact:
        track = session.execute(text("""
            SELECT CASE WHEN count(*) >= 2 THEN ST_AsGeoJSON(ST_MakeLine(geom ORDER BY at), 7)::json END AS line,
                   coalesce(json_agg(json_build_array(ST_X(geom), ST_Y(geom), at) ORDER BY at), '[]') AS pts
              FROM patrol_point WHERE patrol_id = :p"""), {"p": patrol_id}).one()
        out["track"] = track.line
        out["track_points"] = track.pts
        if not own:
            audit.record(session, actor, action="pii.read", entity="patrol", entity_id=patrol_id, purpose=purpose,
                         detail={"points": row["points"]})
    out["checkins"] = _checkins(session, patrol_id, exact=exact)
    return out
