"""leader role: county and township leaders 领导 read the statistics and the lists behind them

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02

A leader signs in to the statistics page (issue 15) and sees received, handled and on-time figures for
their own division, and every report behind a figure, read-only. It is a role of its own rather than a
viewer with more permissions so that the viewer (a map for anyone with an account) stays without
reports. ``ALTER TYPE … ADD VALUE`` cannot be undone in PostgreSQL; the downgrade removes the leaders'
accounts and rebuilds the type without the value.
"""
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TYPE user_role ADD VALUE IF NOT EXISTS 'leader'")


def downgrade() -> None:
    op.execute("DELETE FROM app_user WHERE role::text = 'leader'")
    op.execute("ALTER TYPE user_role RENAME TO user_role_old")
    op.execute("CREATE TYPE user_role AS ENUM ('admin', 'planner', 'grid_worker', 'grid_head', 'department',"
               " 'emergency', 'viewer', 'auditor')")
    op.execute("ALTER TABLE app_user ALTER COLUMN role TYPE user_role USING role::text::user_role")
    op.execute("DROP TYPE user_role_old")
