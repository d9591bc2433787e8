"""A plausible history of household visits 入户走访 for the demo district, written in one INSERT … SELECT.

Each household's grid worker visits it at a rhythm of its own: households that need care
(vulnerable ones, 联户长) every 3–12 days (their last ``CARE_VISITS`` visits are written), others
every 2–55 days (their last visit only), so that some are on target and some behind the rule of
geo/visits/rules.py; a few households were never visited (3 % of those needing care, 10 % of the
others). Only the last visits, not a year of them: a visit row costs its index entries and three
foreign-key checks, and ``make demo`` may grow by 10 % at most (bench: docs/visits.md). About 4 % of visits are logged from
250–1,200 m away (flagged ``far``), the rest from 3–60 m. Positions are kept only for visits inside
the retention period, as the purge would leave them; each is placed on the
WGS84 ellipsoid at its distance and bearing with the ellipsoid's radii of curvature at the
household's latitude (meridian M, prime vertical N): within 0.1 m of the geodesic at these ranges
(≤ 1.2 km), and ~30 times cheaper than ST_Project or ST_Distance on geography, which took most of the
load's time. The distance stored is that distance. Pseudo-random numbers come from md5 of the seed,
the household and the visit, so a seed gives the same history, and no Python loop touches a row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.visits.rules import VisitSettings

A, E2 = 6378137.0, 0.00669437999014  # the WGS84 ellipsoid: semi-major axis (m), first eccentricity squared
CARE_VISITS = 3  # the last few visits of a household that needs care; one (the last) of any other


def _u(seed: int, *parts: str) -> str:
    """SQL for a uniform number in [0, 1) from md5 of the seed and ``parts`` (SQL expressions)."""
    key = " || ':' || ".join([f"'{int(seed)}'", *[f"({p})::text" for p in parts]])
    return f"(('x' || substr(md5({key}), 1, 8))::bit(32)::bigint / 4294967296.0)"


def load_visits(session: Session, *, county: str, anchor: datetime, seed: int, retention_days: int = 30,
                settings: VisitSettings | None = None) -> int:
    """Write the visits of ``county``'s households up to ``anchor``; returns how many."""
    far_m = (settings or VisitSettings()).visit_far_m
    u = lambda *p: _u(seed, *p)  # noqa: E731 - a short alias in the SQL below
    return session.execute(text(f"""
        WITH hh AS (
            SELECT h.id, h.county_code, h.geom, m.grid_id,
                   (cardinality(h.needs_help) > 0
                    OR EXISTS (SELECT 1 FROM linked_household_group lg WHERE lg.id = h.group_id
                                AND lg.head_household_id = h.id)) AS care,
                   (SELECT s.id FROM staff s WHERE s.grid_id = m.grid_id AND s.role = 'grid_worker'
                     ORDER BY s.id LIMIT 1) AS staff_id
              FROM household h
              JOIN grid_membership m ON m.kind = 'household' AND m.entity_id = h.id
              JOIN grid_layer l ON l.id = m.layer_id AND l.code = 'comprehensive'
             WHERE h.county_code = :c),
        rhythm AS (
            SELECT hh.*, CASE WHEN care THEN 3 + 9 * {u('hh.id', "'i'")} ELSE 2 + 53 * {u('hh.id', "'i'")} END
                         AS every_days
              FROM hh
             WHERE staff_id IS NOT NULL AND {u('hh.id', "'n'")} >= CASE WHEN care THEN 0.03 ELSE 0.10 END),
        visits AS (
            SELECT r.*, j, (j + {u('r.id', "'p'")}) * r.every_days AS days_ago,
                   {u('r.id', 'j', "'f'")} < 0.04 AS far_off, {u('r.id', 'j', "'d'")} AS ud, {u('r.id', 'j', "'a'")} AS ua,
                   {u('r.id', 'j', "'k'")} AS uk
              FROM rhythm r CROSS JOIN LATERAL generate_series(0, CASE WHEN r.care THEN {CARE_VISITS - 1} ELSE 0 END) AS j),
        placed AS (
            SELECT v.*, CAST(:anchor AS timestamptz) - make_interval(secs => v.days_ago * 86400) AS at,
                   CASE WHEN far_off THEN 250 + 950 * ud ELSE 3 + 57 * ud END AS off_m,
                   {A} * (1 - {E2}) / power(1 - {E2} * sin(radians(ST_Y(v.geom))) ^ 2, 1.5) AS m_m,
                   {A} / sqrt(1 - {E2} * sin(radians(ST_Y(v.geom))) ^ 2) AS n_m
              FROM visits v)
        INSERT INTO visit (county_code, household_id, staff_id, grid_id, at, recorded_at, kind, note, position,
                           accuracy_m, distance_m, far)
        SELECT p.county_code, p.id, p.staff_id, p.grid_id, p.at, p.at,
               CAST(CASE WHEN p.care THEN 'care' WHEN p.uk < 0.85 THEN 'routine' WHEN p.uk < 0.93 THEN 'verify'
                         WHEN p.uk < 0.97 THEN 'mediation' ELSE 'other' END AS visit_kind), '',
               CASE WHEN p.at >= now() - make_interval(days => :keep) THEN ST_SetSRID(ST_MakePoint(
                    ST_X(p.geom) + degrees(p.off_m * sin(2 * pi() * p.ua) / (p.n_m * cos(radians(ST_Y(p.geom))))),
                    ST_Y(p.geom) + degrees(p.off_m * cos(2 * pi() * p.ua) / p.m_m)), 4326) END,
               CASE WHEN p.at >= now() - make_interval(days => :keep) THEN round((5 + 25 * p.ud)::numeric, 1) END,
               p.off_m, p.off_m > :far
          FROM placed p"""), {"c": county, "anchor": anchor, "keep": retention_days, "far": far_m}).rowcount
