"""visits and patrols: household visits 入户走访, patrol tracks 巡查 and check-ins 打卡 (placeholder: the visits helper fills it in)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
