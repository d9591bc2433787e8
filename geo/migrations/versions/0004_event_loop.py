"""event loop: category tree, departments, routing, transitions, idempotency, address matching

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

The category tree and the departments are seeded here (a county edits them
afterwards); events already stored with a category the tree does not know are
kept, under "other". Household addresses get a normalised key with a suffix
index (a reporter rarely types the county and township) and a trigram index
for misspellings (pg_trgm, a trusted extension the database owner may create).
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

STATUS = postgresql.ENUM(name='event_status', create_type=False)

DEPARTMENTS = [  # code, name, escalation deadline (hours)
    ('urban_management', '区城市管理局', 72), ('transport', '区交通运输局', 120), ('water', '区水务局', 48),
    ('ecology_environment', '生态环境分局', 72), ('fire_rescue', '区消防救援大队', 24),
    ('natural_resources', '自然资源分局', 48), ('housing', '区住房和城乡建设局', 72),
    ('civil_affairs', '区民政局', 120), ('public_security', '公安分局', 24),
    ('emergency_management', '区应急管理局', 24),
]

# code, parent, name, English, triage, handler, department, deadline hours
CATEGORIES = [
    ('public_facilities', None, '公共设施', 'public facilities', 'government', 'department', 'urban_management', 72),
    ('public_facilities.street_light', 'public_facilities', '路灯损坏', 'broken street light', 'government',
     'department', 'urban_management', 72),
    ('public_facilities.road_damage', 'public_facilities', '道路破损', 'damaged road', 'government', 'department',
     'transport', 168),
    ('public_facilities.water_outage', 'public_facilities', '停水', 'water outage', 'government', 'department',
     'water', 48),
    ('environment', None, '环境卫生', 'environment', 'village', 'village', None, 48),
    ('environment.garbage', 'environment', '垃圾堆放', 'dumped garbage', 'village', 'village', None, 48),
    ('environment.sewage', 'environment', '污水排放', 'sewage discharge', 'government', 'department',
     'ecology_environment', 120),
    ('safety', None, '安全隐患', 'safety hazard', 'government', 'department', 'emergency_management', 24),
    ('safety.fire_hazard', 'safety', '消防隐患', 'fire hazard', 'government', 'department', 'fire_rescue', 24),
    ('safety.geological_hazard', 'safety', '地质灾害隐患', 'geological hazard', 'government', 'department',
     'natural_resources', 24),
    ('safety.building', 'safety', '危房', 'unsafe building', 'government', 'department', 'housing', 72),
    ('dispute', None, '矛盾纠纷', 'dispute', 'civil', 'grid', None, 168),
    ('dispute.neighbour', 'dispute', '邻里纠纷', 'neighbour dispute', 'civil', 'grid', None, 168),
    ('dispute.land', 'dispute', '土地纠纷', 'land dispute', 'village', 'village', None, 360),
    ('livelihood', None, '民生服务', 'livelihood', 'civil', 'grid', None, 120),
    ('livelihood.social_assistance', 'livelihood', '社会救助', 'social assistance', 'government', 'department',
     'civil_affairs', 240),
    ('livelihood.elderly_care', 'livelihood', '独居老人关爱', 'care for elderly living alone', 'civil', 'grid',
     None, 120),
    ('public_order', None, '社会治安', 'public order', 'government', 'department', 'public_security', 72),
    ('public_order.noise', 'public_order', '噪声扰民', 'noise nuisance', 'civil', 'grid', None, 72),
    ('other', None, '其他', 'other', 'civil', 'grid', None, 168),
]


def upgrade() -> None:
    for value in ('duplicate', 'reopened'):
        op.execute(f"ALTER TYPE event_status ADD VALUE IF NOT EXISTS '{value}'")
    op.create_table(
        'department',
        sa.Column('code', sa.String(32), primary_key=True),
        sa.Column('name', sa.String(), nullable=False),
        sa.Column('escalation_hours', sa.Integer(), nullable=False),
    )
    op.create_table(
        'event_category',
        sa.Column('code', sa.String(64), primary_key=True),
        sa.Column('parent_code', sa.String(64), sa.ForeignKey('event_category.code'), index=True),
        sa.Column('name', sa.String(), nullable=False),
        sa.Column('name_en', sa.String(), nullable=False),
        sa.Column('triage', sa.Enum('civil', 'village', 'government', name='event_triage'), nullable=False),
        sa.Column('handler', sa.Enum('grid', 'village', 'department', name='event_handler'), nullable=False),
        sa.Column('department_code', sa.String(32), sa.ForeignKey('department.code')),
        sa.Column('deadline_hours', sa.Integer(), nullable=False),
        sa.Column('duplicate_radius_m', sa.Float(), nullable=False, server_default='250'),
        sa.Column('duplicate_window_hours', sa.Integer(), nullable=False, server_default='72'),
        sa.CheckConstraint("handler <> 'department' OR department_code IS NOT NULL",
                           name='event_category_department_named'),
        sa.CheckConstraint('deadline_hours > 0', name='event_category_deadline_positive'),
        sa.CheckConstraint('duplicate_radius_m > 0', name='event_category_radius_positive'),
    )
    op.bulk_insert(sa.table('department', sa.column('code'), sa.column('name'), sa.column('escalation_hours')),
                   [dict(code=c, name=n, escalation_hours=h) for c, n, h in DEPARTMENTS])
    cols = ('code', 'parent_code', 'name', 'name_en', 'triage', 'handler', 'department_code', 'deadline_hours')
    op.bulk_insert(sa.table('event_category', *(sa.column(c) for c in cols)),
                   [dict(zip(cols, row, strict=True)) for row in CATEGORIES])
    op.execute("""
        INSERT INTO event_category (code, parent_code, name, name_en, triage, handler, deadline_hours)
        SELECT DISTINCT e.category, 'other', e.category, e.category, 'civil'::event_triage, 'grid'::event_handler, 168
        FROM event e
        WHERE NOT EXISTS (SELECT 1 FROM event_category c WHERE c.code = e.category)""")

    op.create_table(
        'event_transition',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('event_id', sa.Integer(), sa.ForeignKey('event.id', ondelete='CASCADE'), nullable=False,
                  index=True),
        sa.Column('action', sa.String(24), nullable=False),
        sa.Column('from_status', STATUS),
        sa.Column('to_status', STATUS, nullable=False),
        sa.Column('actor', sa.String(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('note', sa.String(), nullable=False, server_default=''),
        sa.Column('detail', postgresql.JSONB()),
    )
    op.create_table(
        'idempotency_key',
        sa.Column('key', sa.String(300), primary_key=True),
        sa.Column('request_hash', sa.String(64), nullable=False),
        sa.Column('event_id', sa.Integer(), sa.ForeignKey('event.id', ondelete='CASCADE'), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=False),
        sa.Column('response', postgresql.JSONB(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    )

    assignee = sa.Enum('staff', 'division', 'department', name='event_assignee_kind')
    assignee.create(op.get_bind())
    for name, type_ in [('handled_at', sa.DateTime(timezone=True)), ('updated_at', sa.DateTime(timezone=True)),
                        ('address', sa.String()), ('household_id', sa.Integer()),
                        ('assignee_kind', postgresql.ENUM(name='event_assignee_kind', create_type=False)),
                        ('assignee_staff_id', sa.Integer()), ('assignee_division_id', sa.Integer()),
                        ('assignee_department', sa.String(32)), ('escalated_to', sa.String(32)),
                        ('duplicate_of', sa.Integer()), ('public_token', sa.String(36))]:
        op.add_column('event', sa.Column(name, type_, nullable=True))
    op.create_index('ix_event_assignee_staff_id', 'event', ['assignee_staff_id'])
    op.create_index('ix_event_duplicate_of', 'event', ['duplicate_of'])
    op.create_unique_constraint('event_public_token_key', 'event', ['public_token'])
    for name, col, target, ondelete in [
        ('event_household_id_fkey', 'household_id', ('household', 'id'), 'SET NULL'),
        ('event_assignee_division_id_fkey', 'assignee_division_id', ('division', 'id'), None),
        ('event_assignee_department_fkey', 'assignee_department', ('department', 'code'), None),
        ('event_assignee_staff_id_fkey', 'assignee_staff_id', ('staff', 'id'), 'SET NULL'),
        ('event_escalated_to_fkey', 'escalated_to', ('department', 'code'), None),
        ('event_duplicate_of_fkey', 'duplicate_of', ('event', 'id'), None),
        ('event_category_fkey', 'category', ('event_category', 'code'), None),
    ]:
        op.create_foreign_key(name, 'event', target[0], [col], [target[1]], ondelete=ondelete)
    op.execute("UPDATE event SET handled_at = closed_at WHERE closed_at IS NOT NULL")
    # A reporter may write the contact of the report being created, whatever their territory (none, if anonymous).
    op.execute("""CREATE POLICY event_contact_intake ON event_contact FOR INSERT
                  WITH CHECK (event_id::text = current_setting('gridmap.intake_event', true))""")

    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(r"""
        CREATE FUNCTION gridmap_address_key(address text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        RETURN regexp_replace(lower(normalize(address, NFKC)), '[[:space:][:punct:]，。、：；（）【】《》“”‘’·—－]+', '',
                              'g')""")
    op.execute("CREATE INDEX household_address_key ON household (gridmap_address_key(address) text_pattern_ops)")
    op.execute("CREATE INDEX household_address_key_rev ON household "
               "(reverse(gridmap_address_key(address)) text_pattern_ops)")
    op.execute("CREATE INDEX household_address_trgm ON household USING gin (gridmap_address_key(address) gin_trgm_ops)")


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS event_contact_intake ON event_contact")
    op.execute("DROP INDEX IF EXISTS household_address_trgm; DROP INDEX IF EXISTS household_address_key_rev;"
               " DROP INDEX IF EXISTS household_address_key; DROP FUNCTION IF EXISTS gridmap_address_key(text)")
    for name in ('event_household_id_fkey', 'event_assignee_division_id_fkey', 'event_assignee_department_fkey',
                 'event_assignee_staff_id_fkey', 'event_escalated_to_fkey', 'event_duplicate_of_fkey',
                 'event_category_fkey'):
        op.drop_constraint(name, 'event', type_='foreignkey')
    op.drop_constraint('event_public_token_key', 'event', type_='unique')
    op.drop_index('ix_event_duplicate_of', table_name='event')
    op.drop_index('ix_event_assignee_staff_id', table_name='event')
    for name in ('public_token', 'duplicate_of', 'escalated_to', 'assignee_department', 'assignee_division_id',
                 'assignee_staff_id', 'assignee_kind', 'household_id', 'address', 'updated_at', 'handled_at'):
        op.drop_column('event', name)
    op.execute("DROP TYPE event_assignee_kind")
    op.drop_table('idempotency_key')
    op.drop_table('event_transition')
    op.drop_table('event_category')
    op.drop_table('department')
    op.execute("DROP TYPE event_triage; DROP TYPE event_handler")
    # PostgreSQL cannot drop enum values: 'duplicate' and 'reopened' stay in event_status.
