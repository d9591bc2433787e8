"""login throttle: failed sign-ins per key, shared by every worker process

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-01

Replaces the per-account hard lock (app_user.failed_logins / locked_until, no
longer read) with growing delays per (account, address), per address and per
account, kept here so that they hold across ``--workers N`` (geo/login_throttle.py).
Keys are SHA-256 digests: a username typed into the wrong field (often a
password) is never stored in clear.
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0006'
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


def downgrade() -> None:
    op.drop_index('ix_login_throttle_last_seen', table_name='login_throttle')
    op.drop_table('login_throttle')
