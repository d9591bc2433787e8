"""output geometry: grids, their history and divisions keep a copy reduced to the GeoJSON grid

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

GeoJSON is sent at 7 decimals (about 1 cm). Rounding each vertex on its own
turned valid polygons into self-intersecting ones wherever two vertices lie
within a centimetre of an edge: 23 of Hechuan's 9,106 generated grids, one of
its 156 divisions; GDAL kept them invalid in every file made from the API.

``geom_out`` is the same shape snap-rounded to that grid by ST_ReducePrecision,
which keeps the result valid and keeps vertices that neighbours share shared
(they round alike). The API prints it at 7 decimals: the numbers read back
within one unit of the double's last place (GEOS divides by the scale), and
snap rounding keeps every vertex half a grid cell (5e-8°) away from the edges
not incident to it, so such a difference cannot make a ring cross itself.
What differs from ``geom`` lies within about a centimetre of its boundary (a
zero-width spike of a generated grid vanishes, a sub-centimetre neck may
split a part in two). A stored
generated column, not a function at output time: measured on Hechuan's 9,106
grids, ST_ReducePrecision in the SELECT raised the time to serialise them all
from 95 ms to 600 ms, while the column costs one reduction per write (every
path: editing, COPY loads, the history trigger) and nothing per read. Full
precision (15 decimals, exact too) was the other choice: 56 % more bytes
(7.9 → 12.3 MB) and 84 % more after gzip (1.4 → 2.6 MB). ``geom`` stays the
shape of record: areas, overlaps and point lookups are computed on it.
"""
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

TABLES = ("grid", "grid_version", "division")
REDUCED = "ST_Multi(ST_ReducePrecision(geom, 1e-7))"


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN geom_out geometry(Geometry, 4326)"
                   f" GENERATED ALWAYS AS ({REDUCED}) STORED")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN geom_out")
