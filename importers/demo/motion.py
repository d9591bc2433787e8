"""Demo responders keep moving while a demo server runs, so the nearest list does not empty.

Why: the demo's responders got one fix each at load time; positions go stale after
GRIDMAP_POSITION_STALE_MINUTES (30), and the command map's nearest list (fresh fixes only) was empty
half an hour after ``gridmap demo --serve``. Real phones report every few minutes; here a background
thread started by ``gridmap serve`` and ``gridmap demo --serve`` plays those phones, only for a
county the demo generator made (its accounts are named ``demo <role>``, importers/demo/users.py): an
imported county's staff are real people and are never moved.

Every GRIDMAP_DEMO_MOTION_SECONDS (30) it takes the responders on shift (available, on duty, busy)
whose fix is oldest, at most ``BATCH`` of them, and moves each a few tens of metres in a random
direction (in SQL: ``ST_Project`` on the spheroid). A step that would leave the responder's territory
(their grid, else their division) goes a fifth of the way back home instead. The new fix is written
through ``geo.emergency.positions.record_fixes``, the code behind ``POST /staff/me/position``, so the
history, the current position and anything listening to it (the live stream) see an ordinary fix.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.db import make_engine, make_sessionmaker, transaction
from geo.emergency.positions import Fix, record_fixes
from geo.settings import DatabaseSettings, EmergencySettings, PositionSettings

log = logging.getLogger("gridmap.demo.motion")
BATCH = 300  # responders moved per tick: ~1,100 on shift in the default county, each refreshed every ~2 min
STEP_M = 40.0  # the longest step, metres
ACCURACY_M = 10.0


def demo_counties(session: Session) -> list[str]:
    """Counties whose accounts the demo generator made (display name ``demo <role>``)."""
    return list(session.execute(text("""
        SELECT DISTINCT coalesce(d.county_code, g.county_code) AS county FROM app_user u
          LEFT JOIN division d ON d.id = u.division_id LEFT JOIN grid g ON g.id = u.grid_id
         WHERE u.display_name LIKE 'demo %' AND coalesce(d.county_code, g.county_code) IS NOT NULL
         ORDER BY 1""")).scalars())


@dataclass(frozen=True)
class Moved:
    responders: int
    counties: tuple[str, ...]


def step(session: Session, *, positions: PositionSettings, batch: int = BATCH) -> Moved:
    """Move the ``batch`` demo responders with the oldest fixes one step each; one fix each, now."""
    counties = demo_counties(session)
    if not counties:
        return Moved(0, ())
    rows = session.execute(text("""
        WITH pick AS (
            SELECT s.id, s.position, s.home, coalesce(g.geom, d.geom) AS territory
              FROM staff s LEFT JOIN grid g ON g.id = s.grid_id LEFT JOIN division d ON d.id = s.division_id
             WHERE s.county_code = ANY(:c) AND s.availability IN ('available', 'on_duty', 'busy')
             ORDER BY s.position_at NULLS FIRST, s.id LIMIT :n),
        stepped AS (
            SELECT id, position, home, territory,
                   ST_Project(coalesce(position, home)::geography, random() * :m, random() * 2 * pi())::geometry
                       AS ahead
              FROM pick)
        SELECT id,
               ST_X(p) AS lon, ST_Y(p) AS lat
          FROM stepped,
               LATERAL (SELECT CASE WHEN territory IS NULL OR ST_Covers(territory, ahead) THEN ahead
                                    WHEN position IS NULL THEN home
                                    ELSE ST_LineInterpolatePoint(ST_MakeLine(position, home), 0.2) END AS p) q
         ORDER BY id"""), {"c": counties, "n": batch, "m": STEP_M}).all()
    for staff_id, lon, lat in rows:
        record_fixes(session, staff_id, [Fix(float(lon), float(lat), accuracy_m=ACCURACY_M)], settings=positions,
                     single=True)
    return Moved(len(rows), tuple(counties))


def run(database: DatabaseSettings, stop: threading.Event, *, every_s: float,
        positions: PositionSettings | None = None) -> None:
    """Step until ``stop`` is set: one transaction per tick (as the application role, like the server)."""
    positions = positions or PositionSettings()
    engine = make_engine(database, as_app=True)
    sessions = make_sessionmaker(engine)
    try:
        while not stop.is_set():
            try:
                with transaction(sessions) as session:
                    moved = step(session, positions=positions)
                if not moved.counties:
                    log.info("demo motion: no demo county loaded; responders are left alone")
                    return
            except Exception:  # noqa: BLE001 - a lost database must not end the server; try again next tick
                log.exception("demo motion: a tick failed")
            stop.wait(every_s)
    finally:
        engine.dispose()


def start(database: DatabaseSettings | None = None, emergency: EmergencySettings | None = None) -> threading.Event:
    """Start the mover in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    every = (emergency or EmergencySettings()).demo_motion_seconds
    if every == 0:  # switched off
        return stop
    threading.Thread(target=run, args=(database or DatabaseSettings(), stop), kwargs={"every_s": every},
                     name="demo-motion", daemon=True).start()
    return stop
