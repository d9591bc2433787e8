"""Place search for the map's search box: grids, divisions, household addresses and coordinates.

One query box, as users type: a grid code or the start of one (``52011100120101``), a name (``杨溪村``,
``花溪 杨溪村``: the whole text and each of its parts), an address, or a coordinate pair in either order
with an optional datum (``106.66,26.45``, ``26.45 106.66 gcj02``, ``百度 106.67 26.46``).

Names rank exact > prefix > contains, the whole query before its parts, then townships before
villages before grids before households (a bigger place first: it is what a short name usually
means). A coordinate pair is answered with one hit per plausible reading — each order that is a
longitude and a latitude (inside China when one is), in the datum given or in each of WGS84/CGCS2000
(identical at this precision), GCJ-02 and BD-09 — converted to WGS84, with the grids there.

Rights: grids and divisions are those of the caller's territory; households only for callers who
may read households (``households:read``), inside their territory, and only the address is returned
(masked like all free text), never a resident's name or phone. An address is found only by what is
shown of it: a phone or ID number inside it (masked) finds nothing, or the search would tell where a
number lives and confirm an ID number digit by digit. The query text is never logged and
never put into an error message: it may be someone's address.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, member_filter
from geo.errors import InvalidInput, NotFound
from geo.events.addresses import normalise
from geo.locating.locate import locate
from geo.privacy.pii import mask_free_text
from geo.spatial.crs import Crs, to_wgs84

MAX_QUERY = 100  # characters
MAX_LIMIT = 50
MAX_PARTS = 6
# A household address fragment shorter than this is not searched inside addresses (it would match
# most of the register, and without trigrams the index cannot help): villages and grids answer it.
MIN_ADDRESS_CONTAINS = 3

# Rough bounds of China (with its seas): a reading inside them is preferred to one outside.
_CHINA = (73.0, 3.0, 136.0, 54.0)

_DATUM_WORDS: dict[str, Crs] = {
    "wgs84": Crs.WGS84, "wgs-84": Crs.WGS84, "wgs": Crs.WGS84, "gps": Crs.WGS84, "epsg:4326": Crs.WGS84,
    "cgcs2000": Crs.CGCS2000, "cgcs": Crs.CGCS2000, "epsg:4490": Crs.CGCS2000, "国家2000": Crs.CGCS2000,
    "gcj02": Crs.GCJ02, "gcj-02": Crs.GCJ02, "gcj": Crs.GCJ02, "高德": Crs.GCJ02, "火星": Crs.GCJ02,
    "amap": Crs.GCJ02, "腾讯": Crs.GCJ02, "微信": Crs.GCJ02,
    "bd09": Crs.BD09, "bd-09": Crs.BD09, "bd": Crs.BD09, "baidu": Crs.BD09, "百度": Crs.BD09,
}
_DATUM = re.compile("|".join(re.escape(w) for w in sorted(_DATUM_WORDS, key=len, reverse=True)), re.I)
_NUMBER = r"[-+]?\d{1,3}(?:\.\d+)?"
_PAIR = re.compile(rf"^\s*({_NUMBER})\s*[°]?\s*[EeNn]?\s*(?:[,;，；]\s*|\s+)({_NUMBER})\s*[°]?\s*[EeNn]?\s*$")
_LOOKS_NUMERIC = re.compile(r"^[\s\d.,;，；°+\-EeNn]+$")
_SPLIT = re.compile(r"[\s,;，；、]+")

_KIND_ORDER = {"county": 0, "township": 1, "village": 2, "grid": 3, "household": 4}
_MATCH = ("exact", "prefix", "contains")


@dataclass(frozen=True)
class Query:
    """A search text split into what is searched: the whole and its parts (whole first)."""

    terms: tuple[str, ...]


def clean(q: str) -> str:
    """NFKC (full-width digits and commas become ASCII), trimmed, inner spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", q).split())


def parse_terms(q: str) -> Query:
    """The whole text and, when it has several, its parts (at most MAX_PARTS), without repeats."""
    whole = clean(q)
    parts = [p for p in _SPLIT.split(whole) if p]
    terms = [whole] + (parts[:MAX_PARTS] if len(parts) > 1 else [])
    return Query(tuple(dict.fromkeys(terms)))


@dataclass(frozen=True)
class Reading:
    lon: float  # as written, in ``crs``
    lat: float
    order: str  # "lonlat" | "latlon": which way the pair was read
    crs: Crs


def _in_china(lon: float, lat: float) -> bool:
    return _CHINA[0] <= lon <= _CHINA[2] and _CHINA[1] <= lat <= _CHINA[3]


def parse_coordinates(q: str) -> list[Reading] | None:
    """The plausible readings of a coordinate query, or None when the text is not a coordinate pair.

    InvalidInput when it is two numbers that no order makes a longitude and a latitude."""
    body = clean(q)
    datums = {_DATUM_WORDS[m.group(0).lower()] for m in _DATUM.finditer(body)}
    rest = _DATUM.sub(" ", body)
    m = _PAIR.match(rest)
    if m is None:
        if datums and _LOOKS_NUMERIC.match(rest) and rest.strip():
            raise InvalidInput("q names a datum but does not hold two numbers (longitude and latitude)",
                               pointer="q")
        return None
    if len(datums) > 1:
        raise InvalidInput("q names more than one datum; give one of wgs84, cgcs2000, gcj02, bd09", pointer="q")
    a, b = float(m.group(1)), float(m.group(2))
    orders = [(x, y, name) for x, y, name in ((a, b, "lonlat"), (b, a, "latlon"))
              if abs(x) <= 180 and abs(y) <= 90]
    if a == b:
        orders = orders[:1]
    if not orders:
        raise InvalidInput("q is two numbers but neither order is a longitude (±180) and a latitude (±90)",
                           pointer="q")
    china = [o for o in orders if _in_china(o[0], o[1])]
    orders = china or orders
    crss = list(datums) if datums else [Crs.WGS84, Crs.GCJ02, Crs.BD09]  # CGCS2000 = WGS84 (geo.spatial.crs)
    return [Reading(x, y, name, crs) for x, y, name in orders for crs in crss]


def _coordinate_hits(session: Session, readings: list[Reading], scope: Scope) -> list[dict[str, Any]]:
    hits = []
    for r in readings:
        hit: dict[str, Any] = {"kind": "coordinate", "crs": r.crs.value, "order": r.order,
                               "input": {"lon": r.lon, "lat": r.lat}, "grid": None, "grids": {}, "divisions": {}}
        try:
            loc = locate(session, r.lon, r.lat, r.crs, scope=scope)
        except NotFound:  # outside the district or the caller's territory: the point, and nothing about it
            x, y = to_wgs84(r.lon, r.lat, r.crs)
            hit.update(lon=round(float(x), 7), lat=round(float(y), 7), in_territory=False)
        else:
            grids = {k: v for k, v in loc.grids.items() if v and (scope.everything or v["id"] in scope.visible_grids)}
            hit.update(lon=round(loc.lon, 7), lat=round(loc.lat, 7), in_territory=True, grids=grids,
                       divisions=loc.divisions, grid=next(iter(grids.values()), None))
        hits.append(hit)
    # Readings that land in the caller's territory first; among them the order written, then the datum.
    return sorted(hits, key=lambda h: not h["in_territory"])


def _like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_BOX = ("json_build_array(round(ST_XMin(b)::numeric, 7), round(ST_YMin(b)::numeric, 7),"
        " round(ST_XMax(b)::numeric, 7), round(ST_YMax(b)::numeric, 7))")

# Each statement takes the terms as an array (ord 1 = the whole query) and keeps, per feature, its best
# match; ``rank`` 0/1/2 = exact/prefix/contains.
_GRIDS = f"""
WITH hit AS (
  SELECT DISTINCT ON (g.id) g.id, g.code, g.name, l.code AS layer, l.name AS layer_name, l.sort_order,
         d.name AS division_name, ST_X(g.label_point) AS lon, ST_Y(g.label_point) AS lat, g.geom::box2d AS b,
         CASE WHEN g.code = u.q OR g.name = u.q THEN 0
              WHEN g.code LIKE u.l || '%' OR g.name LIKE u.l || '%' THEN 1 ELSE 2 END AS rank, u.ord
    FROM unnest(CAST(:terms AS text[]), CAST(:likes AS text[])) WITH ORDINALITY AS u(q, l, ord)
    JOIN grid g ON g.code LIKE u.l || '%' OR g.name LIKE '%' || u.l || '%'
    JOIN grid_layer l ON l.id = g.layer_id JOIN division d ON d.id = g.division_id
   WHERE {{scope}}
   ORDER BY g.id, rank, u.ord)
SELECT id, code, name, layer, layer_name, division_name, lon, lat, {_BOX} AS bbox, rank, ord FROM hit
 ORDER BY rank, ord, sort_order, length(name), code LIMIT :limit
"""

_DIVISIONS = f"""
WITH hit AS (
  SELECT DISTINCT ON (d.id) d.id, d.code, d.name, d.level::text AS level, p.name AS parent_name,
         ST_X(d.label_point) AS lon, ST_Y(d.label_point) AS lat, d.geom::box2d AS b,
         CASE WHEN d.code = u.q OR d.name = u.q THEN 0
              WHEN d.code LIKE u.l || '%' OR d.name LIKE u.l || '%' THEN 1 ELSE 2 END AS rank, u.ord
    FROM unnest(CAST(:terms AS text[]), CAST(:likes AS text[])) WITH ORDINALITY AS u(q, l, ord)
    JOIN division d ON d.code LIKE u.l || '%' OR d.name LIKE '%' || u.l || '%'
    LEFT JOIN division p ON p.id = d.parent_id
   WHERE {{scope}}
   ORDER BY d.id, rank, u.ord)
SELECT id, code, name, level, parent_name, lon, lat, {_BOX} AS bbox, rank, ord FROM hit
 ORDER BY rank, ord, level, length(name), code LIMIT :limit
"""

# Addresses are compared by their folded key (geo.events.addresses.normalise, the SQL gridmap_address_key),
# which the register indexes for prefixes (text_pattern_ops) and for trigrams (contains, 3 characters or more).
# One statement per term, each branch limited on its own index: a prefix such as the district's name matches
# the whole register, and an OR of the branches made PostgreSQL fold every address (320 ms for 20,000); no
# ORDER BY inside a branch, for the same reason (sorting 20,000 keys to keep 10): the best are sorted after.
_HOUSEHOLD_BRANCH = """
(SELECT h.id, h.address, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, {rank} AS rank FROM household h
  WHERE {match}{scope} LIMIT :limit)"""
_HOUSEHOLD_MATCH = ("gridmap_address_key(h.address) = :k",
                    "gridmap_address_key(h.address) LIKE :l || '%' AND gridmap_address_key(h.address) <> :k",
                    "gridmap_address_key(h.address) LIKE '%' || :l || '%'"
                    " AND gridmap_address_key(h.address) NOT LIKE :l || '%'")


def _rounded(v: Any) -> float | None:
    return None if v is None else round(float(v), 7)


def _grid_hits(session: Session, terms: list[str], scope: Scope, limit: int) -> list[dict[str, Any]]:
    where, params = ("true", {}) if scope.everything else ("g.id = ANY(:s_grids)",
                                                          {"s_grids": list(scope.visible_grids)})
    rows = session.execute(text(_GRIDS.replace("{scope}", where)), {"terms": terms, "likes": [_like(t) for t in terms], "limit": limit,
                                       **params}).mappings()
    return [{"kind": "grid", "id": r["id"], "code": r["code"], "name": r["name"], "layer": r["layer"],
             "layer_name": r["layer_name"], "division_name": r["division_name"], "lon": _rounded(r["lon"]),
             "lat": _rounded(r["lat"]), "bbox": r["bbox"], "match": _MATCH[r["rank"]], "rank": r["rank"],
             "ord": r["ord"]} for r in rows]


def _division_hits(session: Session, terms: list[str], scope: Scope, limit: int) -> list[dict[str, Any]]:
    where, params = ("true", {}) if scope.everything else ("d.id = ANY(:s_divisions)",
                                                          {"s_divisions": list(scope.visible_divisions)})
    rows = session.execute(text(_DIVISIONS.replace("{scope}", where)),
                           {"terms": terms, "likes": [_like(t) for t in terms], "limit": limit, **params}).mappings()
    return [{"kind": r["level"], "id": r["id"], "code": r["code"], "name": r["name"], "parent_name": r["parent_name"],
             "lon": _rounded(r["lon"]), "lat": _rounded(r["lat"]), "bbox": r["bbox"], "match": _MATCH[r["rank"]],
             "rank": r["rank"], "ord": r["ord"]} for r in rows]


def _household_hits(session: Session, terms: list[str], scope: Scope, limit: int) -> list[dict[str, Any]]:
    clause, params = member_filter(scope, "household", "h")
    best: dict[int, dict[str, Any]] = {}
    for ord_, term in enumerate(terms, start=1):
        key = normalise(term)
        if not key:
            continue
        ranks = range(3 if len(key) >= MIN_ADDRESS_CONTAINS else 2)
        sql = " UNION ALL ".join(_HOUSEHOLD_BRANCH.format(rank=r, match=_HOUSEHOLD_MATCH[r], scope=clause)
                                 for r in ranks)
        for r in session.execute(text(sql), {"k": key, "l": _like(key), "limit": limit, **params}).mappings():
            shown = mask_free_text(r["address"])
            if key not in normalise(shown):
                continue  # matched on what the mask hides (a phone, an ID number): no oracle for it
            if r["id"] not in best or (r["rank"], ord_) < (best[r["id"]]["rank"], best[r["id"]]["ord"]):
                best[r["id"]] = {"kind": "household", "id": r["id"], "address": shown,
                                 "lon": _rounded(r["lon"]), "lat": _rounded(r["lat"]), "match": _MATCH[r["rank"]],
                                 "rank": r["rank"], "ord": ord_}
    return sorted(best.values(), key=lambda h: (h["rank"], h["ord"], len(h["address"] or ""), h["id"]))[:limit]


@dataclass(frozen=True)
class Results:
    results: list[dict[str, Any]]
    truncated: bool  # more matched than ``limit``


def search(session: Session, q: str, *, scope: Scope, limit: int = 10, households: bool = False) -> Results:
    """What ``q`` may designate inside ``scope``, best first (see the module's docstring).

    ``households``: the caller may read households (their addresses are searched and shown)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", pointer="limit")
    body = clean(q)
    if not body:
        raise InvalidInput("q is empty: give a grid code or name, a place, an address or coordinates", pointer="q")
    if len(body) > MAX_QUERY:
        raise InvalidInput(f"q is longer than {MAX_QUERY} characters", pointer="q")
    readings = parse_coordinates(body)
    if readings is not None:
        hits = _coordinate_hits(session, readings, scope)
        return Results(hits[:limit], len(hits) > limit)
    terms = list(parse_terms(body).terms)
    if not any(normalise(t) for t in terms):
        raise InvalidInput("q has no letters or digits", pointer="q")
    found = _division_hits(session, terms, scope, limit + 1) + _grid_hits(session, terms, scope, limit + 1)
    if households:
        found += _household_hits(session, terms, scope, limit + 1)
    found.sort(key=lambda h: (h["rank"], h["ord"], _KIND_ORDER[h["kind"]]))
    for h in found:
        del h["rank"], h["ord"]
    return Results(found[:limit], len(found) > limit)
