"""Label points (migration 0017): every grid and division says where its name goes and how much room is there."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session


def _all(client: TestClient, url: str, **params: object) -> list[dict]:
    features, after = [], 0
    while True:
        r = client.get(url, params={**params, "limit": 1000, "after": after})
        assert r.status_code == 200, r.text
        body = r.json()
        features += body["features"]
        if len(body["features"]) < 1000:
            return features
        after = body["features"][-1]["id"]


def _circles_inside(session: Session, table: str, features: list[dict]) -> tuple[int, int]:
    """How many of the features' label circles (the point, the room as diameter, shrunk by 2 % for the
    circle's own tolerance and the plane's approximation) lie inside the stored shape, and how many there are."""
    ids = [f["id"] for f in features]
    xs = [f["properties"]["label_lon"] for f in features]
    ys = [f["properties"]["label_lat"] for f in features]
    rs = [f["properties"]["label_size_m"] / 2 * 0.98 for f in features]
    inside = session.execute(text(f"""
        SELECT count(*) FROM unnest(CAST(:ids AS bigint[]), CAST(:xs AS float8[]), CAST(:ys AS float8[]),
                                    CAST(:rs AS float8[])) s(id, x, y, r)
          JOIN {table} t ON t.id = s.id
         WHERE ST_Covers(t.geom, ST_Buffer(ST_SetSRID(ST_MakePoint(s.x, s.y), 4326)::geography, s.r, 16)::geometry)
    """), {"ids": ids, "xs": xs, "ys": ys, "rs": rs}).scalar_one()
    return inside, len(features)


def test_every_grid_has_a_label_circle_inside_it(client: TestClient, session: Session) -> None:
    grids = _all(client, "/grids", layer="comprehensive")
    assert len(grids) == 548
    assert all(f["properties"]["label_size_m"] > 0 for f in grids)
    inside, total = _circles_inside(session, "grid", grids)
    assert inside == total


def test_every_division_has_a_label_circle_inside_it(client: TestClient, session: Session) -> None:
    divisions = _all(client, "/divisions")
    levels = {f["properties"]["level"] for f in divisions}
    assert {"county", "township", "village"} <= levels
    inside, total = _circles_inside(session, "division", divisions)
    assert inside == total
    # The room grows with the level: a township's name has more space than its villages'.
    size = {lvl: max(f["properties"]["label_size_m"] for f in divisions if f["properties"]["level"] == lvl)
            for lvl in levels}
    assert size["county"] > size["township"] > size["village"]


def test_the_room_is_in_metres(client: TestClient, session: Session) -> None:
    """The diameter is metres on the ground: it is at most the shape's narrower extent in metres, and more
    than a third of it for these compact generated grids (degrees would be 10,000 times smaller)."""
    f = _all(client, "/grids", layer="comprehensive")[0]
    width, height = session.execute(text("""
        SELECT ST_Distance(ST_SetSRID(ST_MakePoint(ST_XMin(g), ST_YMin(g)), 4326)::geography,
                           ST_SetSRID(ST_MakePoint(ST_XMax(g), ST_YMin(g)), 4326)::geography),
               ST_Distance(ST_SetSRID(ST_MakePoint(ST_XMin(g), ST_YMin(g)), 4326)::geography,
                           ST_SetSRID(ST_MakePoint(ST_XMin(g), ST_YMax(g)), 4326)::geography)
          FROM (SELECT geom::box2d::geometry AS g FROM grid WHERE id = :i) s"""), {"i": f["id"]}).one()
    size = f["properties"]["label_size_m"]
    assert min(width, height) / 8 < size <= min(width, height) * 1.01


def test_a_concave_shape_gets_its_label_inside_where_the_centroid_is_not(session: Session) -> None:
    """A U-shaped grid: its centroid lies in the notch, outside; the label point does not."""
    u = ("SRID=4326;POLYGON((106.60 26.40, 106.63 26.40, 106.63 26.43, 106.62 26.43, 106.62 26.41,"
         " 106.61 26.41, 106.61 26.43, 106.60 26.43, 106.60 26.40))")
    row = session.execute(text("""
        SELECT ST_Covers(g, ST_Centroid(g)) AS centroid_inside, ST_Covers(g, l.point) AS label_inside,
               l.size_m, ST_Distance(l.point::geography, ST_Boundary(g)::geography) AS clearance
          FROM (SELECT ST_GeomFromEWKT(:u) AS g) s, gridmap_label(s.g) l"""), {"u": u}).one()
    assert not row.centroid_inside and row.label_inside
    # The circle touches the boundary: the room is twice the point's clearance (within the circle's tolerance).
    assert abs(row.size_m - 2 * row.clearance) < 0.01 * row.size_m


def test_a_reshaped_grid_gets_a_new_label(session: Session) -> None:
    """The trigger follows every write of the shape, whatever path writes it."""
    gid, before = session.execute(text(
        "SELECT id, label_point FROM grid WHERE layer_id = (SELECT id FROM grid_layer WHERE code = 'comprehensive')"
        " ORDER BY code LIMIT 1")).one()
    session.execute(text("SET LOCAL gridmap.reason = 'test'"))
    session.execute(text("UPDATE grid SET geom = ST_ForcePolygonCCW(ST_Multi("
                         "ST_Buffer(ST_PointOnSurface(geom)::geography, 50)::geometry))"
                         " WHERE id = :i"), {"i": gid})
    moved, size, inside = session.execute(text(
        "SELECT NOT ST_Equals(label_point, :b), label_size_m, ST_Covers(geom, label_point) FROM grid WHERE id = :i"),
        {"i": gid, "b": before}).one()
    assert moved and inside and 95 < size < 101  # a 50 m disc: about 100 m of room
