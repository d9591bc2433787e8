"""What is around an incident: households (and those needing help), cameras that see the
place, the grids it lies in with their heads, and open events nearby — one call.

Distances are geodesic metres on the WGS84 spheroid (``ST_Distance``/``ST_DWithin``
on geography). The geometry GiST indexes are used through a bounding box in
degrees that provably contains the circle (``envelope``), then the exact
geodesic test decides: no geography index is needed on the big tables.

A camera sees a point when the point is within its range (geodesic) and the
azimuth from the camera to the point (``ST_Azimuth`` on geography) lies within
±fov/2 of the camera's bearing, measured the short way round the circle, so a
camera facing 350° with a 60° field of view sees a point at 10°. A 360° camera
sees everything in range.

Personal data: households are listed with their first registered resident's
name and phone masked (``geo.privacy.pii``); unmasked contacts need the audited
resident route. Staff names are shown as the staff list shows them; their
phones are masked for roles without ``pii:read``.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, member_filter
from geo.errors import NotFound
from geo.models.events import NOT_OPEN_SQL
from geo.privacy.pii import mask_free_text_fields, mask_name, mask_phone

# Lower bounds of metres per degree on WGS84: of latitude (the meridian at the equator) and of
# longitude at latitude φ (a·cos φ·π/180, since the prime-vertical radius N ≥ a).
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQUATOR = 111_319.4


def envelope(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box that contains every point within ``radius_m`` (geodesic) of (lon, lat)."""
    dlat = radius_m / M_PER_DEG_LAT * 1.001
    top = min(89.9, abs(lat) + dlat)
    dlon = min(180.0, radius_m / (M_PER_DEG_LON_EQUATOR * math.cos(math.radians(top))) * 1.001)
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


def _near(alias: str, column: str = "geom") -> str:
    return (f"{alias}.{column} && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"
            f" AND ST_DWithin({alias}.{column}::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, :r)")


_DIST = "ST_Distance({a}.geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography)"


def _contact(row: dict[str, Any], unmasked: bool = False) -> dict[str, Any]:
    name, phone = row.pop("contact_name", None), row.pop("contact_phone", None)
    if not name:
        row["contact"] = None
    elif unmasked:  # only under an open break-glass grant (geo/emergency/break_glass.py), audited there
        row["contact"] = {"name": name, "phone": phone or "", "masked": False}
    else:
        row["contact"] = {"name": mask_name(name), "phone": mask_phone(phone or ""), "masked": True}
    return row


def households(session: Session, p: dict[str, Any], scope: Scope, limit: int, sensitive: bool = False,
               unmasked_contacts: bool = False) -> dict[str, Any]:
    """Households within the radius: totals, the nearest ``limit``, and the nearest ``limit`` flagged
    as needing help — one statement, each household's geodesic distance computed once.

    Who needs help (disability, elderly living alone) is sensitive personal data (PIPL art. 28):
    without ``sensitive`` (``pii:read``) only the count is given, never which household. Contacts are
    masked unless ``unmasked_contacts`` (a break-glass grant: the caller audits the read)."""
    clause, sp = member_filter(scope, "household", "h")
    rows = [dict(r) for r in session.execute(text(f"""
        WITH inside AS MATERIALIZED (
            SELECT h.id, h.address, h.residents, h.needs_help::text[] AS needs_help, d.distance_m,
                   ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat
              FROM household h,
                   LATERAL (SELECT {_DIST.format(a='h')} AS distance_m) d
             WHERE h.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) AND d.distance_m <= :r{clause}),
        totals AS (SELECT count(*) AS total, coalesce(sum(residents), 0) AS residents_total,
                          count(*) FILTER (WHERE cardinality(needs_help) > 0) AS flagged FROM inside),
        listed AS ((SELECT *, false AS help_list FROM inside ORDER BY distance_m, id LIMIT :limit)
                   UNION ALL
                   (SELECT *, true FROM inside WHERE cardinality(needs_help) > 0 ORDER BY distance_m, id LIMIT :limit))
        -- contacts are looked up for the listed households only
        SELECT l.*, t.*, r.name AS contact_name, r.phone AS contact_phone
          FROM totals t LEFT JOIN listed l ON true
          LEFT JOIN LATERAL (SELECT name, phone FROM resident WHERE household_id = l.id ORDER BY id LIMIT 1) r ON true
         ORDER BY l.help_list, l.distance_m, l.id"""), {**p, **sp, "limit": limit}).mappings()]
    totals = dict(rows[0])
    listed = [r for r in rows if r["id"] is not None]
    for r in listed:
        for key in ("total", "residents_total", "flagged"):
            del r[key]
    lists: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for r in listed:
        lists[r.pop("help_list")].append(_contact(r, unmasked_contacts))
    items, needing = lists[False], lists[True]
    if not sensitive:
        needing = []
        for r in items:
            r.pop("needs_help", None)
    return {"count": totals["total"], "residents": int(totals["residents_total"]),
            "needs_help_count": totals["flagged"], "items": items, "truncated": totals["total"] > len(items),
            "needs_help": needing}


def cameras_seeing(session: Session, lon: float, lat: float, scope: Scope) -> list[dict[str, Any]]:
    """Cameras whose field of view (bearing ± fov/2, out to range_m) covers the point, nearest first."""
    reach = session.execute(text("SELECT max(range_m) FROM camera")).scalar()
    if reach is None:
        return []
    x0, y0, x1, y1 = envelope(lon, lat, reach)
    clause, sp = member_filter(scope, "camera", "c")
    rows = session.execute(text(f"""
        SELECT c.id, c.code, c.name, c.status, c.bearing, c.fov, c.range_m, v.distance_m, v.azimuth,
               ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat
          FROM camera c,
               LATERAL (SELECT ST_Distance(c.geom::geography, pt) AS distance_m,
                               degrees(ST_Azimuth(c.geom::geography, pt)) AS azimuth
                          FROM (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography AS pt) q) v
         WHERE c.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326){clause}
           AND v.distance_m <= c.range_m
           AND (c.fov >= 360 OR v.azimuth IS NULL
                OR abs((v.azimuth - c.bearing + 540) - 360 * floor((v.azimuth - c.bearing + 540) / 360) - 180)
                   <= c.fov / 2)
         ORDER BY c.status <> 'online', v.distance_m, c.id"""),
        {"lon": lon, "lat": lat, "x0": x0, "y0": y0, "x1": x1, "y1": y1, **sp}).mappings()
    return [dict(r) for r in rows]


def grids_with_heads(session: Session, lon: float, lat: float, scope: Scope, unmasked: bool) -> list[dict[str, Any]]:
    """Every grid (all layers) covering the point, with its heads 网格长: grid_head staff serving that
    grid, or heading the grid's division (a village head leads all its grids)."""
    rows = [dict(r) for r in session.execute(text("""
        SELECT g.id, g.code, g.name, l.code AS layer, l.name AS layer_name, g.division_id
          FROM grid g JOIN grid_layer l ON l.id = g.layer_id
         WHERE ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
           AND (CAST(:all AS boolean) OR g.id = ANY(:visible))
         ORDER BY l.sort_order, g.code"""),
        {"lon": lon, "lat": lat, "all": scope.everything, "visible": list(scope.visible_grids)}).mappings()]
    if not rows:
        return []
    heads = [dict(r) for r in session.execute(text("""
        SELECT id, name, phone, availability, grid_id, division_id FROM staff
         WHERE role = 'grid_head' AND (grid_id = ANY(:g) OR division_id = ANY(:d)) ORDER BY id"""),
        {"g": [r["id"] for r in rows], "d": [r["division_id"] for r in rows]}).mappings()]
    for g in rows:
        g["heads"] = [{"id": h["id"], "name": h["name"], "availability": h["availability"],
                       "phone": h["phone"] if unmasked else mask_phone(h["phone"])}
                      for h in heads if h["grid_id"] == g["id"] or h["division_id"] == g["division_id"]]
        del g["division_id"]
    return rows


def open_events(session: Session, p: dict[str, Any], scope: Scope, limit: int) -> list[dict[str, Any]]:
    """Open events nearby; their descriptions with ID and phone numbers masked (geo.privacy.pii.mask_free_text)."""
    clause, sp = member_filter(scope, "event", "e")
    return [mask_free_text_fields(dict(r), ("description",)) for r in session.execute(text(f"""
        SELECT e.id, e.category, e.description, e.status, e.reported_at, e.due_at, {_DIST.format(a='e')} AS distance_m,
               ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat
          FROM event e
         WHERE {_near('e')} AND e.status::text NOT IN {NOT_OPEN_SQL}{clause}
         ORDER BY distance_m, e.id LIMIT :limit"""), {**p, **sp, "limit": limit}).mappings()]


def around(
    session: Session, lon: float, lat: float, radius_m: float, *, scope: Scope, limit: int = 200,
    cameras: bool = True, events: bool = True, staff: bool = True, unmasked_staff: bool = False,
    unmasked_contacts: bool = False,
) -> dict[str, Any]:
    """Everything an emergency dispatcher needs at a WGS84 point, within ``radius_m``.

    A caller with a limited territory gets 404 for a point outside it, like ``/locate``.
    """
    grids = grids_with_heads(session, lon, lat, scope, unmasked_staff) if staff else None
    if not scope.everything:
        inside = session.execute(text(
            "SELECT EXISTS (SELECT 1 FROM grid WHERE id = ANY(:g)"
            " AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)))"),
            {"g": list(scope.grids), "lon": lon, "lat": lat}).scalar_one()
        if not inside:
            raise NotFound(f"the point ({lon:.6f}, {lat:.6f}) is outside your jurisdiction", pointer="lon")
    x0, y0, x1, y1 = envelope(lon, lat, radius_m)
    p = {"lon": lon, "lat": lat, "r": radius_m, "x0": x0, "y0": y0, "x1": x1, "y1": y1}
    out: dict[str, Any] = {"point": {"lon": lon, "lat": lat}, "radius_m": radius_m,
                           "households": households(session, p, scope, limit, sensitive=unmasked_staff,
                                                    unmasked_contacts=unmasked_contacts)}
    if cameras:
        out["cameras"] = cameras_seeing(session, lon, lat, scope)
    if staff:
        out["grids"] = grids
    if events:
        out["events"] = open_events(session, p, scope, limit)
    return out
