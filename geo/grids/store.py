"""Reading grids and layers: details and the counts a grid worker asks for."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFound
from geo.models.events import NOT_OPEN_SQL


def list_layers(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        text(
            "SELECT l.code, l.name, l.code_prefix, l.allow_overlap, l.full_cover, p.code AS parent_layer,"
            " l.color, l.description, (SELECT count(*) FROM grid g WHERE g.layer_id = l.id) AS grids"
            " FROM grid_layer l LEFT JOIN grid_layer p ON p.id = l.parent_layer_id ORDER BY l.sort_order, l.id"
        )
    ).mappings()
    return [dict(r) for r in rows]


def get_layer(session: Session, code: str) -> dict[str, Any]:
    for layer in list_layers(session):
        if layer["code"] == code:
            return layer
    raise NotFound(f"no grid layer with code {code!r}", pointer="code")


def grid_counts(session: Session, grid_id: int) -> dict[str, int]:
    """What lies inside a grid, read from the membership index, never a spatial scan."""
    row = session.execute(
        text(
            f"""
            SELECT
              count(*) FILTER (WHERE m.kind = 'household') AS households,
              coalesce(sum(h.residents), 0) AS residents,
              count(*) FILTER (WHERE m.kind = 'camera') AS cameras,
              count(*) FILTER (WHERE m.kind = 'event' AND e.status::text NOT IN {NOT_OPEN_SQL}) AS open_events,
              count(*) FILTER (WHERE m.kind = 'staff') AS staff
            FROM grid_membership m
            LEFT JOIN household h ON m.kind = 'household' AND h.id = m.entity_id
            LEFT JOIN event e ON m.kind = 'event' AND e.id = m.entity_id
            WHERE m.grid_id = :id
            """
        ),
        {"id": grid_id},
    ).mappings().one()
    return {k: int(v) for k, v in row.items()}


def county_extent(session: Session) -> tuple[float, float, float, float] | None:
    """Bounding box of the loaded county (WGS84), or None when nothing is loaded."""
    row = session.execute(
        text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM"
             " (SELECT ST_Extent(geom) AS e FROM division WHERE level = 'county') s")
    ).first()
    if row is None or row[0] is None:
        return None
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def territory_bbox(session: Session, user: Any) -> list[float] | None:
    """[minlon, minlat, maxlon, maxlat] of a user's jurisdiction (the county when it has none)."""
    if user.grid_id is not None:
        sql, params = "SELECT ST_Extent(geom) FROM grid WHERE id = :i", {"i": user.grid_id}
    elif user.division_id is not None:
        sql, params = "SELECT ST_Extent(geom) FROM division WHERE id = :i", {"i": user.division_id}
    else:
        sql, params = "SELECT ST_Extent(geom) FROM division WHERE level = 'county'", {}
    box = session.execute(text(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ({sql}) s(e)"),
                          params).first()
    return [float(v) for v in box] if box and box[0] is not None else None
