"""What each export holds: the rows of one kind, inside the caller's territory, read in chunks.

Each dataset is one SQL statement (geometry as WKB, fields already as text or numbers) read
through a server-side cursor, so a million households never sit in memory at once: the writers
get them ``CHUNK`` rows at a time. The field names are the ones the importers recognise by
default (``code``, ``name``, ``layer``, ``division_code``, ``parent_code`` …), so a file exported
here imports back with no field map. Geometry is the stored shape, exactly (WKB doubles), not the
7-decimal copy the GeoJSON API sends: a round trip must compare equal.

Territory comes from :func:`geo.spatial.features.scope_clause`, the same rule every list and
tile uses; free text (event descriptions and addresses) is masked as on every other surface.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope, member_filter
from geo.errors import InvalidInput
from geo.privacy.pii import mask_free_text
from geo.spatial.features import COLLECTIONS, ENUM_VALUES, scope_clause

CHUNK = 20_000  # rows per chunk: ~2-5 MB of Python objects for households, whatever the export's size


@dataclass(frozen=True)
class Column:
    name: str  # the field name in the file (what the importers recognise)
    sql: str  # expression over the dataset's aliases
    type: str = "str"  # "str", "int" or "float": the file's field type
    free_text: bool = False  # masked (ID and phone numbers) on the way out


@dataclass(frozen=True)
class Dataset:
    what: str
    table: str  # FROM ... t
    geometry: str  # SQL for the geometry column (WKB is taken of it)
    geometry_type: str  # "Point" or "MultiPolygon"
    columns: tuple[Column, ...]
    joins: str = ""
    collection: str | None = None  # geo.spatial.features collection whose territory rule applies
    filters: tuple[str, ...] = ()  # the filter names it accepts
    personal: bool = False  # personal data: pii:export, a purpose, an audit row
    # For GeoJSON and KML (text at 7 decimals): polygons from ``geom_out``, already snap-rounded to that grid
    # so that rounding cannot make them invalid (migration 0007). Points cannot become invalid.
    rounded: str | None = None


def _ts(expr: str) -> str:
    """A timestamp as ISO 8601 text with its UTC offset (Shapefile has no datetime type)."""
    return f"to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


C = Column
DATASETS: dict[str, Dataset] = {
    "divisions": Dataset(
        "divisions", "division", "t.geom", "MultiPolygon",
        (C("code", "t.code"), C("name", "t.name"), C("level", "t.level::text"), C("parent_code", "p.code")),
        joins="LEFT JOIN division p ON p.id = t.parent_id", collection="divisions",
        filters=("division", "level"), rounded="t.geom_out"),
    "grids": Dataset(
        "grids", "grid", "t.geom", "MultiPolygon",
        (C("code", "t.code"), C("name", "t.name"), C("layer", "l.code"), C("division_code", "d.code"),
         C("parent_code", "pg.code"), C("notes", "t.notes", free_text=True), C("version", "t.version", "int"),
         C("valid_from", _ts("t.valid_from"))),
        joins=("JOIN grid_layer l ON l.id = t.layer_id JOIN division d ON d.id = t.division_id"
               " LEFT JOIN grid pg ON pg.id = t.parent_grid_id"),
        collection="grids", filters=("layer", "division"), rounded="t.geom_out"),
    "households": Dataset(
        "households", "household", "t.geom", "Point",
        (C("id", "t.id", "int"), C("address", "t.address"), C("division_code", "d.code"),
         C("group_code", "g.code"), C("residents", "t.residents", "int"),
         C("needs_help", "array_to_string(t.needs_help::text[], ',')")),
        joins="JOIN division d ON d.id = t.division_id LEFT JOIN linked_household_group g ON g.id = t.group_id",
        collection="households", filters=("division", "grid")),
    "cameras": Dataset(
        "cameras", "camera", "t.geom", "Point",
        (C("code", "t.code"), C("name", "t.name"), C("bearing", "t.bearing", "float"), C("fov", "t.fov", "float"),
         C("range_m", "t.range_m", "float"), C("status", "t.status::text")),
        collection="cameras", filters=("division", "grid", "status")),
    "events": Dataset(
        "events", "event", "t.geom", "Point",
        (C("id", "t.id", "int"), C("category", "t.category"), C("status", "t.status::text"), C("source", "t.source"),
         C("description", "t.description", free_text=True), C("address", "t.address", free_text=True),
         C("reported_at", _ts("t.reported_at")), C("due_at", _ts("t.due_at")), C("closed_at", _ts("t.closed_at"))),
        collection="events", filters=("division", "grid", "status", "category", "since", "until")),
    "residents": Dataset(
        "residents", "resident", "h.geom", "Point",
        (C("id", "t.id", "int"), C("household_id", "t.household_id", "int"), C("address", "h.address"),
         C("division_code", "d.code"), C("name", "t.name"), C("id_number", "t.id_number"), C("phone", "t.phone")),
        joins="JOIN household h ON h.id = t.household_id JOIN division d ON d.id = h.division_id",
        filters=("division", "grid"), personal=True),
}
# The member kind (grid_membership.kind) of each point dataset, for the grid and division filters.
MEMBER_KIND = {"households": "household", "cameras": "camera", "events": "event", "residents": "household"}
# The entity that membership is looked up for: residents live in their household.
MEMBER_ALIAS = {"residents": "h"}


@dataclass(frozen=True)
class Filters:
    """An export's filters, already checked (see :func:`check_filters`)."""

    layer: str | None = None
    division: str | None = None
    grid: str | None = None
    status: str | None = None
    category: str | None = None
    level: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    layers: tuple[str, ...] = ()  # fusion: the layers compared

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, ())}


@dataclass
class Chunk:
    """Up to CHUNK rows: one list per column (in the dataset's order) and the geometries as WKB."""

    columns: dict[str, list[Any]]
    wkb: list[bytes | None]
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.wkb)


def check_filters(session: Session, what: str, filters: Filters) -> None:
    """Refuse a filter the dataset does not take, or a value that names nothing, before any work."""
    accepted = DATASETS[what].filters if what in DATASETS else ("division", "layers")
    for name in filters.given():
        if name not in accepted:
            raise InvalidInput(f"{what} exports do not take the filter {name!r}; they take {', '.join(accepted)}",
                               pointer=name)
    if filters.layer is not None and session.execute(
            text("SELECT 1 FROM grid_layer WHERE code = :c"), {"c": filters.layer}).first() is None:
        raise InvalidInput(f"no grid layer {filters.layer!r}", pointer="layer")
    if filters.division is not None and session.execute(
            text("SELECT 1 FROM division WHERE code = :c"), {"c": filters.division}).first() is None:
        raise InvalidInput(f"no division {filters.division!r}", pointer="division")
    if filters.grid is not None and session.execute(
            text("SELECT 1 FROM grid WHERE code = :c"), {"c": filters.grid}).first() is None:
        raise InvalidInput(f"no grid {filters.grid!r}", pointer="grid")
    for name, key in (("status", (what, "status")), ("level", ("divisions", "level"))):
        value, allowed = getattr(filters, name), ENUM_VALUES.get(key, ())
        if value is not None and value not in allowed:
            raise InvalidInput(f"{name} must be one of {', '.join(allowed)}, got {value!r}", pointer=name)
    if filters.category is not None and session.execute(
            text("SELECT 1 FROM event_category WHERE code = :c"), {"c": filters.category}).first() is None:
        raise InvalidInput(f"no event category {filters.category!r}", pointer="category")
    if filters.since and filters.until and filters.since >= filters.until:
        raise InvalidInput("since must be before until", pointer="since")


_SUBTREE = ("WITH RECURSIVE sub AS (SELECT id FROM division WHERE code = :division"
            " UNION ALL SELECT c.id FROM division c JOIN sub ON c.parent_id = sub.id) SELECT id FROM sub")


def _where(ds: Dataset, filters: Filters, scope: Scope) -> tuple[list[str], dict[str, Any]]:
    where: list[str] = []
    params: dict[str, Any] = {}
    if ds.collection is not None:
        clause, scope_params = scope_clause(COLLECTIONS[ds.collection], scope)
    else:  # residents: their household must be in the territory (row-level security checks it again)
        clause, scope_params = member_filter(scope, "household", "h")
        clause = clause.removeprefix(" AND ") or None
    if clause:
        where.append(clause)
        params.update(scope_params)
    kind, alias = MEMBER_KIND.get(ds.what), MEMBER_ALIAS.get(ds.what, "t")
    if filters.layer is not None:
        where.append("l.code = :layer")
        params["layer"] = filters.layer
    if filters.division is not None:
        params["division"] = filters.division
        if ds.what in ("divisions", "grids"):
            where.append(f"t.{'id' if ds.what == 'divisions' else 'division_id'} IN ({_SUBTREE})")
        elif ds.what in ("households", "residents"):
            where.append(f"{'h' if ds.what == 'residents' else 't'}.division_id IN ({_SUBTREE})")
        else:  # cameras and events have no division of their own: their comprehensive grid (which lies in one
            # village) says where they are; an emergency grid's division may be a neighbour's
            where.append(f"{alias}.id IN (SELECT m.entity_id FROM grid_membership m JOIN grid g ON g.id = m.grid_id"
                         " JOIN grid_layer gl ON gl.id = m.layer_id AND gl.code = 'comprehensive'"
                         f" WHERE m.kind = '{kind}' AND g.division_id IN ({_SUBTREE}))")
    if filters.grid is not None:
        where.append(f"{alias}.id IN (SELECT m.entity_id FROM grid_membership m JOIN grid g ON g.id = m.grid_id"
                     f" WHERE m.kind = '{kind}' AND g.code = :grid)")
        params["grid"] = filters.grid
    if filters.status is not None:
        where.append("t.status::text = :status")
        params["status"] = filters.status
    if filters.level is not None:
        where.append("t.level::text = :level")
        params["level"] = filters.level
    if filters.category is not None:  # the category and everything under it
        where.append("t.category IN (WITH RECURSIVE c AS (SELECT code FROM event_category WHERE code = :category"
                     " UNION ALL SELECT k.code FROM event_category k JOIN c ON k.parent_code = c.code)"
                     " SELECT code FROM c)")
        params["category"] = filters.category
    if filters.since is not None:
        where.append("t.reported_at >= :since")
        params["since"] = filters.since
    if filters.until is not None:
        where.append("t.reported_at < :until")
        params["until"] = filters.until
    return where, params


def statement(what: str, filters: Filters, scope: Scope, *, rounded: bool = False) -> tuple[str, dict[str, Any]]:
    """The one SELECT of an export: geometry as WKB first, then the columns, in id order."""
    ds = DATASETS[what]
    where, params = _where(ds, filters, scope)
    cols = ", ".join(f"{c.sql} AS {c.name}" for c in ds.columns)
    geometry = ds.rounded if rounded and ds.rounded else ds.geometry
    sql = (f"SELECT ST_AsBinary({geometry}) AS wkb, {cols} FROM {ds.table} t {ds.joins}"
           + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY t.id")
    return sql, params


def count(session: Session, what: str, filters: Filters, scope: Scope) -> int:
    """How many rows the export will hold (an XLSX sheet holds at most 1,048,575)."""
    sql, params = statement(what, filters, scope)
    return int(session.execute(text(f"SELECT count(*) FROM ({sql}) q"), params).scalar_one())


def chunks(session: Session, what: str, filters: Filters, scope: Scope, *, rounded: bool = False,
           size: int = CHUNK) -> Iterator[Chunk]:
    """The export's rows, ``size`` at a time, through a server-side cursor (psycopg2 named cursor)."""
    ds = DATASETS[what]
    sql, params = statement(what, filters, scope, rounded=rounded)
    masked = [c.name for c in ds.columns if c.free_text]
    # yield_per: a server-side cursor for this statement only (Connection.execution_options would change the
    # session's connection for every later statement, and an INSERT cannot run through a cursor).
    result = session.execute(text(sql), params, execution_options={"yield_per": size})
    try:
        for part in result.partitions(size):
            columns = {c.name: [row[i + 1] for row in part] for i, c in enumerate(ds.columns)}
            for name in masked:
                columns[name] = [mask_free_text(v) for v in columns[name]]
            yield Chunk(columns, [bytes(row[0]) if row[0] is not None else None for row in part])
    finally:
        result.close()
