"""access control: users, audit log, row-level security, the application role

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

The server connects as gridmap_app (created by `gridmap db up`, or by the DBA
for an external database): it owns nothing, cannot bypass row-level security,
and may only INSERT and SELECT the audit log. Personal-data tables (resident,
event_contact) carry RLS policies keyed on the per-request scope that the API
sets with set_config(..., true), so a bug in an application filter still
cannot leak another village's residents.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_secret',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('purpose', sa.String(length=200), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('client', sa.String(length=64), nullable=True),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)
    op.create_index(op.f('ix_audit_log_entity'), 'audit_log', ['entity'], unique=False)
    op.create_index(op.f('ix_audit_log_user_id'), 'audit_log', ['user_id'], unique=False)
    op.create_table('event_contact',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(), nullable=False),
    sa.Column('password_hash', sa.String(), nullable=False),
    sa.Column('role', sa.Enum('admin', 'planner', 'grid_worker', 'grid_head', 'department', 'emergency', 'viewer', 'auditor', name='user_role'), nullable=False),
    sa.Column('division_id', sa.Integer(), nullable=True),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('token_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('division_id IS NULL OR grid_id IS NULL', name='app_user_one_jurisdiction'),
    sa.ForeignKeyConstraint(['division_id'], ['division.id'], ),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.execute(APPEND_ONLY_SQL)
    op.execute(SECRET_SQL)
    op.execute(RLS_SQL)
    op.execute(GRANTS_SQL)


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS resident_scope ON resident; DROP POLICY IF EXISTS event_contact_scope ON event_contact;"
               " ALTER TABLE resident DISABLE ROW LEVEL SECURITY;"
               " DROP FUNCTION IF EXISTS gridmap_in_scope(member_kind, bigint);")
    op.drop_table('app_user')
    op.drop_table('event_contact')
    op.drop_index(op.f('ix_audit_log_user_id'), table_name='audit_log')
    op.drop_index(op.f('ix_audit_log_entity'), table_name='audit_log')
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_table('app_secret')


APPEND_ONLY_SQL = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""

# 244 random bits from the server's CSPRNG (gen_random_uuid), no extension needed.
SECRET_SQL = """
INSERT INTO app_secret (name, value)
VALUES ('token_signing_key', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''))
ON CONFLICT (name) DO NOTHING;
"""

# The request's scope: gridmap.scope_all = 'on' (whole county), or the grids of one
# layer (gridmap.scope_layer, gridmap.scope_grids = '{1,2,3}'). With nothing set, a
# connection of the application role sees no personal data at all.
RLS_SQL = """
CREATE FUNCTION gridmap_in_scope(k member_kind, entity bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('gridmap.scope_all', true), '') = 'on'
        OR EXISTS (
            SELECT 1 FROM grid_membership m
             WHERE m.kind = k AND m.entity_id = entity
               AND m.layer_id = nullif(current_setting('gridmap.scope_layer', true), '')::int
               AND m.grid_id = ANY (coalesce(nullif(current_setting('gridmap.scope_grids', true), ''), '{}')::int[]))
$$;
ALTER TABLE resident ENABLE ROW LEVEL SECURITY;
CREATE POLICY resident_scope ON resident FOR ALL
    USING (gridmap_in_scope('household', household_id))
    WITH CHECK (gridmap_in_scope('household', household_id));
ALTER TABLE event_contact ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_contact_scope ON event_contact FOR ALL
    USING (gridmap_in_scope('event', event_id))
    WITH CHECK (gridmap_in_scope('event', event_id));
"""

GRANTS_SQL = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridmap_app') THEN
        RAISE NOTICE 'role gridmap_app does not exist: create it (LOGIN NOBYPASSRLS) and re-grant';
        RETURN;
    END IF;
    EXECUTE 'GRANT USAGE ON SCHEMA public TO gridmap_app';
    EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO gridmap_app';
    EXECUTE 'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO gridmap_app';
    EXECUTE 'REVOKE INSERT, UPDATE, DELETE ON alembic_version, app_secret, spatial_ref_sys FROM gridmap_app';
    EXECUTE 'REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM gridmap_app';
    EXECUTE 'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO gridmap_app';
    EXECUTE 'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO gridmap_app';
END $$;
"""
