"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23

Besides the tables: the grid_history trigger, which makes history impossible
to bypass, and the five standard grid layers (rows, so a county can add more).
"""
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_geospatial_table('camera',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('bearing', sa.Float(), nullable=False),
    sa.Column('fov', sa.Float(), nullable=False),
    sa.Column('range_m', sa.Float(), nullable=False),
    sa.Column('status', sa.Enum('online', 'offline', 'maintenance', name='camera_status'), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint('bearing >= 0 AND bearing < 360', name='camera_bearing_range'),
    sa.CheckConstraint('fov > 0 AND fov <= 360', name='camera_fov_range'),
    sa.CheckConstraint('range_m > 0', name='camera_range_positive'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_geospatial_index('idx_camera_geom', 'camera', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_table('division',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('level', sa.Enum('county', 'township', 'village', name='division_level'), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("code ~ '^[0-9]{12}$'", name='division_code_12_digits'),
    sa.ForeignKeyConstraint(['parent_id'], ['division.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_geospatial_index('idx_division_geom', 'division', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_division_parent_id'), 'division', ['parent_id'], unique=False)
    op.create_geospatial_table('event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('description', sa.String(), nullable=False),
    sa.Column('status', sa.Enum('reported', 'screened', 'rejected', 'assigned', 'in_progress', 'escalated', 'feedback', 'closed', name='event_status'), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('media_url', sa.String(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_geospatial_index('idx_event_geom', 'event', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_event_category'), 'event', ['category'], unique=False)
    op.create_index(op.f('ix_event_reported_at'), 'event', ['reported_at'], unique=False)
    op.create_index(op.f('ix_event_status'), 'event', ['status'], unique=False)
    op.create_table('grid_layer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('code_prefix', sa.String(length=2), nullable=False),
    sa.Column('allow_overlap', sa.Boolean(), nullable=False),
    sa.Column('full_cover', sa.Boolean(), nullable=False),
    sa.Column('parent_layer_id', sa.Integer(), nullable=True),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('color', sa.String(length=7), nullable=False),
    sa.Column('description', sa.String(), nullable=False),
    sa.CheckConstraint("code_prefix ~ '^[0-9]{2}$'", name='grid_layer_prefix_2_digits'),
    sa.ForeignKeyConstraint(['parent_layer_id'], ['grid_layer.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code'),
    sa.UniqueConstraint('code_prefix')
    )
    op.create_geospatial_table('grid',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=17), nullable=False),
    sa.Column('layer_id', sa.Integer(), nullable=False),
    sa.Column('division_id', sa.Integer(), nullable=False),
    sa.Column('parent_grid_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('notes', sa.String(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("code ~ '^[0-9]{17}$'", name='grid_code_17_digits'),
    sa.CheckConstraint('ST_IsPolygonCCW(geom)', name='grid_geom_ccw'),
    sa.CheckConstraint('ST_IsValid(geom) AND NOT ST_IsEmpty(geom)', name='grid_geom_valid'),
    sa.CheckConstraint('version >= 1', name='grid_version_positive'),
    sa.ForeignKeyConstraint(['division_id'], ['division.id'], ),
    sa.ForeignKeyConstraint(['layer_id'], ['grid_layer.id'], ),
    sa.ForeignKeyConstraint(['parent_grid_id'], ['grid.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_geospatial_index('idx_grid_geom', 'grid', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_grid_division_id'), 'grid', ['division_id'], unique=False)
    op.create_index(op.f('ix_grid_layer_id'), 'grid', ['layer_id'], unique=False)
    op.create_index(op.f('ix_grid_parent_grid_id'), 'grid', ['parent_grid_id'], unique=False)
    op.create_table('grid_code_counter',
    sa.Column('division_id', sa.Integer(), nullable=False),
    sa.Column('layer_id', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['division_id'], ['division.id'], ),
    sa.ForeignKeyConstraint(['layer_id'], ['grid_layer.id'], ),
    sa.PrimaryKeyConstraint('division_id', 'layer_id')
    )
    op.create_table('linked_household_group',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=24), nullable=False),
    sa.Column('division_id', sa.Integer(), nullable=False),
    sa.Column('head_household_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['division_id'], ['division.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_index(op.f('ix_linked_household_group_division_id'), 'linked_household_group', ['division_id'], unique=False)
    op.create_table('grid_membership',
    sa.Column('kind', sa.Enum('household', 'camera', 'event', 'staff', name='member_kind'), nullable=False),
    sa.Column('entity_id', sa.BigInteger(), nullable=False),
    sa.Column('layer_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'entity_id', 'layer_id')
    )
    op.create_index('grid_membership_grid_kind', 'grid_membership', ['grid_id', 'kind'], unique=False)
    op.create_geospatial_table('grid_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=17), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('layer_id', sa.Integer(), nullable=False),
    sa.Column('division_id', sa.Integer(), nullable=False),
    sa.Column('parent_grid_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('author', sa.String(), nullable=False),
    sa.Column('reason', sa.String(), nullable=False),
    sa.ForeignKeyConstraint(['division_id'], ['division.id'], ),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['layer_id'], ['grid_layer.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('grid_id', 'version')
    )
    op.create_geospatial_index('idx_grid_version_geom', 'grid_version', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_grid_version_grid_id'), 'grid_version', ['grid_id'], unique=False)
    op.create_geospatial_table('household',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(), nullable=False),
    sa.Column('division_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('residents', sa.Integer(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint('residents >= 0', name='household_residents_nonnegative'),
    sa.ForeignKeyConstraint(['division_id'], ['division.id'], ),
    sa.ForeignKeyConstraint(['group_id'], ['linked_household_group.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_geospatial_index('idx_household_geom', 'household', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_household_address'), 'household', ['address'], unique=False)
    op.create_index(op.f('ix_household_division_id'), 'household', ['division_id'], unique=False)
    op.create_index(op.f('ix_household_group_id'), 'household', ['group_id'], unique=False)
    op.create_geospatial_table('staff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('role', sa.Enum('grid_head', 'grid_worker', 'grid_assistant', 'grid_instructor', 'emergency_team', 'department', name='staff_role'), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('division_id', sa.Integer(), nullable=True),
    sa.Column('availability', sa.Enum('available', 'on_duty', 'busy', 'off_duty', 'out_of_service', name='availability'), nullable=False),
    sa.Column('home', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('position', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('position_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['division_id'], ['division.id'], ),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_geospatial_index('idx_staff_home', 'staff', ['home'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_index('idx_staff_position', 'staff', ['position'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_staff_division_id'), 'staff', ['division_id'], unique=False)
    op.create_index(op.f('ix_staff_grid_id'), 'staff', ['grid_id'], unique=False)
    op.create_index(op.f('ix_staff_role'), 'staff', ['role'], unique=False)
    op.create_table('resident',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('id_number', sa.String(length=18), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_resident_household_id'), 'resident', ['household_id'], unique=False)

    op.execute(GRID_HISTORY_SQL)
    _seed_layers()

def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS grid_history_after ON grid; DROP TRIGGER IF EXISTS grid_version_bump ON grid;"
               " DROP FUNCTION IF EXISTS grid_history(); DROP FUNCTION IF EXISTS grid_version_bump();")
    op.drop_index(op.f('ix_resident_household_id'), table_name='resident')
    op.drop_table('resident')
    op.drop_index(op.f('ix_staff_role'), table_name='staff')
    op.drop_index(op.f('ix_staff_grid_id'), table_name='staff')
    op.drop_index(op.f('ix_staff_division_id'), table_name='staff')
    op.drop_geospatial_index('idx_staff_position', table_name='staff', postgresql_using='gist', column_name='position')
    op.drop_geospatial_index('idx_staff_home', table_name='staff', postgresql_using='gist', column_name='home')
    op.drop_geospatial_table('staff')
    op.drop_index(op.f('ix_household_group_id'), table_name='household')
    op.drop_index(op.f('ix_household_division_id'), table_name='household')
    op.drop_index(op.f('ix_household_address'), table_name='household')
    op.drop_geospatial_index('idx_household_geom', table_name='household', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('household')
    op.drop_index(op.f('ix_grid_version_grid_id'), table_name='grid_version')
    op.drop_geospatial_index('idx_grid_version_geom', table_name='grid_version', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('grid_version')
    op.drop_index('grid_membership_grid_kind', table_name='grid_membership')
    op.drop_table('grid_membership')
    op.drop_index(op.f('ix_linked_household_group_division_id'), table_name='linked_household_group')
    op.drop_table('linked_household_group')
    op.drop_table('grid_code_counter')
    op.drop_index(op.f('ix_grid_parent_grid_id'), table_name='grid')
    op.drop_index(op.f('ix_grid_layer_id'), table_name='grid')
    op.drop_index(op.f('ix_grid_division_id'), table_name='grid')
    op.drop_geospatial_index('idx_grid_geom', table_name='grid', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('grid')
    op.drop_table('grid_layer')
    op.drop_index(op.f('ix_event_status'), table_name='event')
    op.drop_index(op.f('ix_event_reported_at'), table_name='event')
    op.drop_index(op.f('ix_event_category'), table_name='event')
    op.drop_geospatial_index('idx_event_geom', table_name='event', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('event')
    op.drop_index(op.f('ix_division_parent_id'), table_name='division')
    op.drop_geospatial_index('idx_division_geom', table_name='division', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('division')
    op.drop_geospatial_index('idx_camera_geom', table_name='camera', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('camera')


# Every insert or real change of a grid bumps its version and appends a row to
# grid_version, closing the previous row's validity period. Author and reason
# come from the transaction-local settings gridmap.actor / gridmap.reason
# (set_config(..., true)), which services set before they write.
GRID_HISTORY_SQL = """
CREATE FUNCTION grid_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF ST_AsBinary(NEW.geom) = ST_AsBinary(OLD.geom)
       AND NEW.name = OLD.name AND NEW.notes = OLD.notes
       AND NEW.layer_id = OLD.layer_id AND NEW.division_id = OLD.division_id
       AND NEW.parent_grid_id IS NOT DISTINCT FROM OLD.parent_grid_id THEN
        RETURN NEW;  -- nothing that history records has changed
    END IF;
    NEW.version := OLD.version + 1;
    NEW.valid_from := now();
    RETURN NEW;
END $$;

CREATE FUNCTION grid_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.version = OLD.version THEN
            RETURN NULL;
        END IF;
        UPDATE grid_version SET valid_to = NEW.valid_from
         WHERE grid_id = OLD.id AND valid_to IS NULL;
    END IF;
    INSERT INTO grid_version (grid_id, code, version, layer_id, division_id, parent_grid_id,
                              name, geom, valid_from, valid_to, author, reason)
    VALUES (NEW.id, NEW.code, NEW.version, NEW.layer_id, NEW.division_id, NEW.parent_grid_id,
            NEW.name, NEW.geom, NEW.valid_from, NULL,
            coalesce(current_setting('gridmap.actor', true), ''),
            coalesce(current_setting('gridmap.reason', true), ''));
    RETURN NULL;
END $$;

CREATE TRIGGER grid_version_bump BEFORE UPDATE ON grid
    FOR EACH ROW EXECUTE FUNCTION grid_version_bump();
CREATE TRIGGER grid_history_after AFTER INSERT OR UPDATE ON grid
    FOR EACH ROW EXECUTE FUNCTION grid_history();
"""

STANDARD_LAYERS = [
    # code, name, prefix, allow_overlap, full_cover, parent, order, colour, description
    ("comprehensive", "综合网格", "01", False, True, None, 1, "#2b8cbe",
     "The base net: every place belongs to exactly one comprehensive grid."),
    ("party", "党建网格", "02", False, True, None, 2, "#cb181d",
     "One party branch per grid (1+1+N); should coincide with whole comprehensive grids (双网合一)."),
    ("emergency", "应急网格", "03", False, True, None, 3, "#ff7f00",
     "Coarser grids for disaster and emergency response."),
    ("dedicated", "专属网格", "04", True, False, None, 4, "#6a3d9a",
     "A school, hospital, market or industrial park; covers only its own site."),
    ("micro", "微网格", "05", False, False, "comprehensive", 5, "#33a02c",
     "10–15 households (十联户) inside one comprehensive grid."),
]


def _seed_layers() -> None:
    layer = sa.table(
        "grid_layer",
        *(sa.column(c) for c in ("code", "name", "code_prefix", "allow_overlap", "full_cover",
                                 "parent_layer_id", "sort_order", "color", "description")),
    )
    for code, name, prefix, overlap, cover, parent, order, color, desc in STANDARD_LAYERS:
        parent_id = (
            sa.select(sa.column("id")).select_from(sa.table("grid_layer")).where(sa.column("code") == parent)
            .scalar_subquery() if parent else None
        )
        op.execute(layer.insert().values(
            code=code, name=name, code_prefix=prefix, allow_overlap=overlap, full_cover=cover,
            parent_layer_id=parent_id, sort_order=order, color=color, description=desc,
        ))
