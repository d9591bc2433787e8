"""photo: citizens' and workers' photos of a report, stored without their metadata

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02

A citizen's report page uploads photos before the report exists (``POST /photos`` answers an id; the
report then names the ids in ``photo_ids``), so ``event_id`` is null until the photo is attached, and
a photo nobody attached within a day is purged (geo/media/photos.py). ``stage`` says which part of the
loop it belongs to: ``report`` (the reporter's), ``before`` and ``after`` (the handler's, on start and
feedback: 自办自结 needs an ``after`` photo).

What is stored is the re-encoded image (geo/media/images.py): no EXIF, XMP, ICC profile, comment or
GPS; the orientation applied. ``content_type``, ``width``, ``height``, ``bytes`` and ``sha256`` describe
those bytes, never what the uploader claimed. The EXIF location is returned to the uploader once and
never stored.

``storage`` says where the bytes are: ``db`` in ``data`` (bytea, the default: one backup, one
transaction, row-level rollback for free), or ``dir`` in the directory set by GRIDMAP_PHOTOS_DIR, in
a file named by the id (never by anything the uploader sent). A CHECK keeps the two consistent.

``uploader_user_id`` is the signed-in account that uploaded it (null: a citizen without an account);
``staff_id`` the staff member recorded by ``attach(..., by_staff_id=)``. Both say "staff" in
``taken_by``; neither is shown to citizens. Photos are not under row-level security: they carry no
register data, and every read goes through the event's territorial scope (geo/access/scope.py) or the
report's tracking token.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'photo',
        sa.Column('id', postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column('event_id', sa.Integer(), sa.ForeignKey('event.id', ondelete='CASCADE'), nullable=True),
        sa.Column('stage', sa.String(length=8), nullable=True),
        sa.Column('content_type', sa.String(length=32), nullable=False),
        sa.Column('bytes', sa.Integer(), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('attached_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('uploader_user_id', sa.Integer(), sa.ForeignKey('app_user.id', ondelete='SET NULL'),
                  nullable=True),
        sa.Column('staff_id', sa.Integer(), sa.ForeignKey('staff.id', ondelete='SET NULL'), nullable=True),
        sa.Column('taken_by', sa.String(length=8), nullable=False),
        sa.Column('storage', sa.String(length=4), nullable=False, server_default='db'),
        sa.Column('data', sa.LargeBinary(), nullable=True),
        sa.CheckConstraint("stage IN ('report', 'before', 'after')", name='photo_stage_known'),
        sa.CheckConstraint("(event_id IS NULL) = (stage IS NULL)", name='photo_stage_when_attached'),
        sa.CheckConstraint("taken_by IN ('citizen', 'staff')", name='photo_taken_by_known'),
        sa.CheckConstraint("content_type IN ('image/jpeg', 'image/png', 'image/webp')", name='photo_type_known'),
        sa.CheckConstraint("bytes > 0 AND width > 0 AND height > 0", name='photo_sizes_positive'),
        sa.CheckConstraint("(storage = 'db') = (data IS NOT NULL) AND storage IN ('db', 'dir')",
                           name='photo_storage_consistent'),
    )
    op.create_index('ix_photo_event', 'photo', ['event_id', 'stage'])
    # The purge looks for unattached photos by age.
    op.create_index('ix_photo_unattached', 'photo', ['created_at'], postgresql_where=sa.text('event_id IS NULL'))
    # Covered by the default privileges of 0002; said explicitly for databases migrated by another owner.
    op.execute("""
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridmap_app') THEN
            EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON photo TO gridmap_app';
        END IF;
    END $$;""")


def downgrade() -> None:
    op.drop_table('photo')
