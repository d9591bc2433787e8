"""live: NOTIFY on new and changed events and responder positions, for the live stream (placeholder: the live helper fills it in)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02
"""

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
