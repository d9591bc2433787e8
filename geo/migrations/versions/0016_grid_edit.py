"""grid_edit: one row per applied grid edit, so a planner's last edit can be undone

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02

grid_version keeps every version of every grid and grid_lineage what became
of retired ones, but neither says which versions one edit wrote together: a
split writes two new grids and retires one, a retirement grows a neighbour and
retires the grid. Undo needs exactly that, so each edit leaves one row here
(geo/grids/edit_log.py), in the edit's own transaction: a refused edit or a
dry run (a rolled-back savepoint) leaves none.

``grids`` holds, for every grid the edit touched, its id, its code and its
version before and after: ``before`` null for a grid the edit created,
``after`` null for one it retired. ``grid_ids`` repeats the ids for the GIN
index that finds later edits of the same grids ("edited since by whom").
An undo is an edit too (operation ``undo``); ``undoes`` points to the edit it
reverts (unique: an edit is undone at most once, even by two requests at
once) and the reverted edit's ``undone_by`` points back.

``county_code`` is filled from the division like grid's (see 0011).
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

COUNTY_SQL = """
CREATE FUNCTION gridmap_county_grid_edit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A writer that set the county keeps it; an update that moves the row recomputes it.
    IF TG_OP = 'INSERT' AND NEW.county_code IS NOT NULL THEN
        RETURN NEW;
    END IF;
    NEW.county_code := (SELECT county_code FROM division WHERE id = NEW.division_id LIMIT 1);
    RETURN NEW;
END $$;
CREATE TRIGGER gridmap_county BEFORE INSERT OR UPDATE OF division_id ON grid_edit
    FOR EACH ROW EXECUTE FUNCTION gridmap_county_grid_edit();
"""


def upgrade() -> None:
    op.create_table(
        'grid_edit',
        sa.Column('id', sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column('county_code', sa.String(length=6), nullable=False),
        sa.Column('division_id', sa.Integer(), nullable=False),
        sa.Column('layer_id', sa.Integer(), sa.ForeignKey('grid_layer.id'), nullable=False),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('app_user.id', ondelete='SET NULL'), nullable=True),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('operation', sa.String(length=16), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False, server_default=''),
        sa.Column('grids', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('grid_ids', postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column('undoes', sa.Integer(), sa.ForeignKey('grid_edit.id'), nullable=True, unique=True),
        sa.Column('undone_by', sa.Integer(), sa.ForeignKey('grid_edit.id'), nullable=True),
        sa.CheckConstraint("county_code ~ '^[0-9]{6}$'", name='grid_edit_county_code_6_digits'),
        sa.CheckConstraint("jsonb_typeof(grids) = 'array'", name='grid_edit_grids_array'),
    )
    op.create_index('ix_grid_edit_actor', 'grid_edit', ['actor', 'id'])
    op.create_index('ix_grid_edit_county', 'grid_edit', ['county_code', 'id'])
    op.create_index('ix_grid_edit_grid_ids', 'grid_edit', ['grid_ids'], postgresql_using='gin')
    op.execute(COUNTY_SQL)
    # Covered by the default privileges of 0002; said explicitly for databases migrated by another owner.
    op.execute("""
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridmap_app') THEN
            EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON grid_edit TO gridmap_app';
            EXECUTE 'GRANT USAGE, SELECT ON SEQUENCE grid_edit_id_seq TO gridmap_app';
        END IF;
    END $$;""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS gridmap_county ON grid_edit")
    op.execute("DROP FUNCTION IF EXISTS gridmap_county_grid_edit()")
    op.drop_table('grid_edit')
