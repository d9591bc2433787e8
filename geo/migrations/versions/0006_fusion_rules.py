"""fusion rules: which net must nest in which (多网融合), seeded for the standard layers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

Rules are configuration (see geo/models/fusion.py for why a table). Seeded:
comprehensive grids nest in party grids (双网合一), villages nest in emergency
grids (an emergency grid is made of whole villages), micro-grids nest in
comprehensive grids. Containment of every grid in its own parent (its village,
township or parent grid) is not a rule: the per-layer topology report checks
it for every layer (outside_parent).
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

LEVEL = postgresql.ENUM('county', 'township', 'village', name='division_level', create_type=False)

SEED = [
    # fine layer, fine level, coarse layer, coarse level, description
    ("comprehensive", None, "party", None,
     "双网合一: every comprehensive grid lies in one party grid (party grids are made of whole comprehensive grids)."),
    (None, "village", "emergency", None,
     "Emergency grids are made of whole villages: no emergency grid cuts a village in half."),
    ("micro", None, "comprehensive", None,
     "Every micro-grid (十联户) lies in one comprehensive grid."),
]


def upgrade() -> None:
    op.create_table('fusion_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fine_layer_id', sa.Integer(), nullable=True),
    sa.Column('fine_level', LEVEL, nullable=True),
    sa.Column('coarse_layer_id', sa.Integer(), nullable=True),
    sa.Column('coarse_level', LEVEL, nullable=True),
    sa.Column('min_share', sa.Float(), nullable=False, server_default='0.02'),
    sa.Column('max_share', sa.Float(), nullable=False, server_default='0.98'),
    sa.Column('enabled', sa.Boolean(), nullable=False, server_default='true'),
    sa.Column('description', sa.String(), nullable=False, server_default=''),
    sa.CheckConstraint('num_nonnulls(fine_layer_id, fine_level) = 1', name='fusion_rule_one_fine_side'),
    sa.CheckConstraint('num_nonnulls(coarse_layer_id, coarse_level) = 1', name='fusion_rule_one_coarse_side'),
    sa.CheckConstraint('0 <= min_share AND min_share < max_share AND max_share <= 1', name='fusion_rule_shares'),
    sa.ForeignKeyConstraint(['fine_layer_id'], ['grid_layer.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['coarse_layer_id'], ['grid_layer.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('fine_layer_id', 'fine_level', 'coarse_layer_id', 'coarse_level', name='fusion_rule_pair',
                        postgresql_nulls_not_distinct=True),
    )
    for fine, fine_level, coarse, coarse_level, description in SEED:
        op.execute(sa.text("""
            INSERT INTO fusion_rule (fine_layer_id, fine_level, coarse_layer_id, coarse_level, description)
            SELECT (SELECT id FROM grid_layer WHERE code = :fine), CAST(:fine_level AS division_level),
                   (SELECT id FROM grid_layer WHERE code = :coarse), CAST(:coarse_level AS division_level), :d
            WHERE (:fine IS NULL OR EXISTS (SELECT 1 FROM grid_layer WHERE code = :fine))
              AND (:coarse IS NULL OR EXISTS (SELECT 1 FROM grid_layer WHERE code = :coarse))
        """).bindparams(fine=fine, fine_level=fine_level, coarse=coarse, coarse_level=coarse_level, d=description))


def downgrade() -> None:
    op.drop_table('fusion_rule')
