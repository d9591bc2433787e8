"""break-glass: time-limited unmasking on an active incident, and dispatch of a responder to an event (placeholder: the command helper fills it in)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02
"""

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
