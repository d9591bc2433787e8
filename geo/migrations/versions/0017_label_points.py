"""label points: each grid and division keeps where its name goes and how wide the room there is

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02

The web map writes a grid's or a division's name at a point inside the shape and only at zooms where
the name fits (issue 14). The point is the centre of the maximum inscribed circle (ST_MaximumInscribedCircle:
the point farthest from the boundary, so a name drawn there stays inside a concave or L-shaped grid,
where a centroid may fall outside and ST_PointOnSurface may touch an edge), and the room is that circle's
diameter in metres. The circle is found in a local equirectangular plane (metres east and north of the
centroid, as geo/grids/rules.py measures widths; about 0.5 % off at these sizes), so a long east-west
grid at 26° N is not judged 10 % narrower than it is.

Stored, not computed per request: measured on the test district (548 comprehensive grids, 2,746 grids
of all layers, 157 divisions), the circles cost 238 ms for the comprehensive layer, 858 ms for every
grid and 104 ms for the divisions, against 8 ms, 23 ms and 5 ms to serialise those shapes as GeoJSON:
computed at read time they would make the map's grid requests 30 times slower. A trigger (not two
generated columns, which would find the circle twice) fills both columns on every write of ``geom``:
editing, undo, COPY loads and imports alike; a write pays about half a millisecond per shape (1.4 s for
the 2,746 grids, on a busy machine).

ST_PointOnSurface with its distance to the boundary as the room was the cheap alternative: 28 ms for
the point, but the room it leaves is a median 79 % of the circle's (5th percentile 43 %), so names would
sit off-centre and appear a zoom or two later, and the distance alone costs 140 ms per read of all grids.
"""
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

TABLES = ("grid", "division")

# The circle in a local plane: metres east and north of the centroid. In FROM, so it is found once: as an
# expression, (circle).center and (circle).radius each called it again (three circles per shape, 6.6 s
# instead of 1.4 s for 2,746 grids).
_LABEL_SQL = """
    SELECT ST_SetSRID(ST_MakePoint(ST_X(k.c) + ST_X(m.center) / k.kx, ST_Y(k.c) + ST_Y(m.center) / k.ky), 4326),
           2 * m.radius{into}
      FROM (SELECT c, 111320 * cos(radians(ST_Y(c))) AS kx, 110574.0 AS ky
              FROM (SELECT ST_Centroid({g}) AS c) c WHERE NOT ST_IsEmpty({g})) k,
           LATERAL ST_MaximumInscribedCircle(ST_Scale(ST_Translate({g}, -ST_X(k.c), -ST_Y(k.c)), k.kx, k.ky)) m"""

# gridmap_label(geom) for queries (the backfill, tests); not STRICT, so PostgreSQL can inline it into them.
# The trigger has the statement written out: PL/pgSQL keeps its plan for the session, where calling the SQL
# function planned its body again for every row (measured 4.3 s against 8.4 s for 2,746 inserted grids).
_FUNCTIONS = f"""
CREATE FUNCTION gridmap_label(g geometry, OUT point geometry, OUT size_m double precision)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $${_LABEL_SQL.format(into="", g="g")}
$$;

CREATE FUNCTION gridmap_set_label() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- no row (an empty shape): both NULL{_LABEL_SQL.format(into=" INTO NEW.label_point, NEW.label_size_m", g="NEW.geom")};
    RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.execute(_FUNCTIONS)
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN label_point geometry(Point, 4326),"
                   " ADD COLUMN label_size_m double precision")
        # Neither the name nor the shape changes: grid_version_bump keeps the version, no history is written.
        op.execute(f"UPDATE {table} t SET (label_point, label_size_m) = (SELECT l.point, l.size_m"
                   f" FROM gridmap_label(t.geom) l)")
        op.execute(f"CREATE TRIGGER {table}_label BEFORE INSERT OR UPDATE OF geom ON {table}"
                   " FOR EACH ROW EXECUTE FUNCTION gridmap_set_label()")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_label ON {table}")
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS label_point, DROP COLUMN IF EXISTS label_size_m")
    op.execute("DROP FUNCTION IF EXISTS gridmap_set_label(); DROP FUNCTION IF EXISTS gridmap_label(geometry)")
