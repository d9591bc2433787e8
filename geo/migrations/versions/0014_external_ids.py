"""external ids: the office's own identifier of a household and of a staff member

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01

A county's household register and staff list come with their own ids (户编号, 人员编号). An
import matches rows to stored records by that id, never by position in the file, so applying the
same file twice changes nothing (issue 13). Nullable: the demo and records entered by hand have
none; unique where set, by a partial index, so any number of records may lack one. Text, not a
number: offices use codes with letters and leading zeros ("HX-000123").
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

TABLES = ("household", "staff")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column('external_id', sa.String(64), nullable=True))
        op.create_index(f'ix_{table}_external_id', table, ['external_id'], unique=True,
                        postgresql_where=sa.text('external_id IS NOT NULL'))


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f'ix_{table}_external_id', table_name=table)
        op.drop_column(table, 'external_id')
