"""GeoJSON feature collections straight from PostGIS.

Why in SQL: serialising geometry and properties with ``json_build_object`` in
the database is several times faster than loading ORM objects and converting
them in Python, and it keeps personal data out by construction — each
collection lists the exact columns it exposes, and residents' or reporters'
contact details are simply not among them.

Paging is keyset (``after`` = last id seen), so page N costs the same as page 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, member_filter
from geo.errors import InvalidInput, NotFound
from geo.privacy.pii import has_personal_numbers, mask_free_text_fields

BBox = tuple[float, float, float, float]
# Decimals of stored shapes in GeoJSON (about 1 cm): ``geom_out`` is already snap-rounded to that grid.
GEOJSON_DIGITS = 7
# Decimals at which ST_AsGeoJSON prints a double so that it reads back bit for bit (checked on every grid
# of a generated district): for computed shapes (overlaps, gaps) that are sent as they are.
EXACT_DIGITS = 15


@dataclass(frozen=True)
class Filter:
    """A request filter: its SQL (with one bound parameter ``:v``) and how to coerce the value."""

    sql: str
    kind: type = str


@dataclass(frozen=True)
class Collection:
    name: str
    table: str
    geometry: str
    properties: dict[str, str]  # property name -> SQL expression over alias ``t``
    joins: str = ""
    filters: dict[str, Filter] = field(default_factory=dict)
    member_kind: str | None = None  # kind in grid_membership, for territorial scope
    free_text: tuple[str, ...] = ()  # properties people write into: ID and phone numbers masked on output
    # The column sent as GeoJSON, when it differs from ``geometry`` (which filters and bboxes use):
    # polygons are sent from ``geom_out``, the shape already reduced to the 7-decimal grid (migration 0007),
    # so rounding cannot make a valid polygon self-intersecting. Points cannot become invalid.
    output: str | None = None


# Where a shape's name goes and how much room there is (migration 0017: the centre and diameter of the maximum
# inscribed circle, stored per write), so the map knows at which zoom a name fits without measuring shapes.
_LABEL = {"label_lon": "round(ST_X(t.label_point)::numeric, 7)", "label_lat": "round(ST_Y(t.label_point)::numeric, 7)",
          "label_size_m": "round(t.label_size_m::numeric, 1)"}

_IN_GRID = Filter(
    "t.id IN (SELECT m.entity_id FROM grid_membership m JOIN grid g ON g.id = m.grid_id"
    " WHERE m.kind = '{kind}' AND g.code = :v)"
)
_IN_DIVISION = Filter(
    "t.division_id IN (WITH RECURSIVE d AS (SELECT id FROM division WHERE code = :v"
    " UNION ALL SELECT c.id FROM division c JOIN d ON c.parent_id = d.id) SELECT id FROM d)"
)


def _in_grid(kind: str) -> Filter:
    return Filter(_IN_GRID.sql.format(kind=kind))


COLLECTIONS: dict[str, Collection] = {
    "divisions": Collection(
        "divisions", "division", "geom",
        {"code": "t.code", "name": "t.name", "level": "t.level", "parent_code": "p.code", **_LABEL},
        joins="LEFT JOIN division p ON p.id = t.parent_id",
        filters={"level": Filter("t.level = CAST(:v AS division_level)"), "parent": Filter("p.code = :v")},
        output="geom_out",
    ),
    "grids": Collection(
        "grids", "grid", "geom",
        {"code": "t.code", "name": "t.name", "layer": "l.code", "layer_name": "l.name",
         "division_code": "d.code", "division_name": "d.name", "version": "t.version",
         "valid_from": "t.valid_from", **_LABEL},
        joins="JOIN grid_layer l ON l.id = t.layer_id JOIN division d ON d.id = t.division_id",
        filters={"layer": Filter("l.code = :v"), "division": _IN_DIVISION},
        output="geom_out",
    ),
    "households": Collection(
        "households", "household", "geom",
        {"address": "t.address", "residents": "t.residents", "group_code": "g.code", "division_code": "d.code"},
        joins="LEFT JOIN linked_household_group g ON g.id = t.group_id JOIN division d ON d.id = t.division_id",
        filters={"grid": _in_grid("household"), "division": _IN_DIVISION, "group": Filter("g.code = :v")},
        member_kind="household",
    ),
    "cameras": Collection(
        "cameras", "camera", "geom",
        {"code": "t.code", "name": "t.name", "bearing": "t.bearing", "fov": "t.fov", "range_m": "t.range_m",
         "status": "t.status"},
        filters={"grid": _in_grid("camera"), "status": Filter("t.status = CAST(:v AS camera_status)")},
        member_kind="camera",
    ),
    "events": Collection(
        "events", "event", "geom",
        {"category": "t.category", "description": "t.description", "status": "t.status", "source": "t.source",
         "reported_at": "t.reported_at", "due_at": "t.due_at", "closed_at": "t.closed_at"},
        filters={"grid": _in_grid("event"), "status": Filter("t.status = CAST(:v AS event_status)"),
                 "category": Filter("t.category = :v")},
        member_kind="event", free_text=("description",),
    ),
    "staff": Collection(
        "staff", "staff", "home",
        {"name": "t.name", "role": "t.role", "availability": "t.availability", "grid_code": "g.code",
         "position_at": "t.position_at"},
        joins="LEFT JOIN grid g ON g.id = t.grid_id",
        filters={"grid": Filter("g.code = :v"), "role": Filter("t.role = CAST(:v AS staff_role)"),
                 "availability": Filter("t.availability = CAST(:v AS availability)")},
        member_kind="staff",
    ),
}

# Values the enum-typed filters accept, so a bad value is a 422 naming the choices, not a DB error.
ENUM_VALUES: dict[tuple[str, str], tuple[str, ...]] = {}


def scope_clause(c: Collection, scope: Scope) -> tuple[str | None, dict[str, object]]:
    """The territorial filter of a collection for ``scope`` (None: the whole county)."""
    if scope.everything:
        return None, {}
    if c.name == "divisions":
        return "t.id = ANY(:s_divisions)", {"s_divisions": list(scope.visible_divisions)}
    if c.name == "grids":
        return "t.id = ANY(:s_grids)", {"s_grids": list(scope.visible_grids)}
    clause, params = member_filter(scope, str(c.member_kind), "t")
    return clause.removeprefix(" AND "), params


def _feature_sql(c: Collection) -> str:
    props = ", ".join(f"'{k}', {v}" for k, v in c.properties.items())
    return (
        f"json_build_object('type', 'Feature', 'id', t.id,"
        f" 'geometry', ST_AsGeoJSON(t.{c.output or c.geometry}, {GEOJSON_DIGITS})::json,"
        f" 'properties', json_build_object('id', t.id, {props}))::text"
    )


def _masked(c: Collection, feature: str) -> str:
    """The serialised feature with its free-text properties masked (geo.privacy.pii.mask_free_text); most
    features have nothing to mask and are passed through without being parsed."""
    if not c.free_text or not has_personal_numbers(feature):
        return feature
    parsed = json.loads(feature)
    parsed["properties"] = mask_free_text_fields(parsed["properties"], c.free_text)
    return json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Page:
    features: list[str]  # serialised GeoJSON features
    next_after: int | None  # pass as ``after`` to get the next page, None at the end
    number_matched: int | None = None  # features matching the query on all pages (OGC API numberMatched)


def list_features(
    session: Session,
    collection: str,
    *,
    bbox: BBox | None = None,
    filters: dict[str, str] | None = None,
    limit: int = 100,
    after: int = 0,
    scope: Scope,
) -> Page:
    """One page of a collection in ``scope``, in id order, optionally inside ``bbox`` (WGS84)."""
    c = COLLECTIONS[collection]
    where = ["t.id > :after"]
    params: dict[str, object] = {"after": after, "limit": limit + 1}
    clause, scope_params = scope_clause(c, scope)
    if clause:
        where.append(clause)
        params.update(scope_params)
    if bbox is not None:
        where.append(f"t.{c.geometry} && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326)")
        params.update(minx=bbox[0], miny=bbox[1], maxx=bbox[2], maxy=bbox[3])
    for i, (key, value) in enumerate((filters or {}).items()):
        f = c.filters.get(key)
        if f is None:
            raise InvalidInput(f"unknown filter {key!r}; {collection} accept {sorted(c.filters)}", pointer=key)
        allowed = ENUM_VALUES.get((collection, key))
        if allowed and value not in allowed:
            raise InvalidInput(f"{key} must be one of {list(allowed)}, got {value!r}", pointer=key)
        where.append(f.sql.replace(":v", f":v{i}"))
        params[f"v{i}"] = value
    sql = (
        f"SELECT t.id, {_feature_sql(c)} FROM {c.table} t {c.joins}"
        f" WHERE {' AND '.join(where)} ORDER BY t.id LIMIT :limit"
    )
    rows = session.execute(text(sql), params).all()
    more = len(rows) > limit
    rows = rows[:limit]
    # The total over every page (without ``after``), so a client knows how many to expect; on the last
    # page it is known without a query. One count per page, not per collection: the data may change
    # between pages, and OGC API Features asks for the number matching this request.
    if not more and after == 0:
        matched = len(rows)
    else:
        # The joins only feed properties, unless a filter reads a joined table (layer, parent, group).
        joins = c.joins if any(not c.filters[k].sql.startswith("t.") for k in filters or {}) else ""
        matched = session.execute(text(f"SELECT count(*) FROM {c.table} t {joins} WHERE "
                                       + (" AND ".join(where[1:]) or "true")), params).scalar_one()
    return Page([_masked(c, r[1]) for r in rows], rows[-1][0] if more else None, matched)


def get_feature(session: Session, collection: str, feature_id: int, *, scope: Scope, unmasked: bool = False) -> str:
    """One feature as serialised GeoJSON, or NotFound — also when it lies outside ``scope``,
    so a caller cannot tell "outside your territory" from "does not exist". Free text is masked
    unless ``unmasked`` (granted by the route with pii:read and a purpose, audited)."""
    c = COLLECTIONS[collection]
    clause, params = scope_clause(c, scope)
    row = session.execute(
        text(f"SELECT {_feature_sql(c)} FROM {c.table} t {c.joins} WHERE t.id = :id"
             + (f" AND {clause}" if clause else "")),
        {"id": feature_id, **params},
    ).first()
    if row is None:
        raise NotFound(f"no {collection[:-1] if collection != 'staff' else 'staff member'} with id {feature_id}",
                       pointer="id")
    return row[0] if unmasked else _masked(c, row[0])


def _register_enum_values() -> None:
    from geo.models import Availability, DivisionLevel, EventStatus, StaffRole
    from geo.models.points import CameraStatus

    for key, enum in [(("divisions", "level"), DivisionLevel), (("cameras", "status"), CameraStatus),
                      (("events", "status"), EventStatus), (("staff", "role"), StaffRole),
                      (("staff", "availability"), Availability)]:
        ENUM_VALUES[key] = tuple(m.value for m in enum)


_register_enum_values()
