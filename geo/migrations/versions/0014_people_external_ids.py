"""external ids on staff and household (TEMPORARY stand-in for imp-households' migration 0014)

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-01

The staff and residents importers match staff by a declared external id (or phone) and find a
resident's household by its external id (or address). imp-households owns the real migration 0014
adding these columns; this file stands in for it on the imp-people branch until that branch is merged,
and is deleted then (IF NOT EXISTS keeps either order harmless on a database that has one already).
"""
from alembic import op

revision = '0014'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE staff ADD COLUMN IF NOT EXISTS external_id text")
    op.execute("ALTER TABLE household ADD COLUMN IF NOT EXISTS external_id text")
    op.execute("CREATE INDEX IF NOT EXISTS ix_staff_external_id ON staff (external_id)")
    op.execute("CREATE INDEX IF NOT EXISTS ix_household_external_id ON household (external_id)")


def downgrade() -> None:
    op.execute("ALTER TABLE staff DROP COLUMN IF EXISTS external_id")
    op.execute("ALTER TABLE household DROP COLUMN IF EXISTS external_id")
