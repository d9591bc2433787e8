"""grid editing: lineage, retirement keeps history

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

A retired grid leaves the grid table (so every current-state query stays
simple) and its history stays in grid_version: the foreign key goes, and a
trigger closes the last version's validity period on DELETE.
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('grid_lineage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('operation', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('author', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_grid_lineage_child_id'), 'grid_lineage', ['child_id'], unique=False)
    op.create_index(op.f('ix_grid_lineage_parent_id'), 'grid_lineage', ['parent_id'], unique=False)
    op.drop_constraint(op.f('grid_version_grid_id_fkey'), 'grid_version', type_='foreignkey')
    op.execute(RETIRE_SQL)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS grid_retired ON grid; DROP FUNCTION IF EXISTS grid_retired();")
    op.create_foreign_key(op.f('grid_version_grid_id_fkey'), 'grid_version', 'grid', ['grid_id'], ['id'], ondelete='RESTRICT')
    op.drop_index(op.f('ix_grid_lineage_parent_id'), table_name='grid_lineage')
    op.drop_index(op.f('ix_grid_lineage_child_id'), table_name='grid_lineage')
    op.drop_table('grid_lineage')


RETIRE_SQL = """
CREATE FUNCTION grid_retired() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE grid_version SET valid_to = now() WHERE grid_id = OLD.id AND valid_to IS NULL;
    RETURN OLD;
END $$;
CREATE TRIGGER grid_retired AFTER DELETE ON grid FOR EACH ROW EXECUTE FUNCTION grid_retired();
"""
