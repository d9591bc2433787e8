"""import_job: an uploaded file's import, from upload through dry run to apply

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01

An API upload (``POST /imports``) is stored here and committed before the 202 answer, then planned
in the background; ``GET /imports/{id}`` reads its status, progress and dry-run report, and
``POST /imports/{id}/apply`` writes it (importers/jobs.py). The uploaded bytes are kept in
``import_job_file`` (so a job outlives the process that received it, and an apply after a crash
reads the same bytes) and deleted once the job is applied: the SHA-256 in the job and the audit log
still names the file, and a residents' file (personal data) is not kept longer than it is needed.

The status moves queued → reading → planning → planned (or failed) → applying → applied. ``applying``
is committed before the apply's own transaction starts, so a process that dies mid-apply leaves the
job at ``applying`` with nothing of the import visible (PostgreSQL rolls the transaction back), and
applying again completes it; two applies at once are kept apart by a row lock on the job.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

KINDS = ("divisions", "grids", "households", "cameras", "staff", "residents")
STATUSES = ("queued", "reading", "planning", "planned", "failed", "applying", "applied")


def upgrade() -> None:
    op.create_table(
        'import_job',
        sa.Column('id', sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('app_user.id', ondelete='SET NULL'), nullable=True),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('status', sa.Text(), nullable=False, server_default='queued'),
        sa.Column('step', sa.Text(), nullable=False, server_default='stored'),
        sa.Column('progress', sa.Float(), nullable=False, server_default='0'),
        sa.Column('options', postgresql.JSONB(astext_type=sa.Text()), nullable=False,
                  server_default=sa.text("'{}'::jsonb")),
        sa.Column('purpose', sa.String(length=200), nullable=True),
        sa.Column('file_name', sa.Text(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size_bytes', sa.BigInteger(), nullable=False),
        sa.Column('report', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"kind IN {KINDS!r}", name='import_job_kind'),
        sa.CheckConstraint(f"status IN {STATUSES!r}", name='import_job_status'),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name='import_job_progress'),
    )
    op.create_index('ix_import_job_user', 'import_job', ['user_id', 'id'])
    op.create_table(
        'import_job_file',
        sa.Column('job_id', sa.BigInteger(), sa.ForeignKey('import_job.id', ondelete='CASCADE'), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('job_id', 'position'),
    )
    # New tables are covered by the default privileges of 0002; said explicitly for databases migrated
    # by a different owner (as 0005).
    op.execute("""
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridmap_app') THEN
            EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON import_job, import_job_file TO gridmap_app';
            EXECUTE 'GRANT USAGE, SELECT ON SEQUENCE import_job_id_seq TO gridmap_app';
        END IF;
    END $$;""")


def downgrade() -> None:
    op.drop_table('import_job_file')
    op.drop_index('ix_import_job_user', table_name='import_job')
    op.drop_table('import_job')
