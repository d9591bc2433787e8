"""Open311 fields: the reporter's email, device and account ids; service attributes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

GeoReport v2 clients send ``email``, ``device_id`` and ``account_id`` with a
request; they identify a person, so they join the name and phone in
``event_contact`` (row-level security, masked unless ``pii:read``). A service
may define attributes (the spec's service definition: code, datatype,
required, values); ``event_category.attributes`` holds that definition and
``event.attributes`` the validated answers of one report. Two services get
optional attributes here, as an example a county edits.
"""
import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

ATTRIBUTES = {
    'public_facilities.street_light': [
        {"code": "pole_number", "datatype": "string", "required": False, "order": 1,
         "datatype_description": "灯杆上的编号 the number painted on the pole",
         "description": "灯杆编号 pole number"},
    ],
    'environment.garbage': [
        {"code": "volume", "datatype": "singlevaluelist", "required": False, "order": 1,
         "datatype_description": None, "description": "垃圾有多少 how much garbage",
         "values": [{"key": "bag", "name": "一袋以内 a bag or less"}, {"key": "cart", "name": "一车 a cartload"},
                    {"key": "heap", "name": "成堆 a heap"}]},
        {"code": "smell", "datatype": "multivaluelist", "required": False, "order": 2,
         "datatype_description": None, "description": "伴随问题 along with it",
         "values": [{"key": "odour", "name": "异味 odour"}, {"key": "flies", "name": "蚊蝇 flies"},
                    {"key": "leak", "name": "渗漏 leaking"}]},
    ],
}


def upgrade() -> None:
    for column in ('email', 'device_id', 'account_id'):
        op.add_column('event_contact', sa.Column(column, sa.String(), server_default='', nullable=False))
    op.add_column('event_category', sa.Column('attributes', postgresql.JSONB(), server_default='[]',
                                              nullable=False))
    op.add_column('event', sa.Column('attributes', postgresql.JSONB(), nullable=True))
    for code, attributes in ATTRIBUTES.items():
        op.execute(sa.text("UPDATE event_category SET attributes = CAST(:a AS jsonb) WHERE code = :c")
                   .bindparams(a=json.dumps(attributes, ensure_ascii=False), c=code))


def downgrade() -> None:
    op.drop_column('event', 'attributes')
    op.drop_column('event_category', 'attributes')
    for column in ('account_id', 'device_id', 'email'):
        op.drop_column('event_contact', column)
