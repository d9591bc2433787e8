"""break-glass: time-limited unmasking on an active incident, and dispatch of a responder to an event

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02

Why these two together: both are the emergency officer's command map (issue 15, docs/command.md).

``staff.busy_event_id`` says which event a responder was dispatched to (``POST /events/{id}/dispatch``).
Availability alone said "busy" but not for what, so the command map could not show whom an incident
already has, and a responder who went busy by themselves looked the same as one sent. It is cleared
(SET NULL) when the event goes, and by the dispatch code when the responder is available again.

``break_glass_grant`` is an officer's stated reason to see unmasked contacts around one open
incident (破窗). An emergency officer has no ``pii:read``: normally every phone is masked. A grant
names the officer (``user_id``), the event and the reason, and ends at ``expires_at`` (a setting,
default 2 h) or earlier when closed (``closed_at``). Nothing is ever deleted by the application:
the rows are the record of who could see what, and when; every read under a grant is audited as
``pii.break_glass`` with the grant's id. The partial index finds a user's open grants. Both foreign
keys cascade, so reloading a demo county (which deletes its events and accounts) is not blocked.
"""
import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('staff', sa.Column('busy_event_id', sa.Integer(),
                                     sa.ForeignKey('event.id', ondelete='SET NULL'), nullable=True))
    op.create_index('ix_staff_busy_event', 'staff', ['busy_event_id'],
                    postgresql_where=sa.text('busy_event_id IS NOT NULL'))
    op.create_table(
        'break_glass_grant',
        sa.Column('id', sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('app_user.id', ondelete='CASCADE'), nullable=False),
        sa.Column('event_id', sa.Integer(), sa.ForeignKey('event.id', ondelete='CASCADE'), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("length(btrim(reason)) >= 4", name='break_glass_grant_reason_given'),
        sa.CheckConstraint("expires_at > opened_at", name='break_glass_grant_expires_after_open'),
    )
    op.create_index('ix_break_glass_grant_open', 'break_glass_grant', ['user_id', 'expires_at'],
                    postgresql_where=sa.text('closed_at IS NULL'))
    # Covered by the default privileges of 0002; said explicitly for databases migrated by another owner.
    op.execute("""
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridmap_app') THEN
            EXECUTE 'GRANT SELECT, INSERT, UPDATE ON break_glass_grant TO gridmap_app';
            EXECUTE 'GRANT USAGE, SELECT ON SEQUENCE break_glass_grant_id_seq TO gridmap_app';
        END IF;
    END $$;""")


def downgrade() -> None:
    op.drop_table('break_glass_grant')
    op.drop_index('ix_staff_busy_event', table_name='staff')
    op.drop_column('staff', 'busy_event_id')
