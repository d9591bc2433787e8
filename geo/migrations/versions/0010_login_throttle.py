"""login throttle (failed sign-ins per key) and data_change (what changed, for cached reports)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

Replaces the per-account hard lock (app_user.failed_logins / locked_until, no
longer read) with growing delays per (account, address), per address and per
account, kept here so that they hold across ``--workers N`` (geo/access/login_throttle.py).
Keys are SHA-256 digests: a username typed into the wrong field (often a
password) is never stored in clear.

data_change: a statement-level trigger on household, division, fusion_rule and
grid_layer stamps the table's row with a fresh sequence value, so
geo/changes.py can tell "nothing changed" with an index lookup instead of
counting 100,000 households (66 ms) on every cached fusion request. A sequence,
not a counter: its values are never reused, even by rolled-back transactions,
so a stamp never comes back. One row update per statement: households change
rarely (registrations, not reports), so there is no hot row to contend on.
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'login_throttle',
        sa.Column('key', sa.Text(), primary_key=True),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('pair', 'address', 'account', 'known')", name='login_throttle_kind'),
    )
    op.create_index('ix_login_throttle_last_seen', 'login_throttle', ['last_seen'])
    # gridmap_app gets read/write through the default privileges set in 0002.
    op.execute(CHANGE_SQL)


CHANGED_TABLES = ("household", "division", "fusion_rule", "grid_layer")
CHANGE_SQL = """
CREATE SEQUENCE data_change_seq;
CREATE TABLE data_change (name text PRIMARY KEY, stamp bigint NOT NULL);
CREATE FUNCTION gridmap_data_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO data_change (name, stamp) VALUES (TG_TABLE_NAME, nextval('data_change_seq'))
    ON CONFLICT (name) DO UPDATE SET stamp = EXCLUDED.stamp;
    RETURN NULL;
END $$;
""" + "".join(f"""
CREATE TRIGGER {t}_data_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t}
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_data_changed();
""" for t in CHANGED_TABLES)


def downgrade() -> None:
    for t in CHANGED_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {t}_data_changed ON {t}")
    op.execute("DROP FUNCTION IF EXISTS gridmap_data_changed(); DROP TABLE IF EXISTS data_change;"
               " DROP SEQUENCE IF EXISTS data_change_seq")
    op.drop_index('ix_login_throttle_last_seen', table_name='login_throttle')
    op.drop_table('login_throttle')
