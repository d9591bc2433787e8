"""Vector tiles straight from PostGIS: ST_TileEnvelope → ST_AsMVTGeom → ST_AsMVT.

Values are always bound, never formatted into SQL; the source table comes from
a fixed map. Tiles let a desktop GIS (QGIS) or a vector-tile map client show a
whole county's grids at any zoom without downloading every polygon.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.scope import Scope
from geo.errors import InvalidInput, NotFound

MAX_ZOOM = 20


@dataclass(frozen=True)
class TileSource:
    sql: str  # SELECT id, geom and attributes; may use :layer
    layers: str  # SELECT the layer names this source has (a grid layer code, a division level)


SOURCES = {
    # The counties the tile touches come first (a few county rows), then each county's grids
    # through the (county_code, layer_id, geom) GiST index: every probe is county-local.
    "grids": TileSource(
        "SELECT g.id, g.code, g.name, l.code AS layer, g.geom FROM division c"
        " JOIN grid g ON g.county_code = c.county_code JOIN grid_layer l ON l.id = g.layer_id"
        " WHERE c.level = 'county' AND c.geom && ST_Transform(env.e, 4326) AND (:all OR c.county_code = ANY(:counties))"
        " AND l.code = :layer AND g.geom && ST_Transform(env.e, 4326) AND (:all OR g.id = ANY(:grids))",
        "SELECT code FROM grid_layer ORDER BY code",
    ),
    "divisions": TileSource(
        "SELECT d.id, d.code, d.name, d.level::text AS layer, d.geom FROM division c"
        " JOIN division d ON d.county_code = c.county_code"
        " WHERE c.level = 'county' AND c.geom && ST_Transform(env.e, 4326) AND (:all OR c.county_code = ANY(:counties))"
        " AND d.level::text = :layer AND d.geom && ST_Transform(env.e, 4326) AND (:all OR d.id = ANY(:divisions))",
        "SELECT unnest(enum_range(NULL::division_level))::text",
    ),
}


def check_layer(session: Session, source: str, layer: str) -> None:
    """404 for an unknown source or layer: an empty tile or a full TileJSON would hide a typo in a client's URL."""
    if source not in SOURCES:
        raise NotFound(f"no tile source {source!r}; choose from {sorted(SOURCES)}", pointer="source")
    layers = list(session.execute(text(SOURCES[source].layers)).scalars())
    if layer not in layers:
        raise NotFound(f"no {source} tile layer {layer!r}; choose from {layers}", pointer="layer")


def check_tile(z: int, x: int, y: int) -> None:
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInput(f"zoom must be within 0..{MAX_ZOOM}, got {z}", pointer="z")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise InvalidInput(f"tile {z}/{x}/{y} does not exist: x and y must be within 0..{n - 1}", pointer="x")


def render_tile(session: Session, source: str, layer: str, z: int, x: int, y: int, *, scope: Scope) -> bytes:
    """One MVT tile of ``layer`` (a grid layer code, or a division level) from ``source``, inside ``scope``."""
    check_layer(session, source, layer)
    check_tile(z, x, y)
    sql = f"""
        WITH env AS (SELECT ST_TileEnvelope(:z, :x, :y) AS e),
        src AS ({SOURCES[source].sql.replace('FROM ', 'FROM env, ', 1)}),
        mvt AS (
            SELECT src.id, src.code, src.name, src.layer,
                   ST_AsMVTGeom(ST_Transform(src.geom, 3857), env.e, 4096, 64, true) AS geom
              FROM src, env
        )
        SELECT ST_AsMVT(mvt, :name, 4096, 'geom', 'id') FROM mvt WHERE geom IS NOT NULL
    """
    params = {"z": z, "x": x, "y": y, "layer": layer, "name": layer, "all": scope.everything,
              "grids": list(scope.visible_grids), "divisions": list(scope.visible_divisions),
              "counties": list(scope.counties)}
    row = session.execute(text(sql), params).scalar_one()
    return bytes(row or b"")


def tilejson(session: Session, source: str, layer: str, base_url: str,
             bounds: tuple[float, float, float, float] | None) -> dict:
    """TileJSON 3.0 description of one tile layer."""
    check_layer(session, source, layer)
    doc = {
        "tilejson": "3.0.0",
        "name": f"{source}/{layer}",
        "tiles": [f"{base_url}/tiles/{source}/{layer}/{{z}}/{{x}}/{{y}}.mvt"],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
        "vector_layers": [{"id": layer, "fields": {"id": "Number", "code": "String", "name": "String",
                                                   "layer": "String"}}],
    }
    if bounds:
        doc["bounds"] = list(bounds)
    return doc
