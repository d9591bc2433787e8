"""grid external id: the identifier another system gives a grid, for imports matched by it

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01

A county's grid file often carries its own stable identifier (an OBJECTID, a
platform's 网格编号) next to, or instead of, gridmap's 17-digit code. An import
matched by that identifier (``gridmap import grids --key ...``) must find the
grid again the next time, even when the file renumbers its codes; the code
itself is then a change that leaves lineage. Unique per layer where set: two
layers may come from systems that number alike.
"""
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE grid ADD COLUMN external_id text")
    op.execute("CREATE UNIQUE INDEX grid_layer_external_id ON grid (layer_id, external_id)"
               " WHERE external_id IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS grid_layer_external_id")
    op.execute("ALTER TABLE grid DROP COLUMN external_id")
